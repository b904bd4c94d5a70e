// FrameDecoder: TCP may split or merge frames anywhere; the decoder must give the same frames
// however the bytes arrive (nats.js' byByteTest idea), and refuse hostile sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME_UPFRONT_BYTES, FrameDecoder, FrameError, FrameReader, ProtocolError } from '../../../src/protocol/kafka/index.ts';
import { Rng } from '../../../src/util/index.ts';

function frame(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(payload.length);
  return Buffer.concat([prefix, payload]);
}

function stream(rng: Rng, count: number): { bytes: Buffer; payloads: Buffer[] } {
  const payloads: Buffer[] = [];
  for (let i = 0; i < count; i++) payloads.push(rng.bytes(rng.pick([0, 1, 3, 4, 5, 17, 300, 5000])));
  return { bytes: Buffer.concat(payloads.map(frame)), payloads };
}

function feed(decoder: FrameDecoder, pieces: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const p of pieces) out.push(...decoder.push(p));
  return out;
}

test('byte-by-byte feeding gives the same frames as whole-buffer feeding', () => {
  const { bytes, payloads } = stream(new Rng(1), 40);
  const whole = feed(new FrameDecoder(1 << 20), [bytes]);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1));
  const byByte = feed(new FrameDecoder(1 << 20), pieces);
  assert.deepEqual(whole, payloads);
  assert.deepEqual(byByte, payloads);
});

test('random splits, including splits inside the size prefix, give the same frames', () => {
  const rng = new Rng(2);
  for (let round = 0; round < 200; round++) {
    const { bytes, payloads } = stream(rng, rng.int(0, 12));
    const pieces: Buffer[] = [];
    let at = 0;
    while (at < bytes.length) {
      const n = rng.int(0, 9) === 0 ? 0 : rng.int(1, rng.pick([3, 8, 100, 6000]));
      pieces.push(bytes.subarray(at, at + n));
      at += n;
    }
    const decoder = new FrameDecoder(1 << 20);
    assert.deepEqual(feed(decoder, pieces), payloads, `round ${round}`);
    assert.equal(decoder.bufferedBytes, 0);
  }
});

test('frames inside one chunk are zero-copy slices; many frames per chunk', () => {
  const chunk = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.alloc(0)), frame(Buffer.from('three')), Buffer.from([0, 0])]);
  const decoder = new FrameDecoder(100);
  const frames = decoder.push(chunk);
  assert.deepEqual(frames.map(String), ['one', '', 'three']);
  assert.equal(frames[0].buffer, chunk.buffer);
  assert.equal(decoder.bufferedBytes, 2);
  assert.deepEqual(decoder.push(Buffer.from([0, 1, 9])).map((f) => [...f]), [[9]]);
});

test('a large frame fed in tiny pieces is assembled once (no quadratic copying)', () => {
  const payload = new Rng(3).bytes(256 * 1024);
  const bytes = frame(payload);
  const decoder = new FrameDecoder(1 << 20);
  const frames: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 7) frames.push(...decoder.push(bytes.subarray(i, i + 7)));
  assert.equal(frames.length, 1);
  assert.ok(frames[0].equals(payload));
});

test('a size above the limit or below zero throws FrameError naming size and limit', () => {
  const big = Buffer.alloc(4);
  big.writeInt32BE(1001);
  const decoder = new FrameDecoder(1000);
  assert.throws(() => decoder.push(big), (e: unknown) => {
    assert.ok(e instanceof FrameError && e instanceof ProtocolError);
    assert.equal(e.frameBytes, 1001);
    assert.equal(e.maxFrameBytes, 1000);
    assert.match(e.message, /1001.*1000/);
    return true;
  });
  // The decoder stays failed: the caller closes the connection.
  assert.throws(() => decoder.push(Buffer.alloc(0)), FrameError);

  const negative = new FrameDecoder(1000);
  assert.throws(() => negative.push(Buffer.from([0xff, 0xff, 0xff, 0xfe])), (e: unknown) => e instanceof FrameError && e.frameBytes === -2);
  // Also when the prefix arrives split and after a good frame.
  const split = new FrameDecoder(1000);
  assert.deepEqual(split.push(Buffer.concat([frame(Buffer.from('ok')), Buffer.from([0x80])])).map(String), ['ok']);
  assert.throws(() => split.push(Buffer.from([0, 0, 0])), (e: unknown) => e instanceof FrameError && e.frameBytes === -(2 ** 31));
  // Exactly the limit is fine.
  assert.equal(new FrameDecoder(5).push(frame(Buffer.alloc(5))).length, 1);
});

/** Plays a socket with onread: each read copies up to `sizes()` bytes into reader.nextBuffer(). */
function readAll(reader: FrameReader, bytes: Buffer, sizes: () => number): Buffer[] {
  return readAdmitted(reader, bytes, sizes, () => assert.fail('held without an admission function'));
}

test('FrameReader: any read sizes, including splits inside the size prefix, give the same frames', () => {
  const rng = new Rng(4);
  for (let round = 0; round < 200; round++) {
    const { bytes, payloads } = stream(rng, rng.int(0, 12));
    const reader = new FrameReader(1 << 20, rng.pick([8, 64, 1000, 65536]));
    assert.deepEqual(readAll(reader, bytes, () => rng.int(1, rng.pick([3, 8, 100, 6000]))), payloads, `round ${round}`);
    assert.equal(reader.bufferedBytes, 0);
  }
  const { bytes, payloads } = stream(new Rng(5), 40);
  assert.deepEqual(readAll(new FrameReader(1 << 20, 8), bytes, () => 1), payloads, 'byte by byte');
});

test('FrameReader: a frame larger than one read is read straight into its own buffer; the frames returned are never overwritten', () => {
  const big = new Rng(6).bytes(300 * 1024);
  const small = Buffer.from('small');
  const bytes = Buffer.concat([frame(small), frame(big), frame(small)]);
  const reader = new FrameReader(1 << 20, 1024);
  const first = reader.nextBuffer();
  bytes.copy(first, 0, 0, 1024);
  assert.deepEqual(reader.filled(1024).map(String), ['small']);
  // The rest of the big frame goes to a region of the frame's buffer, not to the scratch.
  const target = reader.nextBuffer();
  assert.equal(target.length, big.length - (1024 - 9 - 4));
  assert.notEqual(target.buffer, first.buffer);
  bytes.copy(target, 0, 1024, 1024 + target.length);
  const [whole] = reader.filled(target.length);
  assert.ok(whole.equals(big));
  assert.equal(whole.buffer, target.buffer, 'the completed frame is the buffer the kernel read into');
  // The scratch is reused for the next read; the frames already returned keep their bytes.
  const kept = Buffer.from(whole);
  const rest = readAll(reader, bytes.subarray(1024 + target.length), () => 1024);
  assert.deepEqual(rest.map(String), ['small']);
  assert.ok(whole.equals(kept));
});

test('FrameReader: memory follows the bytes that arrived: a large announced frame grows as it fills, and still arrives whole', () => {
  const max = 64 * 1024 * 1024;
  // Four bytes announcing the largest frame allowed cost the up-front size, not the announced one.
  const hostile = new FrameReader(max, 1024);
  hostile.nextBuffer().writeInt32BE(max, 0);
  assert.deepEqual(hostile.filled(4), []);
  assert.equal(hostile.allocatedBytes, FRAME_UPFRONT_BYTES);
  assert.equal(hostile.nextBuffer().length, FRAME_UPFRONT_BYTES);

  // A real frame above the up-front size: the buffer doubles, never past twice what arrived (or
  // the frame's size), and the frame is byte for byte what was sent.
  const big = new Rng(9).bytes(FRAME_UPFRONT_BYTES * 2 + 12345);
  const bytes = Buffer.concat([frame(big), frame(Buffer.from('after'))]);
  const reader = new FrameReader(max, 4096);
  const out: Buffer[] = [];
  let at = 0;
  let peak = 0;
  while (at < bytes.length) {
    const target = reader.nextBuffer();
    peak = Math.max(peak, reader.allocatedBytes);
    const n = Math.min(target.length, 1 << 20, bytes.length - at);
    bytes.copy(target, 0, at, at + n);
    at += n;
    out.push(...reader.filled(n));
    if (out.length === 0) assert.ok(reader.allocatedBytes <= Math.max(FRAME_UPFRONT_BYTES, 2 * at), `${reader.allocatedBytes} bytes held after ${at} arrived`);
  }
  assert.equal(out.length, 2);
  assert.ok(out[0].equals(big));
  assert.equal(String(out[1]), 'after');
  assert.equal(peak, big.length, 'the last growth stops at the frame size');
  assert.equal(reader.allocatedBytes, 0);
  // Random read sizes across the growth points give the same frames.
  const rng = new Rng(10);
  assert.deepEqual(readAll(new FrameReader(max, 64), bytes, () => rng.int(1, 3_000_000)).map((f) => f.length), [big.length, 5]);
});

test('FrameReader: a size above the limit or below zero throws FrameError, and the reader stays failed', () => {
  const reader = new FrameReader(1000, 64);
  const target = reader.nextBuffer();
  target.writeInt32BE(1001, 0);
  assert.throws(() => reader.filled(4), (e: unknown) => e instanceof FrameError && e.frameBytes === 1001 && e.maxFrameBytes === 1000);
  assert.throws(() => reader.filled(0), FrameError);
  const negative = new FrameReader(1000, 64);
  negative.nextBuffer().writeInt32BE(-2, 0);
  assert.throws(() => negative.filled(4), (e: unknown) => e instanceof FrameError && e.frameBytes === -2);
  assert.throws(() => new FrameReader(1000, 4), RangeError);
});

test('FrameReader: an allocator chooses every frame\'s buffer, seeing the bytes that came with its size prefix; null leaves it to the reader', () => {
  const big = new Rng(12).bytes(200 * 1024);
  const other = new Rng(13).bytes(150 * 1024);
  const bytes = Buffer.concat([frame(big), frame(other), frame(Buffer.from('small')), frame(Buffer.from('whole'))]);
  const asked: Array<{ frameBytes: number; head: string; complete: boolean }> = [];
  const given: Buffer[] = [];
  const reader = new FrameReader(1 << 20, 1024, (frameBytes, head, complete) => {
    asked.push({ frameBytes, head: head.subarray(0, 5).toString('hex'), complete });
    if (asked.length === 2 || asked.length === 3) return null;
    const b = Buffer.alloc(frameBytes);
    given.push(b);
    return b;
  });
  const frames = readAll(reader, bytes, () => 4096);
  assert.equal(frames.length, 4);
  assert.ok(frames[0].equals(big) && frames[1].equals(other) && String(frames[2]) === 'small' && String(frames[3]) === 'whole');
  assert.equal(frames[0], given[0], 'a frame longer than its first read is the buffer the allocator gave');
  assert.equal(frames[3], given[1], 'so is a frame that came whole, copied out of the scratch');
  assert.deepEqual(asked, [
    { frameBytes: big.length, head: big.subarray(0, 5).toString('hex'), complete: false },
    { frameBytes: other.length, head: other.subarray(0, 5).toString('hex'), complete: false },
    { frameBytes: 5, head: Buffer.from('small').toString('hex'), complete: true },
    { frameBytes: 5, head: Buffer.from('whole').toString('hex'), complete: true },
  ], 'asked once per frame, with the bytes that came with the size prefix (all of a frame that came whole)');
  // A frame whose size prefix ends its read: the allocator sees no bytes of it.
  const heads: number[] = [];
  const edge = new FrameReader(1 << 20, 1024, (_n, head) => (heads.push(head.length), null));
  const one = frame(big);
  edge.nextBuffer().set(one.subarray(0, 4));
  assert.deepEqual(edge.filled(4), []);
  assert.deepEqual(heads, [0]);
  // The allocator must give exactly the frame's size.
  const wrong = new FrameReader(1 << 20, 1024, (n) => Buffer.alloc(n - 1));
  wrong.nextBuffer().set(one.subarray(0, 100));
  assert.throws(() => wrong.filled(100), /gave 204799 bytes for a frame of 204800/);
});

/**
 * Plays a socket read with onread into a reader with admission: `onHeld` is called after each read
 * that leaves it held, and reading stops while `canRead` is false (the socket's pause). Every read
 * goes into the nextBuffer() asked for just before it, as the broker points its socket's next read
 * there whenever reading restarts.
 */
function readAdmitted(reader: FrameReader, bytes: Buffer, sizes: () => number, onHeld: (out: Buffer[]) => Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length || reader.isHeld) {
    if (!reader.canRead || at === bytes.length) {
      out.push(...onHeld(out));
      continue;
    }
    const target = reader.nextBuffer();
    assert.ok(target.length > 0, 'nextBuffer() is not empty while reading is allowed');
    const n = Math.min(target.length, sizes(), bytes.length - at);
    bytes.copy(target, 0, at, at + n);
    at += n;
    out.push(...reader.filled(n));
    if (reader.isHeld) out.push(...onHeld(out));
  }
  return out;
}

test('FrameReader admission: asked once per frame, on its size prefix; a frame refused holds the reader, which keeps only what fits its scratch until resume(), however the bytes arrive', () => {
  const rng = new Rng(21);
  for (let round = 0; round < 300; round++) {
    const { bytes, payloads } = stream(rng, rng.int(1, 12));
    const asked: number[] = [];
    const refuse = new Set<number>([rng.int(0, payloads.length - 1), rng.int(0, payloads.length - 1)]);
    const scratch = rng.pick([8, 64, 1000, 65536]);
    let heldSince = -1;
    const reader = new FrameReader(1 << 20, scratch, null, (size) => {
      asked.push(size);
      return !refuse.has(asked.length - 1);
    });
    const out = readAdmitted(reader, bytes, () => rng.int(1, rng.pick([3, 8, 100, 6000])), (sofar) => {
      // Held before the frame just asked about; everything before it came out.
      assert.deepEqual(sofar, payloads.slice(0, asked.length - 1), `round ${round}: frames before the refused one`);
      assert.equal(asked.at(-1), payloads[asked.length - 1].length);
      assert.ok(reader.bufferedBytes <= scratch, `round ${round}: held bytes stay in the scratch`);
      if (heldSince !== asked.length && rng.int(0, 2) > 0 && reader.canRead) {
        heldSince = asked.length; // stay held while more arrives, once
        return [];
      }
      heldSince = -1;
      return reader.resume();
    });
    assert.deepEqual(out, payloads, `round ${round}`);
    assert.deepEqual(asked, payloads.map((p) => p.length), `round ${round}: asked once per frame, in order`);
    assert.equal(reader.bufferedBytes, 0);
    assert.equal(reader.isHeld, false);
  }
});

test('FrameReader admission: reads fill the scratch while held until canRead is false; resume() while not held throws; allocators are asked only for frames admitted', () => {
  const allocated: number[] = [];
  let admit = false;
  const reader = new FrameReader(1 << 20, 64, (n) => (allocated.push(n), null), () => admit);
  const big = frame(Buffer.alloc(1000, 7));
  let target = reader.nextBuffer();
  big.copy(target, 0, 0, 40);
  assert.deepEqual(reader.filled(40), []);
  assert.ok(reader.isHeld && reader.canRead);
  assert.deepEqual(allocated, [], 'nothing allocated for a frame not admitted');
  target = reader.nextBuffer();
  assert.equal(target.length, 24, 'the scratch behind the held bytes');
  big.copy(target, 0, 40, 64);
  assert.deepEqual(reader.filled(24), []);
  assert.equal(reader.canRead, false, 'scratch full: stop reading');
  admit = true;
  assert.deepEqual(reader.resume(), []);
  assert.deepEqual(allocated, [1000]);
  assert.ok(!reader.isHeld && reader.canRead);
  target = reader.nextBuffer();
  assert.equal(target.length, 1000 - 60, 'the rest goes straight into the frame');
  big.copy(target, 0, 64);
  const frames = reader.filled(target.length);
  assert.equal(frames.length, 1);
  assert.ok(frames[0].equals(Buffer.alloc(1000, 7)));
  assert.throws(() => reader.resume(), /not held/);
});
