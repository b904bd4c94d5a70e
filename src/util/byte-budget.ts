// A number of bytes of memory shared by many users: each takes what it is about to allocate and
// gives it back when the memory is no longer referenced. Requests that do not fit wait, served in
// arrival order, for at most a given time. A request of the whole capacity or more fits only when
// nothing else is taken, so one request alone always proceeds (it may take more than the capacity).
import { assertSafeInteger } from './assert.ts';

interface Waiter {
  bytes: number;
  granted: () => void;
}

export class ByteBudget {
  readonly capacity: number;
  private usedBytes = 0;
  private readonly waiters: Waiter[] = [];

  constructor(capacity: number) {
    assertSafeInteger(capacity, 'byte budget capacity');
    if (capacity < 1) throw new RangeError(`byte budget capacity must be at least 1, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Bytes taken now (may exceed the capacity by what `force` and oversized requests took). */
  get used(): number {
    return this.usedBytes;
  }

  /** Requests waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  private fits(bytes: number): boolean {
    return this.usedBytes + Math.min(bytes, this.capacity) <= this.capacity;
  }

  /** Takes `bytes` if they fit now and no earlier request waits; otherwise takes nothing. */
  tryTake(bytes: number): boolean {
    if (this.waiters.length > 0 || !this.fits(bytes)) return false;
    this.usedBytes += bytes;
    return true;
  }

  /**
   * Takes `bytes` as soon as they fit, after every earlier waiting request; resolves true once
   * taken, or false (nothing taken) when that has not happened within `waitMs`.
   */
  take(bytes: number, waitMs: number): Promise<boolean> {
    if (this.tryTake(bytes)) return Promise.resolve(true);
    if (waitMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        withdraw();
        resolve(false);
      }, waitMs);
      timer.unref();
      const withdraw = this.takeWhenFree(bytes, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Takes `bytes` as soon as they fit, after every earlier waiting request, and then calls
   * `granted` (synchronously, from the release that made room); no time limit. Returns a function
   * that withdraws the request if it has not been granted yet (it does nothing afterwards).
   */
  takeWhenFree(bytes: number, granted: () => void): () => void {
    const waiter: Waiter = { bytes, granted };
    this.waiters.push(waiter);
    this.grant();
    return () => {
      const i = this.waiters.indexOf(waiter);
      if (i < 0) return;
      this.waiters.splice(i, 1);
      this.grant(); // a large request leaving the head may let smaller ones behind it in
    };
  }

  /** Takes `bytes` whether or not they fit: for memory already allocated (a read longer than asked). */
  force(bytes: number): void {
    this.usedBytes += bytes;
  }

  /** Gives back `bytes` taken earlier, and lets waiting requests in. */
  release(bytes: number): void {
    this.usedBytes -= bytes;
    if (this.usedBytes < 0) throw new RangeError(`byte budget released ${-this.usedBytes} bytes more than were taken`);
    this.grant();
  }

  private grant(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0].bytes)) {
      const w = this.waiters.shift() as Waiter;
      this.usedBytes += w.bytes;
      w.granted();
    }
  }
}
