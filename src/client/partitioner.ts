// Partitioning: which partition a record goes to. Keyed records map exactly like Kafka's default
// partitioner (Java `Utils.murmur2`, `toPositive(hash) % numPartitions`), so keyed data lands on the
// same partitions as with the Java client, librdkafka's murmur2_random and kafkajs' DefaultPartitioner.
// Keyless records use a "uniform sticky" scheme (in the spirit of KIP-794): they stay on one
// partition until `stickyBytes` have gone there, then move to the next, so batches fill up instead
// of spreading one record per partition. As in Kafka's producer (which switches only once the
// partition's batches are full or sent), the move waits while the partition's open batch can
// still take the record (`hasRoom`): a burst that fits one batch is not cut into two batches on
// two partitions, which would cost two appends and two durable writes instead of one.
import { assert } from '../util/index.ts';

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;
const MURMUR2_R = 24;

/** Kafka's murmur2 (32-bit MurmurHash2 with seed 0x9747b28c, little-endian words) as a signed int32. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = MURMUR2_SEED ^ length;
  const words = length >>> 2;
  for (let i = 0; i < words; i++) {
    const at = i * 4;
    let k = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> MURMUR2_R;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) {
    h ^= data[tail];
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs, which differs for negatives). */
export function toPositive(value: number): number {
  return value & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for a key. Strings hash as their UTF-8 bytes. */
export function partitionForKey(key: Uint8Array | string, numPartitions: number): number {
  assert(Number.isSafeInteger(numPartitions) && numPartitions > 0, `numPartitions ${numPartitions} must be a positive integer`);
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return toPositive(murmur2(bytes)) % numPartitions;
}

export interface PartitionerInput {
  topic: string;
  /** The record key as bytes, or null for a keyless record. */
  key: Buffer | null;
  /** Partitions the topic has now (from metadata), at least 1. */
  numPartitions: number;
  /** Estimated size of the record in a batch, for sticky partitioning. */
  recordBytes: number;
}

/** Chooses a partition in [0, numPartitions). Called once per record, in send order. */
export type Partitioner = (input: PartitionerInput) => number;

export interface DefaultPartitionerOptions {
  /** Bytes of keyless records sent to one partition before moving to the next. @default 1048576 */
  stickyBytes?: number;
  /** Where keyless records of a topic start: a function returning a number in [0, 1). @default Math.random */
  random?: () => number;
  /** Topics whose sticky state is kept; the least recently used is forgotten beyond this. @default 10000 */
  maxTopics?: number;
  /**
   * Whether `partition`'s open batch (not yet sent) can still take a record of about `recordBytes`.
   * Once stickyBytes have gone to the sticky partition, keyless records stay on it while this says
   * yes. The Producer passes its own; without it the move happens at stickyBytes exactly.
   * @default undefined
   */
  hasRoom?: (topic: string, partition: number, recordBytes: number) => boolean;
}

interface StickyState {
  partition: number;
  bytes: number;
}

/**
 * Kafka's default partitioning: keyed records by murmur2 (identical to the Java client and to
 * kafkajs' DefaultPartitioner), keyless records sticky — all to one partition until `stickyBytes`
 * have gone there and its open batch is full or sent (`hasRoom`), then to the next partition
 * (round-robin, starting at a random one per topic).
 */
export function createDefaultPartitioner(options: DefaultPartitionerOptions = {}): Partitioner {
  const pick = defaultPartitionPicker(options);
  return (input) => pick(input.topic, input.key, input.numPartitions, input.recordBytes);
}

/** createDefaultPartitioner's choice with positional arguments: no input object per record (the Producer's hot path). */
export function defaultPartitionPicker(options: DefaultPartitionerOptions = {}): (topic: string, key: Buffer | null, numPartitions: number, recordBytes: number) => number {
  const stickyBytes = options.stickyBytes ?? 1048576;
  const random = options.random ?? Math.random;
  const maxTopics = options.maxTopics ?? 10000;
  const hasRoom = options.hasRoom;
  assert(Number.isSafeInteger(stickyBytes) && stickyBytes > 0, `stickyBytes ${stickyBytes} must be a positive integer`);
  assert(Number.isSafeInteger(maxTopics) && maxTopics > 0, `maxTopics ${maxTopics} must be a positive integer`);
  // Map order is recency order, so the first key is the least recently used topic.
  const sticky = new Map<string, StickyState>();
  // The most recently used topic, already last in `sticky`: no reordering needed for it.
  let lastTopic: string | null = null;
  let lastState: StickyState | undefined;
  return (topic, key, numPartitions, recordBytes) => {
    if (key !== null) return partitionForKey(key, numPartitions);
    let state = topic === lastTopic ? lastState : sticky.get(topic);
    if (state === undefined) {
      state = { partition: Math.floor(random() * numPartitions) % numPartitions, bytes: 0 };
      if (sticky.size >= maxTopics) sticky.delete(sticky.keys().next().value as string);
      sticky.set(topic, state);
    } else {
      if (topic !== lastTopic) {
        sticky.delete(topic);
        sticky.set(topic, state);
      }
      if (state.partition >= numPartitions || (state.bytes >= stickyBytes && !(hasRoom?.(topic, state.partition, recordBytes) ?? false))) {
        state.partition = (state.partition + 1) % numPartitions;
        state.bytes = 0;
      }
    }
    lastTopic = topic;
    lastState = state;
    state.bytes += recordBytes;
    return state.partition;
  };
}
