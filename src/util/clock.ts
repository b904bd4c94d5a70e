/** Time as storage and the broker see it. Injected so that tests can simulate clock jumps. */
export interface Clock {
  /** Wall-clock time in milliseconds since the epoch (record timestamps, retention.ms). */
  nowMs(): number;
  /** Monotonic milliseconds, for durations and timeouts; never goes backwards. */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
};

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  private wallMs: number;
  private monoMs = 0;
  constructor(startMs = 1_700_000_000_000) {
    this.wallMs = startMs;
  }
  nowMs(): number {
    return this.wallMs;
  }
  monotonicMs(): number {
    return this.monoMs;
  }
  /** Advance both clocks. */
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += Math.max(0, ms);
  }
  /** Jump the wall clock only (NTP step), forwards or backwards. */
  jumpWall(ms: number): void {
    this.wallMs += ms;
  }
}
