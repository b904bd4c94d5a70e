// Leader epoch cache: which leader epoch started at which offset. Appends that carry a higher
// epoch than the last one add an entry; recovery truncation removes entries past the new end.
// Persisted as `leader-epoch-checkpoint`, and rebuilt from batch headers when that file is missing.
import { assert, assertSafeInteger } from '../util/index.ts';
import type { EpochEntry } from './checkpoint.ts';

export class LeaderEpochCache {
  private entries: EpochEntry[];

  constructor(entries: readonly EpochEntry[] = []) {
    this.entries = entries.map((e) => ({ ...e }));
  }

  all(): EpochEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  get latestEpoch(): number {
    return this.entries.length === 0 ? -1 : this.entries[this.entries.length - 1].epoch;
  }

  /** Records that `epoch` starts at `startOffset`; returns true when the cache changed. */
  assign(epoch: number, startOffset: number): boolean {
    assertSafeInteger(startOffset, 'epoch start offset');
    if (epoch < 0 || epoch <= this.latestEpoch) return false;
    const last = this.entries.at(-1);
    assert(last === undefined || startOffset >= last.startOffset, `epoch ${epoch} starts at ${startOffset} before epoch ${last?.epoch} at ${last?.startOffset}`);
    this.entries.push({ epoch, startOffset });
    return true;
  }

  /** Drops entries that start at or after `endOffset` (the log was truncated there). */
  truncateFromEnd(endOffset: number): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.startOffset < endOffset);
    return this.entries.length !== before;
  }

  /** The epoch of the record at `offset`, or -1 when no entry covers it. */
  epochForOffset(offset: number): number {
    let epoch = -1;
    for (const e of this.entries) {
      if (e.startOffset > offset) break;
      epoch = e.epoch;
    }
    return epoch;
  }

  /**
   * OffsetForLeaderEpoch: the largest epoch <= `epoch` and the offset where the next epoch starts
   * (or `logEndOffset` when it is the latest). Returns epoch -1 when no such epoch exists.
   */
  endOffsetFor(epoch: number, logEndOffset: number): { epoch: number; endOffset: number } {
    let found = -1;
    for (let i = 0; i < this.entries.length; i++) if (this.entries[i].epoch <= epoch) found = i;
    if (found < 0) return { epoch: -1, endOffset: -1 };
    const next = this.entries[found + 1];
    return { epoch: this.entries[found].epoch, endOffset: next === undefined ? logEndOffset : next.startOffset };
  }
}
