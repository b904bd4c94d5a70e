// Bit flips at rest for a verify run's `bit-flip` fault, shared by the brokers that can inject it
// (a `holdfast serve` process on the real disk, and the test suite's broker on the simulated file
// system): which stored batches a data directory holds, which byte of a batch to flip, and what a
// Fetch of the damaged batch gets back. With one replica a flipped bit in acknowledged data cannot
// be repaired, so what is checked is detection: the broker must refuse the batch
// (KAFKA_STORAGE_ERROR, the partition offline), never serve it.
import { ErrorCode, errorName, KafkaConnection } from '../../client/index.ts';
import type { Rng } from '../../util/index.ts';
import type { CorruptionProbe } from './checker.ts';

/** RecordBatch v2: baseOffset (8 bytes) and batchLength (4) come first; PartitionLeaderEpoch is bytes 12..15. */
const BATCH_LENGTH_AT = 8;
const LEADER_EPOCH_AT = 12;
const MIN_BATCH_BYTES = 61;

interface StoredBatch {
  path: string;
  topic: string;
  partition: number;
  /** Byte position of the batch in its segment file. */
  position: number;
  size: number;
  baseOffset: number;
}

/** `<dataDir>/<topic>-<partition>/<20 digits>.log` of a user topic (not `__consumer_offsets`), or null. */
function segmentOf(dataDir: string, path: string): { topic: string; partition: number } | null {
  const prefix = dataDir.endsWith('/') ? dataDir : `${dataDir}/`;
  if (!path.startsWith(prefix)) return null;
  const m = /^([^/]+)-(\d+)\/\d{20}\.log$/.exec(path.slice(prefix.length));
  if (m === null || m[1].startsWith('__')) return null;
  return { topic: m[1], partition: Number(m[2]) };
}

/** The whole batches at the start of a segment file's bytes (a partial last one is left out). */
function batchesIn(path: string, segment: { topic: string; partition: number }, data: Buffer): StoredBatch[] {
  const out: StoredBatch[] = [];
  for (let position = 0; position + BATCH_LENGTH_AT + 4 <= data.length; ) {
    const size = BATCH_LENGTH_AT + 4 + data.readInt32BE(position + BATCH_LENGTH_AT);
    if (size < MIN_BATCH_BYTES || position + size > data.length) break;
    out.push({ path, ...segment, position, size, baseOffset: Number(data.readBigInt64BE(position)) });
    position += size;
  }
  return out;
}

interface Flip {
  /** Byte position in the file. */
  at: number;
  /** Byte position in the batch. */
  within: number;
  /** The one bit set: the byte is XORed with it (and XORed again to undo). */
  mask: number;
}

/**
 * One bit of `batch` to flip: in any byte the batch CRC or the framing checks cover, which is all
 * but PartitionLeaderEpoch (Kafka's format leaves it out of the CRC); or, with `uncovered`, in
 * PartitionLeaderEpoch, where no check can see it (tests use that to show a miss is reported).
 */
function chooseFlip(rng: Rng, batch: StoredBatch, uncovered = false): Flip {
  let within: number;
  if (uncovered) within = LEADER_EPOCH_AT + rng.int(0, 3);
  else {
    within = rng.int(0, batch.size - 5);
    if (within >= LEADER_EPOCH_AT) within += 4;
  }
  return { at: batch.position + within, within, mask: 1 << rng.int(0, 7) };
}

function describeFlip(batch: StoredBatch, flip: Flip): string {
  return `bit ${Math.log2(flip.mask)} of byte ${flip.within} of the batch at offset ${batch.baseOffset} of ${batch.topic}-${batch.partition} (${batch.path})`;
}

/** Fetches (v11) the batch's first offset: refused when the broker answers KAFKA_STORAGE_ERROR. */
async function fetchBatch(target: { host: string; port: number }, batch: StoredBatch): Promise<{ refused: boolean; answer: string }> {
  const c = await KafkaConnection.open({ host: target.host, port: target.port, clientId: 'holdfast-verify-bit-flip' });
  try {
    const res = await c.request<{ responses: Array<{ partitions: Array<{ errorCode: number; records: Buffer | null }> }> }>(1, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 1, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, currentLeaderEpoch: -1, fetchOffset: batch.baseOffset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: '',
    });
    const p = res.responses[0].partitions[0];
    if (p.errorCode !== ErrorCode.NONE) return { refused: p.errorCode === ErrorCode.KAFKA_STORAGE_ERROR, answer: errorName(p.errorCode) };
    return { refused: false, answer: `${p.records?.length ?? 0} bytes of records (no error)` };
  } finally {
    c.close();
  }
}

/** What a broker setup provides for a `bit-flip` fault. */
export interface FlipHost {
  readonly dataDir: string;
  /** Where the broker listens (not the proxy: the read-back goes straight to it). */
  readonly target: { host: string; port: number };
  /** Stops the broker cleanly (its checkpoints written): true when it did; false when it was not running or shut down uncleanly. */
  stopCleanly(): Promise<boolean>;
  start(): Promise<void>;
  /** Segment files under the data directory: path and contents (a prefix is enough). */
  files(): Iterable<[string, Buffer]>;
  /** XORs the byte at `position` of the file at `path` with `mask`, durably. */
  xorByte(path: string, position: number, mask: number): void;
}

/**
 * The whole fault: a clean stop (so the batch lies below the recovery point, where recovery does
 * not rescan it, and out of the tail cache: the read path must catch the damage), one bit flipped
 * in a random stored batch of a user topic, a start and a Fetch of that batch, then a stop, the
 * byte put back (as restoring the segment from another copy would) and a start. Returns what it
 * did in words, and the flip with whether the broker refused the batch (undefined when nothing was
 * flipped: no stored batch yet, or the stop was not clean).
 */
export async function injectBitFlip(host: FlipHost, rng: Rng, uncovered = false): Promise<{ text: string; flip?: CorruptionProbe }> {
  if (!(await host.stopCleanly())) {
    // Then the batch might lie above the recovery point, where recovery (rightly) truncates a bad
    // tail as a torn write: a flip there would lose acknowledged data by the harness's doing.
    await host.start();
    return { text: 'bit flip skipped: the broker did not shut down cleanly; broker restarted' };
  }
  const candidates: StoredBatch[] = [];
  for (const [path, data] of host.files()) {
    const segment = segmentOf(host.dataDir, path);
    if (segment === null) continue;
    // One by one: a segment of small batches holds more than a call's arguments may be.
    for (const b of batchesIn(path, segment, data)) candidates.push(b);
  }
  if (candidates.length === 0) {
    await host.start();
    return { text: 'bit flip: no stored batch of a user topic yet; broker restarted' };
  }
  const batch = rng.pick(candidates);
  const flip = chooseFlip(rng, batch, uncovered);
  const where = describeFlip(batch, flip);
  host.xorByte(batch.path, flip.at, flip.mask);
  let read: { refused: boolean; answer: string };
  try {
    await host.start();
    read = await fetchBatch(host.target, batch);
  } catch (err) {
    // A broker that cannot start, or answer, over one damaged batch has not handled it either.
    read = { refused: false, answer: `no answer: ${(err as Error).message}` };
  } finally {
    await host.stopCleanly();
    host.xorByte(batch.path, flip.at, flip.mask);
  }
  await host.start();
  return {
    text: `bit flip: ${where}; read back, Fetch answered ${read.answer}; byte restored, broker restarted`,
    flip: { detail: `${where}: Fetch answered ${read.answer}`, detected: read.refused },
  };
}
