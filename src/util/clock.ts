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

// Reading the clock costs ~40 ns on this machine (performance.now and Date.now alike, Node 24, a
// one-off microbenchmark; the bench's W2 producer CPU per message is the in-repo measurement),
// and a producer that stamps every record with a time and a deadline reads it twice per message.
// Within one synchronous run of code time barely moves, so these readings are shared: a value is
// kept until the microtask queue next runs (a queued microtask clears it) and for at most
// SHARED_READS uses, so a long synchronous loop still sees time advance every few microseconds.
const SHARED_READS = 32;

function sharedReading(read: () => number): () => number {
  let value = -1;
  let uses = 0;
  let clearing = false;
  const clear = (): void => {
    value = -1;
    clearing = false;
  };
  return () => {
    if (value < 0 || ++uses >= SHARED_READS) {
      value = read();
      uses = 0;
      if (!clearing) {
        clearing = true;
        queueMicrotask(clear);
      }
    }
    return value;
  };
}

/** performance.now(), read at most once per SHARED_READS calls within one synchronous run. */
export const sharedMonotonicMs: () => number = sharedReading(() => performance.now());

/** Date.now(), read at most once per SHARED_READS calls within one synchronous run. */
export const sharedWallMs: () => number = sharedReading(() => Date.now());
