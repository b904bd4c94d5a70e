import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { compressSync as snappyRaw } from 'snappy';
import { compressFrameSync } from 'lz4-napi';
import { Rng } from '../../src/util/index.ts';
import {
  Compression,
  compress,
  compressAsync,
  decompress,
  decompressAsync,
  compressionCodecOf,
  inspectLz4Frame,
  LZ4_BOUND_SLACK_BYTES,
  RecordError,
  RecordErrorCode,
  XERIAL_BLOCK_INPUT_BYTES,
} from '../../src/record/index.ts';
import { lz4FixtureInput } from './fixtures/lz4-input.ts';

const CODECS = [Compression.none, Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd];
const LIMIT = 64 * 1024 * 1024;

function isCode(code: number, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof RecordError, `expected RecordError, got ${String(e)}`);
    assert.equal(e.kafkaErrorCode, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

function samples(rng: Rng): Buffer[] {
  const text = Buffer.from('holdfast '.repeat(20_000));
  return [Buffer.alloc(0), Buffer.from('x'), rng.bytes(1000), text, rng.bytes(XERIAL_BLOCK_INPUT_BYTES), rng.bytes(XERIAL_BLOCK_INPUT_BYTES * 3 + 17)];
}

test('every codec round trips, sync and async, in every combination', async () => {
  const rng = new Rng(99);
  for (const codec of CODECS) {
    for (const data of samples(rng)) {
      const a = compress(codec, data);
      const b = await compressAsync(codec, data);
      assert.deepEqual(decompress(codec, a, LIMIT), data, `codec ${codec} sync, ${data.length} bytes`);
      assert.deepEqual(await decompressAsync(codec, b, LIMIT), data, `codec ${codec} async, ${data.length} bytes`);
      assert.deepEqual(decompress(codec, b, LIMIT), data);
      assert.deepEqual(await decompressAsync(codec, a, LIMIT), data);
    }
  }
});

test('compression names and ids resolve; unknown ones are RecordErrors', () => {
  assert.equal(compressionCodecOf('zstd'), 4);
  assert.equal(compressionCodecOf(2), 2);
  assert.throws(() => compressionCodecOf('brotli' as never), isCode(RecordErrorCode.CORRUPT_MESSAGE));
  assert.throws(() => compressionCodecOf(5 as never), isCode(RecordErrorCode.CORRUPT_MESSAGE));
  assert.throws(() => decompress(6, Buffer.from('x'), LIMIT), isCode(RecordErrorCode.CORRUPT_MESSAGE, /unknown compression codec 6/));
});

test('snappy output is xerial-framed with blocks of at most 32 KiB of input', () => {
  const JAVA_XERIAL_BLOCK_BYTES = 32 * 1024; // xerial SnappyOutputStream's default, which Kafka uses
  assert.equal(XERIAL_BLOCK_INPUT_BYTES, JAVA_XERIAL_BLOCK_BYTES);
  const data = new Rng(5).bytes(JAVA_XERIAL_BLOCK_BYTES * 2 + 100);
  const out = compress(Compression.snappy, data);
  assert.deepEqual(out.subarray(0, 16), Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]));
  const declared: number[] = [];
  let pos = 16;
  while (pos < out.length) {
    const length = out.readInt32BE(pos);
    let value = 0; // the raw block's preamble: uncompressed length as an unsigned varint
    for (let i = 0, shift = 0; ; i++, shift += 7) {
      const b = out[pos + 4 + i];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    declared.push(value);
    pos += 4 + length;
  }
  assert.equal(pos, out.length);
  assert.deepEqual(declared, [JAVA_XERIAL_BLOCK_BYTES, JAVA_XERIAL_BLOCK_BYTES, 100]);
  assert.deepEqual(compress(Compression.snappy, Buffer.alloc(0)).length, 16, 'empty input is a bare header');
});

test('snappy: raw (unframed) snappy and concatenated xerial streams are accepted', async () => {
  const data = Buffer.from('raw snappy from a client that skips xerial framing '.repeat(100));
  assert.deepEqual(decompress(Compression.snappy, snappyRaw(data), LIMIT), data);
  assert.deepEqual(await decompressAsync(Compression.snappy, snappyRaw(data), LIMIT), data);
  const first = compress(Compression.snappy, data.subarray(0, 1000));
  const second = compress(Compression.snappy, data.subarray(1000));
  assert.deepEqual(decompress(Compression.snappy, Buffer.concat([first, second]), LIMIT), data);
});

test('snappy: damaged framing and blocks are CORRUPT_MESSAGE', () => {
  const good = compress(Compression.snappy, Buffer.from('abc'.repeat(5000)));
  const corruptCases: Buffer[] = [
    good.subarray(0, good.length - 1), // truncated block
    Buffer.concat([good, Buffer.from([0, 0])]), // trailing partial length
    Buffer.concat([good, Buffer.from([0, 0, 0, 0])]), // zero-length block
    Buffer.concat([good.subarray(0, 16), Buffer.from([0xff, 0xff, 0xff, 0xff, 1])]), // negative length
    Buffer.from([0x05, 0x01, 0x02]), // raw, truncated
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // raw, preamble too long
  ];
  const mangled = Buffer.from(good);
  mangled[30] ^= 0xff;
  mangled[31] ^= 0x55;
  corruptCases.push(mangled);
  for (const data of corruptCases) {
    assert.throws(() => decompress(Compression.snappy, data, LIMIT), (e: unknown) => e instanceof RecordError && (e.kafkaErrorCode === 2 || e.kafkaErrorCode === 10), data.toString('hex').slice(0, 60));
  }
});

test('lz4 frames from the reference lz4 tool decode: linked blocks, block checksums, content size', async () => {
  const input = lz4FixtureInput();
  for (const name of ['independent', 'linked', 'block-checksum-content-size', 'no-content-checksum', 'linked-block-checksum-content-size', 'independent-256k-content-size']) {
    const frame = readFileSync(new URL(`./fixtures/${name}.lz4`, import.meta.url));
    assert.deepEqual(decompress(Compression.lz4, frame, LIMIT), input, name);
    assert.deepEqual(await decompressAsync(Compression.lz4, frame, LIMIT), input, name);
    const info = inspectLz4Frame(frame);
    assert.ok(info.boundBytes >= input.length, `${name}: bound ${info.boundBytes} covers the output`);
    if (name.includes('content-size')) assert.equal(info.contentBytes, input.length);
    assert.equal(info.blockIndependent, !name.startsWith('linked'));
  }
  const legacy = readFileSync(new URL('./fixtures/legacy.lz4', import.meta.url));
  assert.throws(() => decompress(Compression.lz4, legacy, LIMIT), isCode(RecordErrorCode.CORRUPT_MESSAGE, /not the LZ4 frame magic/));
});

test('lz4: truncated frames, trailing bytes and bad checksums are CORRUPT_MESSAGE', () => {
  const frame = readFileSync(new URL('./fixtures/block-checksum-content-size.lz4', import.meta.url));
  const corrupt = isCode(RecordErrorCode.CORRUPT_MESSAGE);
  // lz4-napi alone accepts both of these; the frame walk must not.
  assert.throws(() => decompress(Compression.lz4, frame.subarray(0, frame.length - 5), LIMIT), corrupt);
  assert.throws(() => decompress(Compression.lz4, Buffer.concat([frame, Buffer.from([1])]), LIMIT), corrupt);
  const badBlock = Buffer.from(frame);
  badBlock[40] ^= 1;
  assert.throws(() => decompress(Compression.lz4, badBlock, LIMIT), corrupt);
  const badHeader = Buffer.from(frame);
  badHeader[14] ^= 1; // header checksum byte
  assert.throws(() => decompress(Compression.lz4, badHeader, LIMIT), corrupt);
  for (let cut = 0; cut < 20; cut++) assert.throws(() => decompress(Compression.lz4, frame.subarray(0, cut), LIMIT), corrupt);
});

test('zip bombs: every codec stops at maxOutputBytes with MESSAGE_TOO_LARGE', async () => {
  const zeros = Buffer.alloc(8 * 1024 * 1024);
  const tooLarge = isCode(RecordErrorCode.MESSAGE_TOO_LARGE, /limit of 1048576 decompressed bytes/);
  for (const codec of CODECS) {
    const bomb = compress(codec, zeros);
    if (codec !== Compression.none) assert.ok(bomb.length < zeros.length / 15, `codec ${codec} compresses zeros`);
    assert.throws(() => decompress(codec, bomb, 1024 * 1024), tooLarge, `codec ${codec}`);
    await assert.rejects(decompressAsync(codec, bomb, 1024 * 1024), tooLarge, `codec ${codec} async`);
    assert.equal(decompress(codec, bomb, zeros.length).length, zeros.length, 'exactly at the limit is fine');
    assert.throws(() => decompress(codec, bomb, zeros.length - 1), isCode(RecordErrorCode.MESSAGE_TOO_LARGE));
  }
});

test('zip bombs: snappy is refused from its declared length, before decompressing', () => {
  // A raw block declaring 4 GiB - 1 of output in a handful of bytes.
  const raw = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
  assert.throws(() => decompress(Compression.snappy, raw, LIMIT), isCode(RecordErrorCode.MESSAGE_TOO_LARGE, /declare at least 4294967295/));
  const framed = compress(Compression.snappy, Buffer.alloc(3 * XERIAL_BLOCK_INPUT_BYTES));
  assert.throws(() => decompress(Compression.snappy, framed, 2 * XERIAL_BLOCK_INPUT_BYTES), isCode(RecordErrorCode.MESSAGE_TOO_LARGE));
});

test('zip bombs: lz4 is refused from its frame structure when far over the limit', () => {
  const frame = compressFrameSync(Buffer.alloc(32 * 1024 * 1024));
  const info = inspectLz4Frame(frame);
  assert.ok(info.boundBytes >= 32 * 1024 * 1024);
  assert.ok(info.boundBytes > 1024 * 1024 + LZ4_BOUND_SLACK_BYTES);
  assert.throws(() => decompress(Compression.lz4, frame, 1024 * 1024), isCode(RecordErrorCode.MESSAGE_TOO_LARGE, /may decompress to/));
  // A declared content size over the limit is refused from the header alone.
  const sized = readFileSync(new URL('./fixtures/block-checksum-content-size.lz4', import.meta.url));
  assert.throws(() => decompress(Compression.lz4, sized, 1000), isCode(RecordErrorCode.MESSAGE_TOO_LARGE, /declare 200000 bytes/));
});

test('gzip and zstd garbage is CORRUPT_MESSAGE, including empty input', async () => {
  for (const codec of [Compression.gzip, Compression.zstd]) {
    const good = compress(codec, Buffer.from('hello '.repeat(1000)));
    for (const data of [Buffer.alloc(0), Buffer.from('not compressed'), good.subarray(0, good.length - 4)]) {
      assert.throws(() => decompress(codec, data, LIMIT), isCode(RecordErrorCode.CORRUPT_MESSAGE));
      await assert.rejects(decompressAsync(codec, data, LIMIT), isCode(RecordErrorCode.CORRUPT_MESSAGE));
    }
  }
  assert.deepEqual(decompress(Compression.gzip, zlib.gzipSync(Buffer.alloc(0)), 0), Buffer.alloc(0));
});

test('random garbage never escapes as anything but RecordError', async () => {
  const rng = new Rng(2024);
  for (let i = 0; i < 300; i++) {
    const codec = rng.pick([1, 2, 3, 4]);
    let data: Buffer;
    if (rng.chance(0.5)) data = rng.bytes(rng.int(0, 200));
    else {
      data = Buffer.from(compress(codec, rng.bytes(rng.int(0, 5000))));
      for (let flips = rng.int(1, 4); flips > 0 && data.length > 0; flips--) data[rng.int(0, data.length - 1)] ^= 1 << rng.int(0, 7);
      if (rng.chance(0.3)) data = data.subarray(0, rng.int(0, data.length));
    }
    for (const run of [() => decompress(codec, data, 1 << 20), () => decompressAsync(codec, data, 1 << 20)]) {
      try {
        await run();
      } catch (e) {
        assert.ok(e instanceof RecordError, `codec ${codec} threw ${String(e)}`);
      }
    }
  }
});
