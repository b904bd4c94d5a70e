// A log-linear latency histogram in fixed memory: buckets 1% wide (geometric) from 1 µs to 60 s,
// so any recorded value is reported within ±0.5% (values outside the range are clamped into the
// first or last bucket; min and max are kept exactly). ~1,800 counters, whatever the sample count.
// Histograms merge by adding counts, and travel between processes as sparse [index, count] pairs.

/** Bucket i holds values in [GROWTH^i, GROWTH^(i+1)) microseconds. */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const MIN_US = 1;
const MAX_US = 60_000_000;
export const BUCKETS = Math.ceil(Math.log(MAX_US / MIN_US) / LOG_GROWTH) + 1;

export interface HistogramSnapshot {
  /** Sparse [bucket index, count] pairs. */
  buckets: Array<[number, number]>;
  count: number;
  sumUs: number;
  minUs: number;
  maxUs: number;
}

export class LatencyHistogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;
  minUs = Infinity;
  maxUs = 0;

  static bucketOf(us: number): number {
    if (!(us > MIN_US)) return 0;
    const i = Math.floor(Math.log(us / MIN_US) / LOG_GROWTH);
    return i >= BUCKETS ? BUCKETS - 1 : i;
  }

  /** Lower bound of bucket i, in µs. */
  static lowerOf(i: number): number {
    return MIN_US * GROWTH ** i;
  }

  /** The value a bucket stands for: its geometric middle, in µs. */
  static valueOf(i: number): number {
    return MIN_US * GROWTH ** (i + 0.5);
  }

  /** The last value recorded and its bucket: a burst of acknowledgements often records one value many times. */
  private lastUs = Number.NaN;
  private lastBucket = 0;

  record(us: number): void {
    if (!Number.isFinite(us)) return;
    if (us < 0) us = 0; // clocks of two processes may disagree by a few µs
    if (us !== this.lastUs) {
      this.lastUs = us;
      this.lastBucket = LatencyHistogram.bucketOf(us);
    }
    this.counts[this.lastBucket]++;
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** The value at quantile q (0..1), in µs: the smallest bucket whose cumulative count reaches q·count. */
  quantileUs(q: number): number {
    if (this.count === 0) return NaN;
    if (q >= 1) return this.maxUs;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.maxUs, Math.max(this.minUs, LatencyHistogram.valueOf(i)));
    }
    return this.maxUs;
  }

  meanUs(): number {
    return this.count === 0 ? NaN : this.sumUs / this.count;
  }

  /** p50/p99/p99.9/max in ms (3 decimals); null when nothing was recorded. */
  percentilesMs(): { p50: number | null; p99: number | null; p999: number | null; max: number | null } {
    const ms = (us: number): number | null => (Number.isFinite(us) ? Math.round(us) / 1000 : null);
    return { p50: ms(this.quantileUs(0.5)), p99: ms(this.quantileUs(0.99)), p999: ms(this.quantileUs(0.999)), max: ms(this.count > 0 ? this.maxUs : NaN) };
  }

  merge(other: HistogramSnapshot | LatencyHistogram): void {
    if (other instanceof LatencyHistogram) {
      for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    } else {
      for (const [i, n] of other.buckets) this.counts[i] += n;
    }
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.count > 0) {
      this.minUs = Math.min(this.minUs, other.minUs);
      this.maxUs = Math.max(this.maxUs, other.maxUs);
    }
  }

  snapshot(): HistogramSnapshot {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]]);
    return { buckets, count: this.count, sumUs: this.sumUs, minUs: this.count === 0 ? 0 : this.minUs, maxUs: this.maxUs };
  }

  static from(s: HistogramSnapshot): LatencyHistogram {
    const h = new LatencyHistogram();
    h.merge(s);
    return h;
  }
}
