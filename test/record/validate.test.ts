import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, AssertionError } from '../../src/util/index.ts';
import {
  BATCH_HEADER_BYTES,
  Compression,
  type CompressionName,
  type BatchLimits,
  type BatchInput,
  buildBatch,
  buildControlBatch,
  compress,
  splitBatches,
  validateProducedBatch,
  validateProducedBatchAsync,
  writeVarint,
  RecordError,
  RecordErrorCode,
} from '../../src/record/index.ts';
import { fixBatch, randomRecords, withPayload } from './helpers.ts';

const LIMITS: BatchLimits = { maxBatchBytes: 1024 * 1024, maxDecompressedBytes: 16 * 1024 * 1024, validateRecords: true };
const CODEC_NAMES: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

function code(run: () => unknown): number | 'ok' {
  try {
    run();
    return 'ok';
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    return e.kafkaErrorCode;
  }
}

async function codeAsync(run: () => Promise<unknown>): Promise<number | 'ok'> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    return e.kafkaErrorCode;
  }
}

/** Validates `batch` sync and async and asserts both give `expected`. */
async function expectCode(batch: Buffer, expected: number | 'ok', limits: BatchLimits = LIMITS, pos = 0, size = batch.length - pos): Promise<void> {
  assert.equal(code(() => validateProducedBatch(batch, pos, size, limits)), expected, 'sync');
  assert.equal(await codeAsync(() => validateProducedBatchAsync(batch, pos, size, limits)), expected, 'async');
}

function sample(overrides: Partial<BatchInput> = {}): Buffer {
  return buildBatch({ records: [{ key: 'k', value: 'v' }, { value: 'w', headers: { h: 'x' } }], nowMs: 1_000, ...overrides });
}

test('well-formed client batches validate for every codec and report their header', async () => {
  for (const compression of CODEC_NAMES) {
    const batch = sample({ compression, producerId: 5, producerEpoch: 0, baseSequence: 0 });
    const result = validateProducedBatch(batch, 0, batch.length, LIMITS);
    assert.equal(result.size, batch.length);
    assert.equal(result.header.recordsCount, 2);
    assert.equal(result.header.producerId, 5);
    await expectCode(batch, 'ok');
  }
});

test('a batch inside a larger buffer validates at its position', async () => {
  const batch = sample({ compression: 'gzip' });
  const framed = Buffer.concat([Buffer.alloc(7, 0xee), batch, Buffer.alloc(5, 0xee)]);
  await expectCode(framed, 'ok', LIMITS, 7, batch.length);
});

test('CORRUPT_MESSAGE: too short, Length inconsistent with size, range outside the buffer', async () => {
  const batch = sample();
  await expectCode(batch.subarray(0, 16), RecordErrorCode.CORRUPT_MESSAGE);
  await expectCode(batch, RecordErrorCode.CORRUPT_MESSAGE, LIMITS, 0, batch.length - 1);
  const longer = Buffer.concat([batch, Buffer.alloc(1)]);
  await expectCode(longer, RecordErrorCode.CORRUPT_MESSAGE, LIMITS, 0, longer.length);
  assert.equal(code(() => validateProducedBatch(batch, 0, batch.length + 1, LIMITS)), RecordErrorCode.CORRUPT_MESSAGE);
  assert.equal(code(() => validateProducedBatch(batch, -1, batch.length, LIMITS)), RecordErrorCode.CORRUPT_MESSAGE);
  const tiny = Buffer.from(batch.subarray(0, 40));
  tiny.writeInt32BE(28, 8);
  await expectCode(tiny, RecordErrorCode.CORRUPT_MESSAGE); // magic 2 but shorter than a header
});

test('UNSUPPORTED_FOR_MESSAGE_FORMAT: magic 0 and 1 message sets', async () => {
  for (const magic of [0, 1]) {
    const batch = sample();
    batch[16] = magic;
    await expectCode(batch, RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
  }
  // A v1 message set is smaller than a v2 header; it still gets the format error, not CORRUPT.
  const v1 = Buffer.alloc(12 + 22);
  v1.writeInt32BE(22, 8);
  v1[16] = 1;
  await expectCode(v1, RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
});

test('MESSAGE_TOO_LARGE names the size and the limit, and is checked before the CRC', async () => {
  const batch = sample({ records: [{ value: Buffer.alloc(5000) }] });
  const limits = { ...LIMITS, maxBatchBytes: 1000 };
  assert.throws(
    () => validateProducedBatch(batch, 0, batch.length, limits),
    (e: unknown) => e instanceof RecordError && e.kafkaErrorCode === 10 && e.message.includes(`${batch.length} bytes`) && e.message.includes('1000'),
  );
  batch[batch.length - 1] ^= 1; // CRC now wrong: size still wins
  await expectCode(batch, RecordErrorCode.MESSAGE_TOO_LARGE, limits);
  await expectCode(sample(), 'ok', { ...LIMITS, maxBatchBytes: sample().length });
});

test('CORRUPT_MESSAGE: CRC mismatch', async () => {
  const batch = sample();
  batch[BATCH_HEADER_BYTES + 2] ^= 0x40;
  await expectCode(batch, RecordErrorCode.CORRUPT_MESSAGE);
});

test('INVALID_RECORD: base offset, count/lastOffsetDelta, control batches, idempotent sequence', async () => {
  await expectCode(sample({ baseOffset: 3 }), RecordErrorCode.INVALID_RECORD);
  const delta = sample();
  delta.writeInt32BE(5, 23); // lastOffsetDelta
  await expectCode(fixBatch(delta), RecordErrorCode.INVALID_RECORD);
  for (const count of [0, -1, 3]) {
    const batch = sample();
    batch.writeInt32BE(count, 57);
    batch.writeInt32BE(count - 1, 23);
    await expectCode(fixBatch(batch), RecordErrorCode.INVALID_RECORD);
  }
  await expectCode(buildControlBatch({ producerId: 1, producerEpoch: 0, commit: true, coordinatorEpoch: 0, timestampMs: 1 }), RecordErrorCode.INVALID_RECORD);
  await expectCode(sample({ control: true }), RecordErrorCode.INVALID_RECORD);
  await expectCode(sample({ producerId: 9, baseSequence: -1 }), RecordErrorCode.INVALID_RECORD);
  await expectCode(sample({ producerId: -1, baseSequence: -1 }), 'ok');
});

test('the checks run in Kafka order: framing, magic, size, CRC, then header rules', async () => {
  const everythingWrong = sample({ baseOffset: 9, control: true, records: [{ value: Buffer.alloc(3000) }] });
  everythingWrong[BATCH_HEADER_BYTES + 1] ^= 1; // bad CRC
  await expectCode(everythingWrong, RecordErrorCode.MESSAGE_TOO_LARGE, { ...LIMITS, maxBatchBytes: 2000 });
  await expectCode(everythingWrong, RecordErrorCode.CORRUPT_MESSAGE);
  everythingWrong[16] = 1;
  await expectCode(everythingWrong, RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, { ...LIMITS, maxBatchBytes: 2000 });
  await expectCode(everythingWrong, RecordErrorCode.CORRUPT_MESSAGE, LIMITS, 0, everythingWrong.length - 1);
});

test('INVALID_TIMESTAMP for producer-set LogAppendTime; CORRUPT_MESSAGE for unknown codecs', async () => {
  await expectCode(sample({ timestampType: 'log-append' }), RecordErrorCode.INVALID_TIMESTAMP);
  const codec = sample();
  codec.writeInt16BE(5, 21);
  await expectCode(fixBatch(codec), RecordErrorCode.CORRUPT_MESSAGE);
});

test('record walk: offset deltas, exact count, trailing bytes, framing — INVALID_RECORD', async () => {
  const plain = sample();
  const records = plain.subarray(BATCH_HEADER_BYTES);
  for (const compression of [Compression.none, Compression.gzip, Compression.zstd]) {
    const payload = (bytes: Buffer): Buffer => withPayload(plain, compression, compress(compression, bytes));
    await expectCode(payload(records), 'ok');
    await expectCode(payload(Buffer.concat([records, Buffer.from([0])])), RecordErrorCode.INVALID_RECORD);
    await expectCode(payload(records.subarray(0, records.length - 2)), RecordErrorCode.INVALID_RECORD);
    const skewed = Buffer.from(records);
    skewed[3] = 2; // record 0's offsetDelta varint: 1 instead of 0
    await expectCode(payload(skewed), RecordErrorCode.INVALID_RECORD);
    const tooLong = Buffer.from(records);
    writeVarint(tooLong, 0, 60); // record 0 claims more bytes than it has
    await expectCode(payload(tooLong), RecordErrorCode.INVALID_RECORD);
    // Without the record walk, only the header is judged.
    await expectCode(payload(skewed), 'ok', { ...LIMITS, validateRecords: false });
  }
  const corruptGzip = withPayload(plain, Compression.gzip, Buffer.from('not gzip at all'));
  await expectCode(corruptGzip, RecordErrorCode.CORRUPT_MESSAGE);
});

test('a compressed bomb is MESSAGE_TOO_LARGE under maxDecompressedBytes', async () => {
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const batch = sample({ compression, records: [{ value: Buffer.alloc(4 * 1024 * 1024) }] });
    assert.ok(batch.length < LIMITS.maxBatchBytes);
    await expectCode(batch, RecordErrorCode.MESSAGE_TOO_LARGE, { ...LIMITS, maxDecompressedBytes: 1024 * 1024 });
    await expectCode(batch, 'ok', { ...LIMITS, maxDecompressedBytes: 8 * 1024 * 1024 });
  }
});

test('mutated batches with repaired CRCs only ever throw RecordError', async () => {
  const seed = 777;
  const rng = new Rng(seed);
  for (let round = 0; round < 1500; round++) {
    const compression = rng.pick(CODEC_NAMES);
    const batch = buildBatch({ records: randomRecords(rng, rng.int(1, 6), 50), compression });
    for (let flips = rng.int(1, 3); flips > 0; flips--) batch[rng.int(BATCH_HEADER_BYTES, batch.length - 1)] ^= 1 << rng.int(0, 7);
    fixBatch(batch);
    const sync = code(() => validateProducedBatch(batch, 0, batch.length, LIMITS));
    const async = await codeAsync(() => validateProducedBatchAsync(batch, 0, batch.length, LIMITS));
    assert.equal(async, sync, `seed ${seed} round ${round}`);
  }
});

test('random well-formed batches always validate', () => {
  const rng = new Rng(4242);
  for (let round = 0; round < 100; round++) {
    const batch = buildBatch({ records: randomRecords(rng, rng.int(1, 30)), compression: rng.pick(CODEC_NAMES) });
    assert.equal(code(() => validateProducedBatch(batch, 0, batch.length, LIMITS)), 'ok');
  }
});

test('splitBatches frames consecutive batches and rejects garbage framing', () => {
  const a = sample();
  const b = sample({ compression: 'gzip' });
  assert.deepEqual(splitBatches(Buffer.concat([a, b]), 2), [{ pos: 0, size: a.length }, { pos: a.length, size: b.length }]);
  assert.deepEqual(splitBatches(a, 1), [{ pos: 0, size: a.length }]);
  assert.deepEqual(splitBatches(Buffer.alloc(0), 1), []);
  const corrupt = RecordErrorCode.CORRUPT_MESSAGE;
  assert.equal(code(() => splitBatches(a.subarray(0, a.length - 1), 1)), corrupt, 'Length past the end');
  assert.equal(code(() => splitBatches(Buffer.concat([a, Buffer.alloc(5)]), 2)), corrupt, 'trailing bytes');
  assert.equal(code(() => splitBatches(Buffer.concat([a, a.subarray(0, 30)]), 2)), corrupt, 'trailing partial batch');
  const negative = Buffer.from(a);
  negative.writeInt32BE(-5, 8);
  assert.equal(code(() => splitBatches(negative, 1)), corrupt, 'negative Length');
  const small = Buffer.from(a);
  small.writeInt32BE(20, 8);
  assert.equal(code(() => splitBatches(small.subarray(0, 32), 1)), corrupt, 'magic 2 batch smaller than its header');
  assert.equal(code(() => splitBatches(Buffer.concat([a, a, a]), 2)), RecordErrorCode.INVALID_RECORD, 'too many batches');
  assert.throws(() => splitBatches(a, 0), AssertionError);
  const rng = new Rng(5);
  for (let i = 0; i < 500; i++) {
    const junk = rng.bytes(rng.int(1, 100));
    const result = code(() => splitBatches(junk, 3));
    assert.ok(result === corrupt || result === RecordErrorCode.INVALID_RECORD || result === 'ok');
  }
});

test('validating 1000 uncompressed 100-byte records is fast (relative to building them)', () => {
  const rng = new Rng(1);
  const records = Array.from({ length: 1000 }, () => ({ key: rng.bytes(16), value: rng.bytes(100) }));
  const batch = buildBatch({ records });
  // The fastest of several alternating trials of each: a pause of this shared machine in one
  // trial cannot decide the comparison.
  const fastest = (rounds: number, fn: () => void): number => {
    const start = performance.now();
    for (let i = 0; i < rounds; i++) fn();
    return (performance.now() - start) / rounds;
  };
  let buildMs = Infinity;
  let validateMs = Infinity;
  for (let trial = 0; trial < 7; trial++) {
    buildMs = Math.min(buildMs, fastest(10, () => buildBatch({ records })));
    validateMs = Math.min(validateMs, fastest(50, () => validateProducedBatch(batch, 0, batch.length, LIMITS)));
  }
  // No absolute-time assertion: walking the records must cost less than encoding them.
  assert.ok(validateMs < buildMs, `validate ${validateMs.toFixed(3)} ms vs build ${buildMs.toFixed(3)} ms per batch`);
  console.log(`# validate 1000x100B uncompressed: ${(validateMs * 1000).toFixed(0)} µs/batch (build ${(buildMs * 1000).toFixed(0)} µs)`);
});
