// ReceiveSlabs: a pooled buffer goes back to the free list only when every reference is given
// back (and, for a carving slab, once frames are no longer carved from it); then it is handed out
// again, poisoned if asked. Misuse (a reference after it went back, one given back twice) throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiveSlabs } from '../../src/util/index.ts';

const KiB = 1024;

test('small frames are carved from one slab, which is reused only after every frame and reference is gone', () => {
  const pool = new ReceiveSlabs({ slabBytes: 64 * KiB, largeStepBytes: 16 * KiB, poison: true });
  const a = pool.take(10 * KiB)!;
  const b = pool.take(10 * KiB)!;
  assert.equal(a.buffer, b.buffer, 'carved from one slab');
  assert.equal(a.length, 10 * KiB);
  a.fill(1);
  b.fill(2);
  pool.retain(b); // e.g. the tail cache
  pool.release(a);
  pool.release(b);
  // Still the carving slab: frames keep coming from it, nothing goes back.
  const c = pool.take(10 * KiB)!;
  assert.equal(c.buffer, a.buffer);
  pool.release(c);
  assert.equal(pool.freeListBytes, 0);
  // Until a frame does not fit: then a new slab; the old one still has b's second reference.
  let d = pool.take(16 * KiB)!;
  while (d.buffer === a.buffer) {
    pool.release(d);
    d = pool.take(16 * KiB)!;
  }
  assert.equal(pool.freeListBytes, 0);
  assert.deepEqual([...new Set(b)], [2], 'held bytes untouched');
  pool.release(b);
  assert.equal(pool.freeListBytes, 64 * KiB, 'the last reference sends it back');
  assert.equal(pool.recycled, 1);
  assert.deepEqual([...new Set(new Uint8Array(a.buffer))], [0xdb], 'poisoned');
  assert.throws(() => pool.retain(b), /already given back/);
  assert.throws(() => pool.release(b), /given back twice/);
  // d's slab fills up; the pool hands the free one out again.
  let e = pool.take(16 * KiB)!;
  while (e.buffer === d.buffer) e = pool.take(16 * KiB)!;
  assert.equal(e.buffer, a.buffer, 'reused');
  assert.equal(pool.reused, 1);
  assert.equal(pool.allocated, 2);
});

test('large frames get a buffer each, rounded up to the step, reused by size', () => {
  const pool = new ReceiveSlabs({ slabBytes: 64 * KiB, largeStepBytes: 16 * KiB, maxFrameBytes: 100 * KiB });
  const a = pool.take(20 * KiB)!;
  assert.equal(a.length, 20 * KiB);
  assert.equal(a.buffer.byteLength, 32 * KiB);
  pool.release(a);
  assert.equal(pool.freeListBytes, 32 * KiB);
  const other = pool.take(40 * KiB)!;
  assert.notEqual(other.buffer, a.buffer, 'another size class');
  const again = pool.take(30 * KiB)!;
  assert.equal(again.buffer, a.buffer, 'same class: reused');
  assert.equal(pool.take(101 * KiB), null, 'above the pooled maximum');
  assert.equal(pool.take(0), null);
});

test('memory that is not pooled is ignored; the free list is bounded', () => {
  const pool = new ReceiveSlabs({ slabBytes: 64 * KiB, largeStepBytes: 16 * KiB, maxFreeBytes: 40 * KiB });
  const plain = Buffer.alloc(100);
  pool.retain(plain);
  pool.release(plain);
  pool.release(plain);
  const a = pool.take(32 * KiB)!;
  const b = pool.take(32 * KiB)!;
  pool.release(a);
  pool.release(b);
  assert.equal(pool.freeListBytes, 32 * KiB, 'the second went to the garbage collector');
  assert.throws(() => pool.retain(b), /already given back/, 'and may not be used again');
});

test('a large frame with no free buffer of its size class takes the smallest free one up to twice its size', () => {
  const pool = new ReceiveSlabs({ slabBytes: 64 * KiB, largeStepBytes: 16 * KiB, maxFrameBytes: 1024 * KiB });
  const big = pool.take(200 * KiB)!; // 208 KiB class
  const bigger = pool.take(300 * KiB)!; // 304 KiB class
  const huge = pool.take(900 * KiB)!;
  pool.release(huge);
  pool.release(bigger);
  pool.release(big);
  const a = pool.take(150 * KiB)!; // 160 KiB class: none free; 208 is the smallest within 2x
  assert.equal(a.buffer, big.buffer);
  assert.equal(a.length, 150 * KiB);
  const b = pool.take(150 * KiB)!; // 304 KiB is within 2x of 160 KiB, 900 KiB is not
  assert.equal(b.buffer, bigger.buffer);
  const c = pool.take(150 * KiB)!;
  assert.ok(c.buffer !== huge.buffer, 'a buffer more than twice the size is not used');
  assert.equal(c.buffer.byteLength, 160 * KiB);
  // Given back, a buffer goes to the list of its own size and serves that size again.
  pool.release(a);
  assert.equal(pool.take(200 * KiB)!.buffer, big.buffer);
  assert.equal(pool.reused, 3);
});
