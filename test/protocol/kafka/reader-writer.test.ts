// Reader and Writer primitives: exact encodings, int64 edge behaviour, and bounds on every length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError, Reader, Writer, COPY_RECORDS_BELOW_BYTES } from '../../../src/protocol/kafka/index.ts';
import { Rng } from '../../../src/util/index.ts';

function bytesOf(fill: (w: Writer) => void): Buffer {
  const w = new Writer(16);
  fill(w);
  return w.toBuffer();
}

function hex(fill: (w: Writer) => void): string {
  return bytesOf(fill).toString('hex');
}

function rejects(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.code, 'PROTOCOL_DECODE');
    assert.ok(err.message.includes(field), `message names ${field}: ${err.message}`);
    return true;
  });
}

test('fixed-width integers are big-endian', () => {
  assert.equal(hex((w) => w.int8(-2)), 'fe');
  assert.equal(hex((w) => w.int16(-2)), 'fffe');
  assert.equal(hex((w) => w.uint16(65535)), 'ffff');
  assert.equal(hex((w) => w.int32(0x01020304)), '01020304');
  assert.equal(hex((w) => w.uint32(0xfffffffe)), 'fffffffe');
  assert.equal(hex((w) => w.int64(-2)), 'fffffffffffffffe');
  assert.equal(hex((w) => w.int64(0x0102030405)), '0000000102030405');
  assert.equal(hex((w) => w.bool(true)), '01');
  assert.equal(hex((w) => w.float64(1.5)), '3ff8000000000000');
  const r = new Reader(Buffer.from('fefffe01020304fffffffefffffffffffffffe', 'hex'));
  assert.equal(r.int8('a'), -2);
  assert.equal(r.int16('b'), -2);
  assert.equal(r.int32('c'), 0x01020304);
  assert.equal(r.uint32('d'), 0xfffffffe);
  assert.equal(r.int64('e'), -2);
  assert.equal(r.remaining, 0);
});

test('int64: exact for safe integers, documented behaviour outside (never throws)', () => {
  const rng = new Rng(64);
  for (let i = 0; i < 2000; i++) {
    const v = rng.pick([1, -1]) * Math.floor(rng.next() * Number.MAX_SAFE_INTEGER);
    const r = new Reader(bytesOf((w) => w.int64(v)));
    assert.equal(r.int64('x'), v);
  }
  for (const v of [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0, -0, 2 ** 32, -(2 ** 32), 2 ** 32 - 1, -(2 ** 31) - 1]) {
    assert.equal(new Reader(bytesOf((w) => w.int64(v))).int64('x'), v === 0 ? 0 : v);
  }
  // Above 2^53 reads round to the nearest double.
  assert.equal(new Reader(Buffer.from('0020000000000001', 'hex')).int64('x'), 2 ** 53);
  // int64 max reads as 2^63 and writes back as int64 max; int64 min is exact.
  assert.equal(new Reader(Buffer.from('7fffffffffffffff', 'hex')).int64('x'), 2 ** 63);
  assert.equal(hex((w) => w.int64(2 ** 63)), '7fffffffffffffff');
  assert.equal(hex((w) => w.int64(2 ** 70)), '7fffffffffffffff');
  assert.equal(hex((w) => w.int64(Infinity)), '7fffffffffffffff');
  assert.equal(new Reader(Buffer.from('8000000000000000', 'hex')).int64('x'), -(2 ** 63));
  assert.equal(hex((w) => w.int64(-(2 ** 63))), '8000000000000000');
  assert.equal(hex((w) => w.int64(-Infinity)), '8000000000000000');
  assert.equal(hex((w) => w.int64(NaN)), '0000000000000000');
  assert.equal(hex((w) => w.int64(1.75)), '0000000000000001');
  assert.equal(hex((w) => w.int64(-1.5)), 'fffffffffffffffe');
});

test('varints: Kafka zig-zag and unsigned encodings, exact at the boundaries', () => {
  assert.equal(hex((w) => w.uvarint(0)), '00');
  assert.equal(hex((w) => w.uvarint(127)), '7f');
  assert.equal(hex((w) => w.uvarint(128)), '8001');
  assert.equal(hex((w) => w.uvarint(300)), 'ac02');
  assert.equal(hex((w) => w.uvarint(0xffffffff)), 'ffffffff0f');
  assert.equal(hex((w) => w.varint(-1)), '01');
  assert.equal(hex((w) => w.varint(1)), '02');
  assert.equal(hex((w) => w.varint(-64)), '7f');
  assert.equal(hex((w) => w.varint(-(2 ** 31))), 'ffffffff0f');
  assert.equal(hex((w) => w.varlong(-1)), '01');
  assert.equal(hex((w) => w.varlong(2 ** 40)), '808080808040');
  const rng = new Rng(7);
  for (let i = 0; i < 3000; i++) {
    const i32 = rng.int(-0x80000000, 0x7fffffff);
    const u32 = rng.int(0, 0xffffffff);
    const i64 = rng.pick([1, -1]) * Math.floor(rng.next() * 2 ** rng.int(0, 53));
    const r = new Reader(bytesOf((w) => { w.varint(i32); w.uvarint(u32); w.varlong(i64); w.uvarlong(Math.abs(i64)); }));
    assert.equal(r.varint('a'), i32);
    assert.equal(r.uvarint('b'), u32);
    assert.equal(r.varlong('c'), i64 === 0 ? 0 : i64);
    assert.equal(r.uvarlong('d'), Math.abs(i64));
    assert.equal(r.remaining, 0);
  }
  for (const v of [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    assert.equal(new Reader(bytesOf((w) => w.varlong(v))).varlong('x'), v);
  }
  rejects(() => new Reader(Buffer.from('ffffffff1f', 'hex')).uvarint('tooBig'), 'tooBig');
  rejects(() => new Reader(Buffer.from('ffffffffff01', 'hex')).uvarint('tooLong'), 'tooLong');
  rejects(() => new Reader(Buffer.from('ff', 'hex')).uvarint('truncated'), 'truncated');
  rejects(() => new Reader(Buffer.from('ffffffffffffffffff7f', 'hex')).varlong('over64'), 'over64');
});

test('uuids: canonical lower-case 8-4-4-4-12 hex; malformed uuids are refused on write', () => {
  const id = '0123abcd-4567-89ab-cdef-0123456789ab';
  const buf = bytesOf((w) => w.uuid(id.toUpperCase()));
  assert.equal(buf.toString('hex'), id.replaceAll('-', ''));
  assert.equal(new Reader(buf).uuid('id'), id);
  assert.throws(() => new Writer().uuid('not-a-uuid', 'topicId'), (e: unknown) => e instanceof ProtocolError && e.code === 'PROTOCOL_ENCODE' && e.message.includes('topicId'));
});

test('strings and bytes: classic and compact, null, UTF-8', () => {
  const buf = bytesOf((w) => {
    w.string('héllo');
    w.nullableString(null);
    w.compactString('中文');
    w.compactNullableString(null);
    w.bytes(Buffer.from([1, 2]));
    w.nullableBytes(null);
    w.compactBytes(Buffer.from([3]));
    w.compactNullableBytes(null);
  });
  assert.equal(buf.subarray(0, 8).toString('hex'), '000668c3a96c6c6f');
  const r = new Reader(buf);
  assert.equal(r.string('a'), 'héllo');
  assert.equal(r.nullableString('b'), null);
  assert.equal(r.compactString('c'), '中文');
  assert.equal(r.compactNullableString('d'), null);
  assert.deepEqual(r.bytes('e'), Buffer.from([1, 2]));
  assert.equal(r.nullableBytes('f'), null);
  assert.deepEqual(r.compactBytes('g'), Buffer.from([3]));
  assert.equal(r.compactNullableBytes('h'), null);
  assert.equal(r.remaining, 0);
  assert.throws(() => new Writer().string('x'.repeat(40000), 'big'), (e: unknown) => e instanceof ProtocolError && e.message.includes('32767'));
});

test('bytes are copies by default and slices on request; records are always slices', () => {
  const buf = bytesOf((w) => { w.bytes(Buffer.from('abc')); w.bytes(Buffer.from('def')); w.records(Buffer.from('ghi')); });
  const r = new Reader(buf);
  const copy = r.bytes('a');
  const slice = r.bytes('b', true);
  const records = r.records('c') as Buffer;
  buf.fill(0x7a); // 'z'
  assert.equal(copy.toString(), 'abc');
  assert.equal(slice.toString(), 'zzz');
  assert.equal(records.toString(), 'zzz');
});

test('every length is bounded by the remaining bytes before anything is allocated', () => {
  rejects(() => new Reader(Buffer.from('0005616263', 'hex')).string('Topic.name'), 'Topic.name');
  rejects(() => new Reader(Buffer.from('fffe', 'hex')).nullableString('neg'), 'neg');
  rejects(() => new Reader(Buffer.from('ffff', 'hex')).string('notNull'), 'notNull');
  rejects(() => new Reader(Buffer.from('7fffffff', 'hex')).bytes('bytesLen'), 'bytesLen');
  rejects(() => new Reader(Buffer.from('fffffff0', 'hex')).nullableBytes('negBytes'), 'negBytes');
  rejects(() => new Reader(Buffer.from('ffffffff0f', 'hex')).compactString('compactLen'), 'compactLen');
  rejects(() => new Reader(Buffer.from('00', 'hex')).compactString('compactNull'), 'compactNull');
  rejects(() => new Reader(Buffer.from('7fffffff00', 'hex')).records('recordsLen'), 'recordsLen');
  // A 2^31-1 element array in a 10-byte frame fails at once, allocating nothing.
  const huge = Buffer.from('7fffffff000000000000', 'hex');
  rejects(() => new Reader(huge).arrayLength('Req.topics', 1, false), 'Req.topics');
  rejects(() => new Reader(Buffer.from('ffffffff0f', 'hex')).compactArrayLength('compactArr', 1, true), 'compactArr');
  rejects(() => new Reader(Buffer.from('ffffffff', 'hex')).arrayLength('nullArr', 1, false), 'nullArr');
  rejects(() => new Reader(Buffer.from('fffffffe', 'hex')).arrayLength('negArr', 1, true), 'negArr');
  assert.equal(new Reader(Buffer.from('ffffffff', 'hex')).arrayLength('ok', 1, true), -1);
  // Elements of zero bytes (empty non-flexible structs) are bounded only by the cap.
  assert.equal(new Reader(Buffer.from('000003e8', 'hex')).arrayLength('empty', 0, false), 1000);
  rejects(() => new Reader(Buffer.from('000003e9', 'hex'), 0, 4, { maxArrayLength: 1000 }).arrayLength('capped', 0, false), 'capped');
  // The minimum element size is part of the bound: 3 int32s need 12 bytes.
  rejects(() => new Reader(Buffer.from('00000003' + '00'.repeat(11), 'hex')).arrayLength('ints', 4, false), 'ints');
  assert.equal(new Reader(Buffer.from('00000003' + '00'.repeat(12), 'hex')).arrayLength('ints', 4, false), 3);
});

test('tagged-field sections: unknown tags are skipped, sizes are bounded', () => {
  const r = new Reader(Buffer.from('02' + '05' + '02' + 'abcd' + '00' + '00' + 'ff', 'hex'));
  r.skipTaggedFields('t');
  assert.equal(r.uint8('after'), 0xff);
  rejects(() => new Reader(Buffer.from('01' + '00' + '10' + 'ab', 'hex')).skipTaggedFields('Tags.size'), 'Tags.size');
});

test('Writer: chunks grow without recopying, byteLength is exact, and patching works across chunks', () => {
  const w = new Writer(16);
  const at = w.reserveInt32();
  for (let i = 0; i < 10_000; i++) w.int32(i);
  w.patchInt32(at, 12345);
  assert.equal(w.byteLength, 40_004);
  const chunks = w.toChunks();
  assert.ok(chunks.length > 2, 'several chunks');
  const all = Buffer.concat(chunks);
  assert.equal(all.readInt32BE(0), 12345);
  for (let i = 0; i < 10_000; i += 997) assert.equal(all.readInt32BE(4 + 4 * i), i);
  // A position in a later chunk can be patched too.
  const w2 = new Writer(16);
  for (let i = 0; i < 100; i++) w2.int32(-1);
  const later = w2.reserveInt32();
  w2.int32(7);
  w2.patchInt32(later, 99);
  const b2 = w2.toBuffer();
  assert.equal(b2.readInt32BE(later), 99);
  assert.equal(b2.readInt32BE(later + 4), 7);
});

test('Writer: record chunks are appended without copying; tiny single buffers are copied', () => {
  const a = Buffer.alloc(10, 1);
  const b = Buffer.alloc(COPY_RECORDS_BELOW_BYTES, 2);
  const w = new Writer();
  w.int8(5);
  w.records([a, b]);
  w.int8(6);
  const chunks = w.toChunks();
  assert.ok(chunks.includes(a) && chunks.includes(b), 'Buffer[] chunks are the same objects');
  const w2 = new Writer();
  w2.records(a);
  assert.ok(!w2.toChunks().includes(a), 'a small single Buffer is copied into the current chunk');
  const w3 = new Writer();
  w3.compactRecords(b);
  assert.ok(w3.toChunks().includes(b), 'a large single Buffer is not copied');
  const all = Buffer.concat(chunks);
  assert.equal(all[0], 5);
  assert.equal(all.readInt32BE(1), 10 + COPY_RECORDS_BELOW_BYTES);
  assert.equal(all[all.length - 1], 6);
  assert.throws(() => new Writer().records(null, 'Produce.records', false), (e: unknown) => e instanceof ProtocolError && e.message.includes('Produce.records'));
});
