// Shared helpers for the record tests: kafkajs internals, batch surgery, random records.
import { createRequire } from 'node:module';
import { Rng } from '../../src/util/index.ts';
import { BATCH_HEADER_BYTES, computeBatchCrc, type RecordInput } from '../../src/record/index.ts';

export const requireCjs = createRequire(import.meta.url);

const OFFSET_LENGTH = 8;
const OFFSET_CRC = 17;
const OFFSET_ATTRIBUTES = 21;

/** Recomputes the Length field and CRC of a whole batch in `buf` (after a test edited it). */
export function fixBatch(buf: Buffer): Buffer {
  buf.writeInt32BE(buf.length - 12, OFFSET_LENGTH);
  buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), OFFSET_CRC);
  return buf;
}

/** A copy of `batch` with `payload` as its records and `codec` in its attributes, Length and CRC fixed. */
export function withPayload(batch: Buffer, codec: number, payload: Buffer): Buffer {
  const out = Buffer.concat([batch.subarray(0, BATCH_HEADER_BYTES), payload]);
  out.writeInt16BE((out.readInt16BE(OFFSET_ATTRIBUTES) & ~0x07) | codec, OFFSET_ATTRIBUTES);
  return fixBatch(out);
}

function randomBytesOrNull(rng: Rng, maxBytes: number): Buffer | null {
  const roll = rng.next();
  if (roll < 0.15) return null;
  if (roll < 0.25) return Buffer.alloc(0);
  return rng.bytes(rng.int(1, maxBytes));
}

/** Random records: null, empty and binary keys and values, headers with null values, spread timestamps. */
export function randomRecords(rng: Rng, count: number, maxBytes = 300): RecordInput[] {
  const base = rng.pick([0, 1_700_000_000_000, 2 ** 50]);
  const records: RecordInput[] = [];
  for (let i = 0; i < count; i++) {
    const headers: Array<{ key: string; value: Buffer | null }> = [];
    const headerCount = rng.chance(0.5) ? 0 : rng.int(1, 4);
    for (let h = 0; h < headerCount; h++) {
      headers.push({ key: rng.pick(['', 'trace', 'ключ', `h${h}`]), value: randomBytesOrNull(rng, 40) });
    }
    const spread = rng.pick([0, 1_000, 2 ** 31, 2 ** 40]);
    records.push({ key: randomBytesOrNull(rng, 60), value: randomBytesOrNull(rng, maxBytes), headers, timestamp: base + rng.int(0, spread) });
  }
  return records;
}

export function asBuffer(value: Buffer | string | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? Buffer.from(value) : value;
}
