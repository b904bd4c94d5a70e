// Durable group state: committed offsets and group metadata, kept as records in the internal
// topic __consumer_offsets (partition 0) — the same storage engine and flush guarantees as any
// topic — and replayed into memory at start. The log would grow with every commit, so once it
// holds far more records than live state, the live state is re-appended and the prefix before it
// is deleted (a simple compaction: the snapshot is durable before anything is dropped).
import { buildBatch, decodeBatches } from '../../record/index.ts';
import { type Logger, receiveSlabs } from '../../util/index.ts';
import type { PartitionLog } from '../../storage/index.ts';

export const OFFSETS_TOPIC = '__consumer_offsets';

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestampMs: number;
}

export interface StoredMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** base64 of the protocol metadata the member joined with (for the chosen protocol). */
  subscription: string;
  /** base64 of the assignment the leader gave it. */
  assignment: string;
}

export interface StoredGroup {
  protocolType: string | null;
  protocolName: string | null;
  generationId: number;
  leaderId: string | null;
  stateTimestampMs: number;
  members: StoredMember[];
}

type Entry = { kind: 'offset'; group: string; topic: string; partition: number; value: CommittedOffset | null } | { kind: 'group'; group: string; value: StoredGroup | null };

/** Records per batch when writing a snapshot of the live state. */
const SNAPSHOT_BATCH_RECORDS = 500;
/** Compact once the log holds this many times more records than live entries (and at least the floor). */
const COMPACT_FACTOR = 4;
const COMPACT_FLOOR_RECORDS = 10_000;

function keyOf(e: Entry): string {
  return e.kind === 'offset' ? JSON.stringify(['o', e.group, e.topic, e.partition]) : JSON.stringify(['g', e.group]);
}

function encode(e: Entry): { key: Buffer; value: Buffer | null } {
  return { key: Buffer.from(keyOf(e)), value: e.value === null ? null : Buffer.from(JSON.stringify(e.value)) };
}

function decode(key: Buffer, value: Buffer | null): Entry | null {
  const k = JSON.parse(key.toString('utf8')) as unknown[];
  const v = value === null ? null : JSON.parse(value.toString('utf8'));
  if (k[0] === 'o' && k.length === 4) return { kind: 'offset', group: String(k[1]), topic: String(k[2]), partition: Number(k[3]), value: v };
  if (k[0] === 'g' && k.length === 2) return { kind: 'group', group: String(k[1]), value: v };
  return null;
}

export class OffsetStore {
  private readonly log: PartitionLog;
  private readonly logger: Logger;
  /** Live entries by key, in the order they were last written. */
  private readonly live = new Map<string, Entry>();
  private compacting = false;

  private constructor(log: PartitionLog, logger: Logger) {
    this.log = log;
    this.logger = logger;
  }

  /** Replays the whole offsets log into memory. */
  static async load(log: PartitionLog, logger: Logger): Promise<{ store: OffsetStore; groups: Map<string, StoredGroup>; offsets: Map<string, Map<string, CommittedOffset>> }> {
    const store = new OffsetStore(log, logger);
    let offset = log.logStartOffset;
    let records = 0;
    while (offset < log.highWatermark) {
      const read = await log.read(offset, 4 * 1024 * 1024);
      if (read.bytes === 0) break;
      const next = offset;
      const bytes = Buffer.concat(read.chunks); // a copy: the chunks' pooled memory goes back now
      for (const c of read.chunks) receiveSlabs.release(c);
      for (const batch of decodeBatches(bytes)) {
        for (const r of batch.records) {
          if (r.offset < offset || r.key === null) continue;
          const e = decode(r.key, r.value);
          if (e === null) continue;
          records++;
          store.remember(e);
        }
        offset = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
      }
      if (offset === next) break;
    }
    const groups = new Map<string, StoredGroup>();
    const offsets = new Map<string, Map<string, CommittedOffset>>();
    for (const e of store.live.values()) {
      if (e.kind === 'group' && e.value !== null) groups.set(e.group, e.value);
      else if (e.kind === 'offset' && e.value !== null) {
        let m = offsets.get(e.group);
        if (m === undefined) offsets.set(e.group, (m = new Map()));
        m.set(`${e.topic}\u0000${e.partition}`, e.value);
      }
    }
    logger.info('group state loaded', { records, groups: groups.size, offsetGroups: offsets.size });
    return { store, groups, offsets };
  }

  /**
   * Makes `e` the live entry of its key, or drops the key for a tombstone. Replaced in place: a
   * delete and a set per commit rebuilt the map's table every few commits, garbage in old space.
   * The order of `live` does not matter (its keys are distinct).
   */
  private remember(e: Entry): void {
    if (e.value !== null) this.live.set(keyOf(e), e);
    else this.live.delete(keyOf(e));
  }

  /** Appends entries in one batch; resolves once durable. Throws if storage failed. */
  async write(entries: Entry[]): Promise<void> {
    if (entries.length === 0) return;
    for (const e of entries) this.remember(e);
    const appended = this.log.append(buildBatch({ records: entries.map(encode) }), { leaderEpoch: 0 });
    await appended.durable;
    this.maybeCompact();
  }

  commitOffsets(group: string, offsets: Array<{ topic: string; partition: number; value: CommittedOffset | null }>): Promise<void> {
    return this.write(offsets.map((o) => ({ kind: 'offset', group, topic: o.topic, partition: o.partition, value: o.value })));
  }

  storeGroup(group: string, value: StoredGroup | null): Promise<void> {
    return this.write([{ kind: 'group', group, value }]);
  }

  private maybeCompact(): void {
    const records = this.log.logEndOffset - this.log.logStartOffset;
    if (this.compacting || records < Math.max(COMPACT_FLOOR_RECORDS, this.live.size * COMPACT_FACTOR)) return;
    this.compacting = true;
    this.compact()
      .catch((err: unknown) => this.logger.error('offsets compaction failed', { err }))
      .finally(() => {
        this.compacting = false;
      });
  }

  /** Re-appends every live entry, waits until durable, then drops everything before it. */
  private async compact(): Promise<void> {
    const entries = [...this.live.values()];
    const start = this.log.logEndOffset;
    let last: Promise<void> = Promise.resolve();
    for (let i = 0; i < entries.length; i += SNAPSHOT_BATCH_RECORDS) {
      last = this.log.append(buildBatch({ records: entries.slice(i, i + SNAPSHOT_BATCH_RECORDS).map(encode) }), { leaderEpoch: 0 }).durable;
    }
    await last;
    await this.log.deleteRecordsBefore(start);
    this.logger.info('offsets log compacted', { liveEntries: entries.length, newStartOffset: start });
  }
}
