// BatchAppender: the producer's record-at-a-time batch builder. Its batches must decode exactly like
// buildBatch's (CRC verified), whatever the chunking, and the caller's buffers must be free once
// append() returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/index.ts';
import { BATCH_HEADER_BYTES, BatchAppender, ChunkPool, buildBatch, RecordError, RecordErrorCode, decodeBatch, decodeBatchAsync, compressionOf, type CompressionName, type RecordInput } from '../../src/record/index.ts';
import { asBuffer, randomRecords } from './helpers.ts';

const CODEC_NAMES: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

function headerBytes(r: RecordInput): { keys: Buffer[]; values: Array<Buffer | null> } {
  const headers = Array.isArray(r.headers) ? r.headers : Object.entries(r.headers ?? {}).map(([key, value]) => ({ key, value }));
  return { keys: headers.map((h) => Buffer.from(h.key, 'utf8')), values: headers.map((h) => asBuffer(h.value)) };
}

function appendAll(appender: BatchAppender, records: RecordInput[]): void {
  for (const r of records) {
    const { keys, values } = headerBytes(r);
    appender.append(asBuffer(r.key), asBuffer(r.value), keys, values, r.timestamp as number);
  }
}

function joined(chunks: readonly Buffer[]): Buffer {
  return Buffer.concat(chunks as Buffer[]);
}

function assertHolds(batch: Buffer, records: RecordInput[], context: string): void {
  const decoded = decodeBatch(batch); // verifies the CRC
  assert.equal(decoded.records.length, records.length, context);
  decoded.records.forEach((got, i) => {
    const want = records[i];
    const { keys, values } = headerBytes(want);
    assert.equal(got.offset, i, `${context}: record ${i} offset`);
    assert.equal(got.timestamp, want.timestamp, `${context}: record ${i} timestamp`);
    assert.deepEqual(got.key, asBuffer(want.key), `${context}: record ${i} key`);
    assert.deepEqual(got.value, asBuffer(want.value), `${context}: record ${i} value`);
    assert.deepEqual(got.headers, keys.map((k, h) => ({ key: k.toString('utf8'), value: values[h] })), `${context}: record ${i} headers`);
  });
  const timestamps = records.map((r) => r.timestamp as number);
  assert.equal(decoded.header.baseTimestamp, timestamps[0], `${context}: the base timestamp is the first record's`);
  assert.equal(decoded.header.maxTimestamp, Math.max(...timestamps), `${context}: max timestamp`);
}

test('random records round trip through every codec and any first-chunk size (seeded)', async () => {
  const seed = Number(process.env.HOLDFAST_TEST_SEED ?? 20261201);
  const rng = new Rng(seed);
  for (let round = 0; round < 80; round++) {
    const records = randomRecords(rng, rng.int(1, 60), rng.pick([30, 300, 5000]));
    const compression = rng.pick(CODEC_NAMES);
    // From smaller than the header (the first record starts a chunk of its own) to larger than the batch.
    const appender = new BatchAppender(rng.pick([0, 100, 700, 4096, 1 << 20]));
    appendAll(appender, records);
    const header = { compression, producerId: rng.pick([-1, 7, 2 ** 45]), producerEpoch: rng.int(0, 32767), baseSequence: rng.int(0, 2 ** 31 - 1), transactional: rng.chance(0.3) };
    const chunks = rng.chance(0.5) ? appender.build(header) : await appender.buildAsync(header);
    const batch = joined(chunks);
    const context = `seed ${seed} round ${round} (${compression})`;
    assertHolds(batch, records, context);
    const h = (compression === 'none' ? decodeBatch(batch) : await decodeBatchAsync(batch)).header;
    assert.deepEqual([h.producerId, h.producerEpoch, h.baseSequence, (h.attributes & 0x10) !== 0, compressionOf(h.attributes)], [header.producerId, header.producerEpoch, header.baseSequence, header.transactional, CODEC_NAMES.indexOf(compression)], context);
    if (compression === 'none') assert.equal(batch.length, appender.byteLength, `${context}: byteLength is the batch's size`);
    else assert.equal(chunks.length, 1, `${context}: a compressed batch is one buffer`);
  }
});

test('records of the usual shape and just past its limits encode byte for byte as buildBatch does', () => {
  // append() writes a record without headers, with a key under 64 bytes, a value under 8 KiB, a
  // timestamp within 63 ms of the first and an offset delta under 8,192 by a shorter path: every
  // side of each of those limits must give buildBatch's bytes. Timestamps never fall below the
  // first's, so both take the first as the base.
  const base = 1_700_000_000_000;
  const bytes = (n: number | null, fill: number): Buffer | null => (n === null ? null : Buffer.alloc(n, fill));
  const shapes = (count: number, keySizes: Array<number | null>, valueSizes: Array<number | null>): RecordInput[] =>
    Array.from({ length: count }, (_, i) => ({
      key: bytes(keySizes[i % keySizes.length], 0x6b),
      value: bytes(valueSizes[(i * 7) % valueSizes.length], i & 0xff),
      headers: i % 97 === 5 ? [{ key: 'h', value: Buffer.from('x') }] : [],
      timestamp: base + [0, 0, 1, 63, 63, 64, 65, 1000][Math.min(7, Math.floor(i / 1100))],
    }));
  const cases: Array<[string, RecordInput[]]> = [
    ['past 8,192 records, small values', shapes(8300, [null, 0, 1, 63, 64, 200], [null, 0, 1, 63, 64, 127, 128, 300])],
    ['values around 8 KiB', shapes(60, [null, 63, 64], [8191, 8192, 8000, 64, 63, null, 20000])],
  ];
  for (const [name, records] of cases) {
    const want = buildBatch({ records, producerId: 3, producerEpoch: 1, baseSequence: 17 });
    for (const firstChunk of [0, 1 << 20]) {
      const appender = new BatchAppender(firstChunk);
      appendAll(appender, records);
      const got = joined(appender.build({ producerId: 3, producerEpoch: 1, baseSequence: 17 }));
      assert.ok(got.equals(want), `${name}, first chunk ${firstChunk}: the appender's bytes differ from buildBatch's`);
      assert.equal(appender.byteLength, want.length, `${name}, first chunk ${firstChunk}: byteLength`);
    }
  }
  // Deltas below the first's timestamp, at the one-byte limit and past it.
  const negative: RecordInput[] = [0, -64, -65, 63, 64, -1].map((d, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp: base + d }));
  const appender = new BatchAppender(0);
  appendAll(appender, negative);
  assertHolds(joined(appender.build({})), negative, 'negative deltas at the limit');
});

test('a small first chunk grows by doubling; records never straddle chunks', () => {
  const appender = new BatchAppender(0);
  const records: RecordInput[] = Array.from({ length: 200 }, (_, i) => ({ key: null, value: Buffer.alloc(100, i), timestamp: 1000 + i }));
  appendAll(appender, records);
  const chunks = appender.build({});
  assert.ok(chunks.length >= 5, `200 records of ~110 bytes from a 256-byte chunk take several chunks, got ${chunks.length}`);
  assert.ok(chunks[0].length >= BATCH_HEADER_BYTES);
  for (let i = 2; i < chunks.length - 1; i++) assert.ok(chunks[i].length > chunks[i - 1].length, `chunk ${i} is larger than the one before`);
  assertHolds(joined(chunks), records, 'doubling');
  assert.ok(appender.capacity >= appender.byteLength && appender.capacity < 2 * appender.byteLength + 256, `capacity ${appender.capacity} for ${appender.byteLength} bytes`);
  const one = new BatchAppender(1 << 20);
  appendAll(one, records);
  assert.equal(one.build({}).length, 1, 'a first chunk large enough holds the whole batch');
  assert.equal(one.capacity, 1 << 20);
});

test('the caller may reuse its buffers once append() returns', () => {
  const appender = new BatchAppender(0);
  const key = Buffer.from('key-0');
  const value = Buffer.from('value-0');
  const headerValue = Buffer.from('h-0');
  const records: RecordInput[] = [];
  for (let i = 0; i < 50; i++) {
    key.write(`key-${i % 10}`);
    value.write(`value-${i % 10}`);
    headerValue.write(`h-${i % 10}`);
    records.push({ key: Buffer.from(key), value: Buffer.from(value), headers: [{ key: 'h', value: Buffer.from(headerValue) }], timestamp: 5 });
    appender.append(key, value, [Buffer.from('h')], [headerValue], 5);
  }
  key.fill(0);
  value.fill(0);
  headerValue.fill(0);
  assertHolds(joined(appender.build({})), records, 'reused buffers');
});

test('timestamps: the first record is the base; earlier later ones get negative deltas', () => {
  const records: RecordInput[] = [1_700_000_000_500, 1_700_000_000_000, 1_700_000_001_000, 0].map((timestamp, i) => ({ value: `v${i}`, timestamp }));
  const appender = new BatchAppender(0);
  appendAll(appender, records);
  assertHolds(joined(appender.build({})), records, 'negative deltas');
  const bad = new BatchAppender(0);
  bad.append(null, Buffer.from('a'), [], [], 10);
  for (const ts of [1.5, Number.NaN, 2 ** 53 + 20]) {
    assert.throws(() => bad.append(null, Buffer.from('b'), [], [], ts), (e: unknown) => e instanceof RecordError && e.kafkaErrorCode === RecordErrorCode.INVALID_TIMESTAMP, String(ts));
  }
  assert.equal(bad.recordCount, 1, 'a refused record leaves the batch as it was');
  assertHolds(joined(bad.build({})), [{ value: 'a', timestamp: 10 }], 'after refusals');
});

test('a rebuild (new sequence numbers) leaves the chunks of the earlier build untouched', () => {
  const records: RecordInput[] = Array.from({ length: 30 }, (_, i) => ({ value: `v${i}`, timestamp: 1 }));
  const appender = new BatchAppender(0);
  appendAll(appender, records);
  const first = joined(appender.build({ producerId: 1, producerEpoch: 0, baseSequence: 10 }));
  const firstCopy = Buffer.from(first);
  const firstChunks = appender.build({ producerId: 1, producerEpoch: 0, baseSequence: 10 });
  const second = joined(appender.build({ producerId: 2, producerEpoch: 0, baseSequence: 0 }));
  assert.deepEqual(joined(firstChunks), firstCopy, 'bytes built before are unchanged');
  assert.equal(decodeBatch(first).header.baseSequence, 10);
  const h = decodeBatch(second).header;
  assert.deepEqual([h.producerId, h.baseSequence], [2, 0]);
  assertHolds(second, records, 'rebuilt');
});

test('misuse: an empty batch, and appending after build', () => {
  assert.throws(() => new BatchAppender(0).build({}), (e: unknown) => e instanceof RecordError && e.kafkaErrorCode === RecordErrorCode.INVALID_RECORD && /at least one record/.test(e.message));
  const appender = new BatchAppender(0);
  appender.append(null, Buffer.from('a'), [], [], 1);
  appender.build({});
  assert.throws(() => appender.append(null, Buffer.from('b'), [], [], 1), /already built/);
});

test('ChunkPool: a chunk given back serves the next take of about its size; small chunks, other sizes and a full pool are not kept', () => {
  const pool = new ChunkPool(2, 200_000);
  const small = pool.take(1000);
  assert.equal(small.length, 1000, 'below the grain: a plain allocation of the size asked');
  pool.give(small);
  assert.deepEqual(pool.size, { chunks: 0, bytes: 0 }, 'small chunks are not kept');
  const a = pool.take(50_000);
  assert.equal(a.length, 65_536, 'rounded up to the 16 KiB grain');
  pool.give(a);
  assert.deepEqual(pool.size, { chunks: 1, bytes: 65_536 });
  assert.equal(pool.take(49_153), a, 'the same size class takes the free chunk');
  pool.give(a);
  const b = pool.take(16_384);
  assert.notEqual(b, a, 'a chunk four times the size asked is not handed out');
  assert.equal(b.length, 16_384);
  pool.give(b);
  const c = pool.take(100_000);
  pool.give(c); // three free chunks would exceed maxChunks 2: the oldest (a) is dropped
  assert.deepEqual(pool.size, { chunks: 2, bytes: 16_384 + c.length });
  assert.notEqual(pool.take(60_000), a, 'the dropped chunk is gone');
  assert.throws(() => pool.give(c), /twice/);
  pool.give(Buffer.alloc(300_000)); // larger than maxBytes: not kept
  pool.give(Buffer.allocUnsafeSlow(32_768).subarray(16_384)); // a view, not a whole buffer
  assert.deepEqual(pool.size, { chunks: 2, bytes: 16_384 + c.length });
  assert.throws(() => new ChunkPool(0), /maxChunks 0/);
});

test('recycle() gives an acknowledged batch\'s chunks back; a batch built in a reused chunk holds only its own records', () => {
  const pool = new ChunkPool();
  const first: RecordInput[] = Array.from({ length: 400 }, (_, i) => ({ value: Buffer.alloc(200, i), timestamp: 100 + i }));
  const one = new BatchAppender(70_000, pool);
  appendAll(one, first);
  const built = one.build({ producerId: 3, producerEpoch: 0, baseSequence: 0 });
  assertHolds(joined(built), first, 'pooled first build');
  one.recycle();
  assert.ok(pool.size.chunks >= 1, 'the chunks are back in the pool');
  assert.throws(() => one.recycle(), /twice/);
  assert.throws(() => one.append(null, Buffer.from('x'), [], [], 1), /already built/);
  assert.throws(() => one.build({}), /recycled/);
  // The next batch of about that size reuses the chunk, which still holds the old bytes past its end.
  const second: RecordInput[] = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `second-${i}`, timestamp: 7 }));
  const two = new BatchAppender(70_000, pool);
  appendAll(two, second);
  const reused = two.build({});
  assert.equal(reused[0].buffer, built[0].buffer, 'the new batch was written into the recycled chunk');
  assertHolds(joined(reused), second, 'batch in a reused chunk');
});

test('recycle() after a rebuild keeps the first chunk out of the pool: the earlier build\'s bytes may still be on their way', () => {
  const pool = new ChunkPool();
  const records: RecordInput[] = Array.from({ length: 100 }, (_, i) => ({ value: Buffer.alloc(300, i), timestamp: 1 }));
  const appender = new BatchAppender(40_000, pool);
  appendAll(appender, records);
  const earlier = appender.build({ producerId: 1, producerEpoch: 0, baseSequence: 0 });
  const earlierCopy = joined(earlier);
  appender.build({ producerId: 2, producerEpoch: 0, baseSequence: 0 });
  appender.recycle();
  assert.deepEqual(pool.size, { chunks: 0, bytes: 0 }, 'the only chunk was the first: not kept');
  const next = new BatchAppender(40_000, pool);
  appendAll(next, records);
  next.build({});
  assert.deepEqual(joined(earlier), earlierCopy, 'the earlier build is untouched');
});
