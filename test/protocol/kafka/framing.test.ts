// FrameDecoder: TCP may split or merge frames anywhere; the decoder must give the same frames
// however the bytes arrive (nats.js' byByteTest idea), and refuse hostile sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, FrameError, ProtocolError } from '../../../src/protocol/kafka/index.ts';
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
