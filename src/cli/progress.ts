// A progress line on stderr while a long command runs — only when stderr is a terminal (and the
// command's own output does not go to the same terminal), so pipes and logs stay clean.
const BAR_WIDTH = 24;
const REDRAW_MS = 100;

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly label: string;
  private readonly total: number | null;
  private readonly started = performance.now();
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;
  readonly enabled: boolean;

  /** `total` null: a count without a bar. `disabled` true turns it off (e.g. output goes to the same terminal). */
  constructor(label: string, total: number | null, options: { stream?: NodeJS.WriteStream; disabled?: boolean } = {}) {
    this.stream = options.stream ?? process.stderr;
    this.label = label;
    this.total = total;
    this.enabled = this.stream.isTTY === true && options.disabled !== true;
  }

  update(done: number, unit = ''): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    let line = `${this.label} `;
    if (this.total !== null && this.total > 0) {
      const fraction = Math.min(1, done / this.total);
      const filled = Math.round(fraction * BAR_WIDTH);
      line += `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}% `;
    }
    line += `${done}${unit}${this.total !== null ? `/${this.total}${unit}` : ''} ${rate}${unit}/s`;
    const width = this.stream.columns ?? 80;
    this.stream.write(`\r${line.slice(0, width - 1)}\x1b[K`);
    this.drawn = true;
  }

  /** Clears the line. */
  done(): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
