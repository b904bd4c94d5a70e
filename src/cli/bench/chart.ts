// Hand-written SVG charts of one bench run: throughput over time (produced and consumed messages
// per second, warm-up shaded), the broker's RSS over time, and the end-to-end latency histogram on
// a logarithmic time axis with p50/p99/p99.9/max marked.
import { BUCKETS, LatencyHistogram } from './histogram.ts';

export interface ChartInput {
  title: string;
  /** Up to two lines under the title. */
  subtitle: string[];
  /** Seconds from the start of production. */
  warmupSeconds: number;
  durationSeconds: number;
  /** Per second since the start: acknowledged and consumed (all consumers) messages. */
  produced: number[];
  consumed: number[];
  consumedLabel: string;
  /** [seconds since start, MB] samples; empty when unknown. */
  brokerRss: Array<[number, number]>;
  latency: LatencyHistogram;
}

const W = 960;
const PAD_L = 78;
const PAD_R = 24;
const PLOT_W = W - PAD_L - PAD_R;
const COLORS = { produced: '#1f77b4', consumed: '#ff7f0e', rss: '#2ca02c', bars: '#6a51a3', grid: '#e3e3e3', axis: '#444', warmup: '#f2f2f2', marker: '#d62728' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function f(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

/** A round step giving about `count` ticks up to `max`. */
function niceStep(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
}

function compact(n: number): string {
  if (n === 0) return '0';
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(2)}`;
}

function msLabel(ms: number): string {
  if (ms >= 1000) return `${+(ms / 1000).toFixed(3)} s`;
  if (ms >= 1) return `${+ms.toFixed(3)} ms`;
  return `${+(ms * 1000).toFixed(1)} µs`;
}

interface Frame {
  top: number;
  height: number;
}

/** Axes, grid and labels of a time panel; returns the x and y mappings. */
function timePanel(out: string[], frame: Frame, title: string, xMax: number, yMax: number, yFormat: (n: number) => string, warmup: number, produceEnd: number): { x: (s: number) => number; y: (v: number) => number } {
  const { top, height } = frame;
  const yStep = niceStep(yMax, 5);
  const yTop = Math.max(yStep, Math.ceil(yMax / yStep) * yStep);
  const x = (s: number): number => PAD_L + (s / xMax) * PLOT_W;
  const y = (v: number): number => top + height - (v / yTop) * height;
  out.push(`<text x="${PAD_L}" y="${top - 8}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${f(x(0))}" y="${top}" width="${f(x(Math.min(warmup, xMax)) - x(0))}" height="${height}" fill="${COLORS.warmup}"/>`);
  if (warmup > 0) out.push(`<text x="${f(x(0) + 4)}" y="${top + 14}" font-size="11" fill="#888">warm-up</text>`);
  for (let v = 0; v <= yTop + yStep / 2; v += yStep) {
    out.push(`<line x1="${PAD_L}" x2="${PAD_L + PLOT_W}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="${COLORS.grid}"/>`);
    out.push(`<text x="${PAD_L - 6}" y="${f(y(v) + 4)}" font-size="11" text-anchor="end">${esc(yFormat(v))}</text>`);
  }
  const xStep = niceStep(xMax, 10);
  for (let s = 0; s <= xMax + 1e-9; s += xStep) {
    out.push(`<line x1="${f(x(s))}" x2="${f(x(s))}" y1="${top + height}" y2="${top + height + 4}" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${f(x(s))}" y="${top + height + 17}" font-size="11" text-anchor="middle">${f(s)}</text>`);
  }
  if (produceEnd < xMax) {
    out.push(`<line x1="${f(x(produceEnd))}" x2="${f(x(produceEnd))}" y1="${top}" y2="${top + height}" stroke="#999" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${f(x(produceEnd) - 4)}" y="${top + 14}" font-size="11" fill="#888" text-anchor="end">producer stops</text>`);
  }
  out.push(`<rect x="${PAD_L}" y="${top}" width="${PLOT_W}" height="${height}" fill="none" stroke="${COLORS.axis}"/>`);
  out.push(`<text x="${PAD_L + PLOT_W / 2}" y="${top + height + 32}" font-size="11" text-anchor="middle">seconds since the producer started</text>`);
  return { x, y };
}

function polyline(points: Array<[number, number]>, color: string, width = 1.8): string {
  if (points.length === 0) return '';
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round" points="${points.map(([a, b]) => `${f(a)},${f(b)}`).join(' ')}"/>`;
}

/** A one-row legend, right-aligned at xRight on baseline y (~6.5 px per character). */
function legend(out: string[], xRight: number, y: number, items: Array<[string, string]>): void {
  let x = xRight;
  for (const [label, color] of [...items].reverse()) {
    x -= label.length * 6.5 + 34;
    out.push(`<line x1="${f(x)}" x2="${f(x + 20)}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${f(x + 25)}" y="${y}" font-size="11">${esc(label)}</text>`);
  }
}

function latencyPanel(out: string[], lp: Frame, h: LatencyHistogram): void {
  out.push(`<text x="${PAD_L}" y="${lp.top - 8}" font-size="14" font-weight="bold">End-to-end latency (log scale)</text>`);
  if (h.count === 0) {
    out.push(`<rect x="${PAD_L}" y="${lp.top}" width="${PLOT_W}" height="${lp.height}" fill="none" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${PAD_L + PLOT_W / 2}" y="${lp.top + lp.height / 2}" font-size="13" text-anchor="middle">no latency samples</text>`);
    return;
  }
  // Display bins: 20 per decade of milliseconds, from the decade of the minimum to that of the maximum.
  const minMs = h.minUs / 1000;
  const maxMs = h.maxUs / 1000;
  const lo = Math.floor(Math.log10(Math.max(minMs, 0.001)));
  let hi = Math.ceil(Math.log10(Math.max(maxMs, 0.001)));
  if (hi <= lo) hi = lo + 1;
  const perDecade = 20;
  const bins = new Float64Array((hi - lo) * perDecade);
  for (let i = 0; i < BUCKETS; i++) {
    const n = h.counts[i];
    if (n === 0) continue;
    const ms = LatencyHistogram.valueOf(i) / 1000;
    const b = Math.min(bins.length - 1, Math.max(0, Math.floor((Math.log10(ms) - lo) * perDecade)));
    bins[b] += n;
  }
  const fracs = Array.from(bins, (n) => (n / h.count) * 100);
  const peak = Math.max(...fracs);
  const yStep = niceStep(peak, 5);
  const yTop = Math.max(yStep, Math.ceil(peak / yStep) * yStep);
  const bottom = lp.top + lp.height;
  const x = (ms: number): number => PAD_L + ((Math.log10(ms) - lo) / (hi - lo)) * PLOT_W;
  const y = (pct: number): number => bottom - (pct / yTop) * lp.height;
  for (let v = 0; v <= yTop + yStep / 2; v += yStep) {
    out.push(`<line x1="${PAD_L}" x2="${PAD_L + PLOT_W}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="${COLORS.grid}"/>`);
    out.push(`<text x="${PAD_L - 6}" y="${f(y(v) + 4)}" font-size="11" text-anchor="end">${+v.toFixed(2)}%</text>`);
  }
  const barW = PLOT_W / bins.length;
  fracs.forEach((pct, b) => {
    if (pct === 0) return;
    // A bar of a tiny share still shows as a sliver.
    const yy = Math.min(y(pct), bottom - 1);
    out.push(`<rect x="${f(PAD_L + b * barW + 0.5)}" y="${f(yy)}" width="${f(Math.max(1, barW - 1))}" height="${f(bottom - yy)}" fill="${COLORS.bars}"/>`);
  });
  for (let d = lo; d <= hi; d++) {
    const ms = 10 ** d;
    out.push(`<line x1="${f(x(ms))}" x2="${f(x(ms))}" y1="${bottom}" y2="${bottom + 5}" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${f(x(ms))}" y="${bottom + 18}" font-size="11" text-anchor="middle">${esc(msLabel(ms))}</text>`);
    if (d < hi) {
      for (let k = 2; k <= 9; k++) out.push(`<line x1="${f(x(k * ms))}" x2="${f(x(k * ms))}" y1="${bottom}" y2="${bottom + 3}" stroke="${COLORS.axis}"/>`);
    }
  }
  const marks: Array<[string, number]> = [
    ['p50', h.quantileUs(0.5) / 1000],
    ['p99', h.quantileUs(0.99) / 1000],
    ['p99.9', h.quantileUs(0.999) / 1000],
    ['max', maxMs],
  ];
  // Dashed lines named at the top (staggered, as they may be close); the values above the panel.
  marks.forEach(([label, ms], i) => {
    const xx = x(Math.max(ms, 10 ** lo));
    out.push(`<line x1="${f(xx)}" x2="${f(xx)}" y1="${lp.top}" y2="${bottom}" stroke="${COLORS.marker}" stroke-dasharray="3 3"/>`);
    const end = xx > PAD_L + PLOT_W - 40;
    out.push(`<text x="${f(end ? xx - 3 : xx + 3)}" y="${lp.top + 12 + i * 13}" font-size="11" fill="${COLORS.marker}"${end ? ' text-anchor="end"' : ''}>${esc(label)}</text>`);
  });
  out.push(`<text x="${PAD_L + PLOT_W}" y="${lp.top - 8}" font-size="11" text-anchor="end">${esc(marks.map(([label, ms]) => `${label} ${msLabel(ms)}`).join('  ·  '))}</text>`);
  out.push(`<rect x="${PAD_L}" y="${lp.top}" width="${PLOT_W}" height="${lp.height}" fill="none" stroke="${COLORS.axis}"/>`);
  out.push(`<text x="${PAD_L + PLOT_W / 2}" y="${bottom + 34}" font-size="11" text-anchor="middle">latency from send to handled, of the ${compact(h.count)} messages sent after warm-up; bars: share per bin, 20 bins per decade</text>`);
}

export function renderChart(c: ChartInput): string {
  const out: string[] = [];
  let top = 110;
  // ---- throughput ----
  const seconds = Math.max(c.produced.length, c.consumed.length, Math.ceil(c.durationSeconds), 1);
  const peak = Math.max(1, ...c.produced, ...c.consumed);
  const tp: Frame = { top, height: 230 };
  const t = timePanel(out, tp, 'Throughput (messages per second)', seconds, peak, compact, c.warmupSeconds, c.durationSeconds);
  const series = (values: number[]): Array<[number, number]> => values.map((v, i) => [t.x(i + 0.5), t.y(v)]);
  // Consumed wide underneath, produced thin on top: where they coincide both stay visible.
  out.push(polyline(series(c.consumed), COLORS.consumed, 4));
  out.push(polyline(series(c.produced), COLORS.produced, 1.6));
  legend(out, PAD_L + PLOT_W, tp.top - 8, [
    ['produced (acknowledged)', COLORS.produced],
    [c.consumedLabel, COLORS.consumed],
  ]);
  top += tp.height + 80;

  // ---- broker RSS ----
  if (c.brokerRss.length > 0) {
    const rp: Frame = { top, height: 110 };
    const rssMax = Math.max(1, ...c.brokerRss.map(([, mb]) => mb));
    const r = timePanel(out, rp, 'Broker resident memory (MB)', seconds, rssMax, (v) => `${+v.toFixed(0)}`, c.warmupSeconds, c.durationSeconds);
    out.push(polyline(c.brokerRss.filter(([s]) => s <= seconds).map(([s, mb]) => [r.x(s), r.y(mb)]), COLORS.rss));
    top += rp.height + 80;
  }

  // ---- latency histogram ----
  const lp: Frame = { top, height: 230 };
  latencyPanel(out, lp, c.latency);
  top += lp.height + 50;

  const height = top;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${PAD_L}" y="28" font-size="18" font-weight="bold">${esc(c.title)}</text>`,
    ...c.subtitle.slice(0, 2).map((line, i) => `<text x="${PAD_L}" y="${50 + i * 17}" font-size="12" fill="#555">${esc(line)}</text>`),
    ...out.filter((s) => s.length > 0),
    `</svg>`,
    '',
  ].join('\n');
}
