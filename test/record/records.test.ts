import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, AssertionError } from '../../src/util/index.ts';
import { compressSync as snappyRaw } from 'snappy';
import {
  BATCH_HEADER_BYTES,
  Compression,
  type CompressionName,
  buildBatch,
  buildBatchAsync,
  buildControlBatch,
  decodeBatch,
  decodeBatchAsync,
  decodeBatches,
  decodeControlRecord,
  patchBaseOffset,
  patchLogAppendTime,
  readBatchHeader,
  compress,
  RecordError,
  RecordErrorCode,
  type RecordInput,
  type DecodedBatch,
} from '../../src/record/index.ts';
import { asBuffer, fixBatch, randomRecords, withPayload } from './helpers.ts';

const CODEC_NAMES: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

function isCode(code: number, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof RecordError, `expected RecordError, got ${String(e)}`);
    assert.equal(e.kafkaErrorCode, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

/** Asserts that `decoded` holds exactly `inputs` (headers given as arrays). */
function assertRecords(decoded: DecodedBatch, inputs: RecordInput[], baseOffset: number, nowMs: number): void {
  assert.equal(decoded.records.length, inputs.length);
  decoded.records.forEach((record, i) => {
    const input = inputs[i];
    assert.equal(record.offset, baseOffset + i);
    assert.equal(record.timestamp, input.timestamp ?? nowMs, `record ${i} timestamp`);
    assert.deepEqual(record.key, asBuffer(input.key), `record ${i} key`);
    assert.deepEqual(record.value, asBuffer(input.value), `record ${i} value`);
    const headers = Array.isArray(input.headers) ? input.headers : Object.entries(input.headers ?? {}).map(([key, value]) => ({ key, value }));
    assert.deepEqual(record.headers, headers.map((h) => ({ key: h.key, value: asBuffer(h.value) })), `record ${i} headers`);
  });
}

const MIXED: RecordInput[] = [
  { key: 'k1', value: 'v1', headers: { trace: 'abc', empty: '' } },
  { key: null, value: Buffer.from([0, 1, 2]) },
  { value: null, headers: [{ key: 'nullable', value: null }, { key: 'dup', value: 'a' }, { key: 'dup', value: 'b' }] },
  { key: '', value: '', timestamp: 5 },
  { key: Buffer.alloc(300, 7), value: Buffer.alloc(70_000, 1), timestamp: 1_700_000_000_123 },
];

test('build → decode round trip for every codec: keys, null keys, headers, null and empty values', async () => {
  for (const compression of CODEC_NAMES) {
    const input = { records: MIXED, compression, nowMs: 1_700_000_000_000, baseOffset: 42 };
    for (const batch of [buildBatch(input), await buildBatchAsync(input)]) {
      const decoded = decodeBatch(batch);
      assert.equal(decoded.header.attributes & 0x07, Compression[compression]);
      assert.equal(decoded.header.baseOffset, 42);
      assert.equal(decoded.header.batchLength, batch.length - 12);
      assert.equal(decoded.header.lastOffsetDelta, MIXED.length - 1);
      assert.equal(decoded.header.recordsCount, MIXED.length);
      assert.equal(decoded.header.baseTimestamp, 5);
      assert.equal(decoded.header.maxTimestamp, 1_700_000_000_123);
      assert.equal(decoded.header.producerId, -1);
      assert.equal(decoded.header.producerEpoch, -1);
      assert.equal(decoded.header.baseSequence, -1);
      assert.equal(decoded.header.partitionLeaderEpoch, -1);
      assertRecords(decoded, MIXED, 42, 1_700_000_000_000);
      assertRecords(await decodeBatchAsync(batch), MIXED, 42, 1_700_000_000_000);
    }
  }
});

test('random records round trip through every codec (seeded)', async () => {
  const seed = 0xb47c4;
  const rng = new Rng(seed);
  for (let round = 0; round < 60; round++) {
    const records = randomRecords(rng, rng.int(1, 40));
    const compression = rng.pick(CODEC_NAMES);
    const baseOffset = rng.pick([0, 1, 2 ** 40]);
    const producerId = rng.pick([-1, 0, 12345, 2 ** 45]);
    const input = { records, compression, baseOffset, producerId, producerEpoch: rng.int(0, 32767), baseSequence: rng.int(0, 2 ** 31 - 1), partitionLeaderEpoch: rng.int(-1, 1000), transactional: rng.chance(0.3) };
    const batch = rng.chance(0.5) ? buildBatch(input) : await buildBatchAsync(input);
    const decoded = decodeBatch(batch);
    assertRecords(decoded, records, baseOffset, 0);
    const h = decoded.header;
    assert.deepEqual(
      [h.producerId, h.producerEpoch, h.baseSequence, h.partitionLeaderEpoch, (h.attributes & 0x10) !== 0],
      [producerId, input.producerEpoch, input.baseSequence, input.partitionLeaderEpoch, input.transactional],
      `seed ${seed} round ${round}`,
    );
    const timestamps = records.map((r) => r.timestamp as number);
    assert.equal(h.baseTimestamp, Math.min(...timestamps));
    assert.equal(h.maxTimestamp, Math.max(...timestamps));
  }
});

test('records without a timestamp take nowMs; the builder rejects empty batches and bad timestamps', () => {
  const batch = buildBatch({ records: [{ value: 'a' }, { value: 'b', timestamp: 10 }], nowMs: 500 });
  assert.deepEqual(decodeBatch(batch).records.map((r) => r.timestamp), [500, 10]);
  assert.throws(() => buildBatch({ records: [] }), isCode(RecordErrorCode.INVALID_RECORD, /at least one record/));
  assert.throws(() => buildBatch({ records: [{ value: 'a', timestamp: 1.5 }] }), isCode(RecordErrorCode.INVALID_TIMESTAMP));
  const before = Date.now();
  const defaulted = decodeBatch(buildBatch({ records: [{ value: 'a' }] })).records[0].timestamp;
  assert.ok(defaulted >= before && defaulted <= Date.now());
});

test('LogAppendTime batches report maxTimestamp for every record', () => {
  const records = [{ value: 'a', timestamp: 100 }, { value: 'b', timestamp: 300 }, { value: 'c', timestamp: 200 }];
  const built = decodeBatch(buildBatch({ records, timestampType: 'log-append' }));
  assert.deepEqual(built.records.map((r) => r.timestamp), [300, 300, 300]);
  const patched = buildBatch({ records, compression: 'gzip' });
  patchLogAppendTime(patched, 0, patched.length, 9_999);
  const decoded = decodeBatch(patched);
  assert.equal(decoded.header.attributes & 0x08, 0x08);
  assert.deepEqual(decoded.records.map((r) => r.timestamp), [9_999, 9_999, 9_999]);
});

test('patched base offsets show up in record offsets without breaking the CRC', () => {
  const batch = buildBatch({ records: [{ value: 'a' }, { value: 'b' }], compression: 'lz4' });
  patchBaseOffset(batch, 0, 1_000_000);
  assert.deepEqual(decodeBatch(batch).records.map((r) => r.offset), [1_000_000, 1_000_001]);
});

test('control batches: commit and abort markers build and decode', () => {
  for (const commit of [true, false]) {
    const batch = buildControlBatch({ producerId: 77, producerEpoch: 3, commit, coordinatorEpoch: 9, timestampMs: 1234, baseOffset: 50, partitionLeaderEpoch: 2 });
    const decoded = decodeBatch(batch);
    assert.equal(decoded.header.attributes, 0x30, 'transactional | control, uncompressed');
    assert.deepEqual([decoded.header.producerId, decoded.header.producerEpoch, decoded.header.baseSequence], [77, 3, -1]);
    assert.deepEqual([decoded.header.baseOffset, decoded.header.partitionLeaderEpoch], [50, 2]);
    assert.equal(decoded.records.length, 1);
    const record = decoded.records[0];
    assert.deepEqual(record.key, Buffer.from([0, 0, 0, commit ? 1 : 0]));
    assert.deepEqual(record.value, Buffer.from([0, 0, 0, 0, 0, 9]));
    assert.equal(record.timestamp, 1234);
    assert.deepEqual(decodeControlRecord(record), { type: commit ? 'commit' : 'abort', typeId: commit ? 1 : 0, coordinatorEpoch: 9 });
  }
});

test('a CRC mismatch is CORRUPT_MESSAGE unless verification is off', () => {
  const batch = buildBatch({ records: [{ value: 'payload' }] });
  batch[batch.length - 3] ^= 0x01; // inside the value: the record structure stays valid
  assert.throws(() => decodeBatch(batch), isCode(RecordErrorCode.CORRUPT_MESSAGE, /CRC-32C/));
  assert.equal(decodeBatch(batch, 0, { verifyCrc: false }).records.length, 1);
  const header = buildBatch({ records: [{ value: 'x' }] });
  header[30] ^= 0x10; // base timestamp: covered by the CRC
  assert.throws(() => decodeBatch(header), isCode(RecordErrorCode.CORRUPT_MESSAGE));
});

test('magic other than 2 is UNSUPPORTED_FOR_MESSAGE_FORMAT', () => {
  const batch = buildBatch({ records: [{ value: 'x' }] });
  batch[16] = 1;
  assert.throws(() => decodeBatch(batch), isCode(RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT));
});

test('raw snappy payloads (no xerial header) decode', () => {
  const plain = buildBatch({ records: MIXED, nowMs: 7 });
  const batch = withPayload(plain, Compression.snappy, snappyRaw(plain.subarray(BATCH_HEADER_BYTES)));
  assertRecords(decodeBatch(batch), MIXED, 0, 7);
});

test('decompressed size is bounded by maxDecompressedBytes', () => {
  const batch = buildBatch({ records: [{ value: Buffer.alloc(2 * 1024 * 1024) }], compression: 'zstd' });
  assert.ok(batch.length < 10_000);
  assert.throws(() => decodeBatch(batch, 0, { maxDecompressedBytes: 1024 * 1024 }), isCode(RecordErrorCode.MESSAGE_TOO_LARGE));
  assert.equal(decodeBatch(batch, 0, { maxDecompressedBytes: 3 * 1024 * 1024 }).records.length, 1);
});

test('record-level damage under a valid CRC is INVALID_RECORD', () => {
  const plain = buildBatch({ records: [{ key: 'k', value: 'v' }, { value: 'w' }], nowMs: 1 });
  const records = plain.subarray(BATCH_HEADER_BYTES);
  const trailing = withPayload(plain, 0, Buffer.concat([records, Buffer.from([0])]));
  assert.throws(() => decodeBatch(trailing), isCode(RecordErrorCode.INVALID_RECORD, /after its 2 records/));
  const short = withPayload(plain, 0, records.subarray(0, records.length - 1));
  assert.throws(() => decodeBatch(short), isCode(RecordErrorCode.INVALID_RECORD));
  const compressed = withPayload(plain, Compression.gzip, compress(Compression.gzip, Buffer.concat([records, Buffer.from([1, 2])])));
  assert.throws(() => decodeBatch(compressed), isCode(RecordErrorCode.INVALID_RECORD));
  const badKey = Buffer.from(plain);
  badKey[BATCH_HEADER_BYTES + 4] = 0x05; // key length varint: -3
  assert.throws(() => decodeBatch(fixBatch(badKey)), isCode(RecordErrorCode.INVALID_RECORD));
  const hugeCount = Buffer.from(plain);
  hugeCount.writeInt32BE(1_000_000_000, 57);
  assert.throws(() => decodeBatch(fixBatch(hugeCount)), isCode(RecordErrorCode.INVALID_RECORD, /1000000000 records/));
});

test('decodeBatches reads consecutive batches and ignores a trailing partial one', () => {
  const a = buildBatch({ records: [{ value: 'a' }], baseOffset: 0 });
  const b = buildBatch({ records: [{ value: 'b' }, { value: 'c' }], baseOffset: 1, compression: 'snappy' });
  const c = buildBatch({ records: [{ value: 'd' }], baseOffset: 3 });
  const all = Buffer.concat([a, b, c]);
  assert.deepEqual(decodeBatches(all).flatMap((d) => d.records.map((r) => [r.offset, r.value?.toString()])), [[0, 'a'], [1, 'b'], [2, 'c'], [3, 'd']]);
  for (let cut = a.length + b.length; cut < all.length; cut++) {
    assert.equal(decodeBatches(all.subarray(0, cut)).length, 2, `cut at ${cut}`);
  }
  assert.deepEqual(decodeBatches(Buffer.alloc(0)), []);
  const garbage = Buffer.concat([a, Buffer.alloc(12)]); // a complete Length of 0: not a partial batch
  assert.throws(() => decodeBatches(garbage), isCode(RecordErrorCode.CORRUPT_MESSAGE));
});

function onlyRecordErrors(run: () => unknown, context: string): void {
  try {
    run();
  } catch (e) {
    if (!(e instanceof RecordError)) assert.fail(`${context}: threw ${(e as Error)?.stack ?? String(e)}`);
  }
}

test('truncation at every position throws only RecordError', () => {
  for (const compression of CODEC_NAMES) {
    const batch = buildBatch({ records: MIXED.slice(0, 4), compression, nowMs: 1 });
    for (let cut = 0; cut < batch.length; cut++) {
      const truncated = Buffer.from(batch.subarray(0, cut));
      assert.throws(() => decodeBatch(truncated), RecordError, `${compression} cut ${cut}`);
      // With Length and CRC made consistent, the damage reaches the record and codec layers.
      if (cut > BATCH_HEADER_BYTES) onlyRecordErrors(() => decodeBatch(fixBatch(Buffer.from(truncated))), `${compression} fixed cut ${cut}`);
    }
  }
});

test('random byte flips throw only RecordError (with and without CRC repair)', () => {
  const seed = 31337;
  const rng = new Rng(seed);
  for (let round = 0; round < 1500; round++) {
    const compression = rng.pick(CODEC_NAMES);
    const batch = buildBatch({ records: randomRecords(rng, rng.int(1, 5), 60), compression });
    const mutated = Buffer.from(batch);
    for (let flips = rng.int(1, 3); flips > 0; flips--) {
      const at = rng.chance(0.2) ? rng.int(0, BATCH_HEADER_BYTES - 1) : rng.int(BATCH_HEADER_BYTES, mutated.length - 1);
      mutated[at] ^= 1 << rng.int(0, 7);
    }
    const context = `seed ${seed} round ${round} (${compression})`;
    onlyRecordErrors(() => decodeBatch(mutated), context);
    onlyRecordErrors(() => decodeBatch(mutated, 0, { verifyCrc: false, maxDecompressedBytes: 1 << 20 }), context);
    if (mutated.readInt32BE(8) === mutated.length - 12) onlyRecordErrors(() => decodeBatch(fixBatch(mutated)), context);
  }
});

test('header fields read back as written', () => {
  const batch = buildBatch({ records: [{ value: 'x', timestamp: 2 ** 41 }], producerId: 2 ** 50, producerEpoch: 32767, baseSequence: 2 ** 31 - 1 });
  const header = readBatchHeader(batch);
  assert.deepEqual([header.producerId, header.producerEpoch, header.baseSequence, header.maxTimestamp], [2 ** 50, 32767, 2 ** 31 - 1, 2 ** 41]);
  assert.throws(() => buildBatch({ records: [{ value: 'x' }], producerEpoch: 40_000 }), AssertionError);
  assert.throws(() => buildBatch({ records: [{ value: 'x' }], baseSequence: 2 ** 31 }), AssertionError);
  assert.throws(() => buildBatch({ records: [{ value: 'x' }], compression: 'brotli' as never }), RecordError);
});

test('copyBytes: keys, values and header values of an uncompressed batch are copies that outlive the buffer; the same records either way', async () => {
  for (const compression of CODEC_NAMES) {
    const buf = buildBatch({ records: MIXED, compression, nowMs: 1_700_000_000_000 });
    const views = decodeBatch(buf);
    const copies = decodeBatch(buf, 0, { copyBytes: true });
    const asyncCopies = await decodeBatchAsync(buf, 0, { copyBytes: true });
    assert.deepEqual(copies.records, views.records, compression);
    assert.deepEqual(asyncCopies.records, views.records, compression);
    // Every key, value and header value as one list of fields, compared field by field (a deepEqual
    // diff of the 70 KB value would take minutes to print).
    const fields = (d: DecodedBatch): Array<Buffer | null> => d.records.flatMap((r) => [r.key, r.value, ...r.headers.map((h) => h.value)]);
    const snapshot = fields(copies).map((b) => (b === null ? null : Buffer.from(b)));
    buf.fill(0xdb);
    const now = fields(copies);
    for (const [i, b] of snapshot.entries()) assert.ok(b === null ? now[i] === null : now[i]?.equals(b), `${compression}: field ${i} changed with the buffer`);
    if (compression === 'none') {
      const withValue = views.records.find((r) => r.value !== null && r.value.length > 0)!;
      assert.equal(withValue.value!.buffer, buf.buffer, 'without copyBytes, views of the buffer');
    }
  }
});
