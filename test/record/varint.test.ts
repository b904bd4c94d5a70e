import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, AssertionError } from '../../src/util/index.ts';
import { ByteReader, RecordError, RecordErrorCode, varintSize, varlongSize, writeVarint, writeVarlong } from '../../src/record/index.ts';
import { requireCjs } from './helpers.ts';

interface KafkaJsEncoder {
  writeVarInt(v: number): KafkaJsEncoder;
  writeVarLong(v: number | bigint): KafkaJsEncoder;
  buffer: Buffer;
}
const KafkaJsEncoder = requireCjs('kafkajs/src/protocol/encoder') as new () => KafkaJsEncoder;

/** Reference zigzag varlong over BigInt, independent of the code under test. */
function referenceVarlong(value: bigint): Buffer {
  let raw = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const bytes: number[] = [];
  while (raw >= 0x80n) {
    bytes.push(Number(raw & 0x7fn) | 0x80);
    raw >>= 7n;
  }
  bytes.push(Number(raw));
  return Buffer.from(bytes);
}

function encodeVarint(value: number): Buffer {
  const buf = Buffer.alloc(8);
  const end = writeVarint(buf, 0, value);
  assert.equal(end, varintSize(value), `size of ${value}`);
  return buf.subarray(0, end);
}

function encodeVarlong(value: number): Buffer {
  const buf = Buffer.alloc(12);
  const end = writeVarlong(buf, 0, value);
  assert.equal(end, varlongSize(value), `size of ${value}`);
  return buf.subarray(0, end);
}

const INT32_EDGES = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 2 ** 20, -(2 ** 20), 2 ** 27, 2 ** 30, 2 ** 31 - 1, -(2 ** 31)];
const INT64_EDGES = [
  ...INT32_EDGES, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 32), 2 ** 35 + 7, 1_700_000_000_000, -1_700_000_000_000,
  2 ** 48, 2 ** 52, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1,
];

test('varint edge values round trip and match kafkajs bytes', () => {
  for (const value of INT32_EDGES) {
    const bytes = encodeVarint(value);
    assert.deepEqual(bytes, new KafkaJsEncoder().writeVarInt(value).buffer, `bytes of ${value}`);
    const reader = new ByteReader(bytes, 0, bytes.length);
    assert.equal(reader.readVarint(), value);
    assert.equal(reader.pos, bytes.length);
  }
});

test('varlong edge values round trip and match a BigInt reference and kafkajs', () => {
  for (const value of INT64_EDGES) {
    const bytes = encodeVarlong(value);
    assert.deepEqual(bytes, referenceVarlong(BigInt(value)), `bytes of ${value}`);
    assert.deepEqual(bytes, new KafkaJsEncoder().writeVarLong(value).buffer, `kafkajs bytes of ${value}`);
    const reader = new ByteReader(bytes, 0, bytes.length);
    assert.equal(reader.readVarlong(), value);
    assert.equal(reader.pos, bytes.length);
  }
});

test('random varints and varlongs round trip in sequence', () => {
  const rng = new Rng(1234);
  const values: Array<[boolean, number]> = [];
  const buf = Buffer.alloc(20_000);
  let pos = 0;
  for (let i = 0; i < 1000; i++) {
    const long = rng.chance(0.5);
    const magnitude = long ? rng.next() * 2 ** rng.int(0, 53) : rng.next() * 2 ** rng.int(0, 31);
    let value = Math.floor(magnitude) * (rng.chance(0.5) ? -1 : 1);
    if (!long) value |= 0;
    if (Object.is(value, -0)) value = 0;
    values.push([long, value]);
    pos = long ? writeVarlong(buf, pos, value) : writeVarint(buf, pos, value);
  }
  const reader = new ByteReader(buf, 0, pos);
  for (const [long, value] of values) assert.equal(long ? reader.readVarlong() : reader.readVarint(), value);
  assert.equal(reader.remaining(), 0);
});

function readFails(bytes: number[], long: boolean, pattern: RegExp): void {
  const reader = new ByteReader(Buffer.from(bytes), 0, bytes.length);
  assert.throws(
    () => (long ? reader.readVarlong() : reader.readVarint()),
    (e: unknown) => e instanceof RecordError && e.kafkaErrorCode === RecordErrorCode.INVALID_RECORD && pattern.test(e.message),
  );
}

test('malformed varints are RecordErrors, never RangeErrors', () => {
  readFails([], false, /past the end/);
  readFails([0x80], false, /past the end/);
  readFails([0xff, 0xff, 0xff, 0xff, 0xff, 0x01], false, /32 bits/);
  readFails([0xff, 0xff, 0xff, 0xff, 0x10], false, /32 bits/);
  readFails([0x80, 0x80], true, /past the end/);
  readFails([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], true, /outside|longer/);
  readFails([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], true, /longer than 10/);
});

test('varlongs beyond ±(2^53 - 1) are rejected, not rounded', () => {
  for (const value of [2n ** 53n, -(2n ** 53n) - 1n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), 2n ** 60n]) {
    const bytes = referenceVarlong(value);
    const reader = new ByteReader(bytes, 0, bytes.length);
    assert.throws(() => reader.readVarlong(), /outside ±2\^53/, `value ${value}`);
  }
  assert.throws(() => writeVarlong(Buffer.alloc(12), 0, 2 ** 53), AssertionError);
  assert.throws(() => writeVarlong(Buffer.alloc(12), 0, 1.5), AssertionError);
  assert.throws(() => writeVarint(Buffer.alloc(12), 0, 2 ** 31), AssertionError);
});

test('reader bounds: skip, readBytes and readInt8 stop at end', () => {
  const reader = new ByteReader(Buffer.from([1, 2, 0xff, 4]), 1, 3);
  assert.deepEqual(reader.readBytes(1), Buffer.from([2]));
  assert.equal(reader.readInt8(), -1);
  assert.throws(() => reader.readInt8(), RecordError);
  assert.throws(() => reader.skip(1), RecordError);
  assert.throws(() => reader.skip(-1), RecordError);
});
