// The tail cache: what it serves and, above all, that its bound is a bound on the memory it keeps
// alive — batches are views of large request frames, so an entry that is evicted but still
// referenced pins a whole frame.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TailCache, TailCacheBudget } from '../../src/storage/tail-cache.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function batch(frame: Buffer, at: number, len: number): Buffer {
  return frame.subarray(at, at + len);
}

test('serves whole batches from the one holding the fetch offset, up to maxBytes (at least one)', () => {
  const c = new TailCache(1 << 20);
  for (let i = 0; i < 10; i++) c.add(i * 10, i * 10 + 9, Buffer.alloc(100, i));
  assert.equal(c.firstOffset, 0);
  assert.deepEqual(c.collect(35, 250, Infinity)?.chunks.map((b) => b[0]), [3, 4]);
  assert.deepEqual(c.collect(35, 10, Infinity)?.chunks.map((b) => b[0]), [3], 'at least one batch');
  assert.deepEqual(c.collect(0, 1e6, 30)?.chunks.map((b) => b[0]), [0, 1, 2], 'stops below maxOffset');
  assert.equal(c.collect(100, 1e6, Infinity), undefined, 'past the end is not cached');
  const some = c.collect(35, 250, Infinity);
  assert.deepEqual([some?.bytes, some?.nextOffset], [200, 50], 'size and the offset after the last batch returned');
  assert.deepEqual(c.collect(0, 1e6, 5), { chunks: [], bytes: 0, nextOffset: -1 }, 'nothing below maxOffset');
  c.add(500, 509, Buffer.alloc(100));
  assert.equal(c.firstOffset, 500, 'a gap clears the cache');
});

test('counts each underlying buffer once, whole, and evicts down to its bound', () => {
  const c = new TailCache(3 * 4096);
  const frames = Array.from({ length: 5 }, () => Buffer.alloc(4096));
  let offset = 0;
  for (const f of frames) {
    // Four batches per frame: the frame is pinned once.
    for (let k = 0; k < 4; k++, offset++) c.add(offset, offset, batch(f, k * 1024, 1024));
    assert.ok(c.bytes <= c.maxBytes, `${c.bytes} > ${c.maxBytes}`);
  }
  assert.equal(c.bytes, 3 * 4096);
  assert.equal(c.firstOffset, 8, 'the two oldest frames are gone');
  // A buffer larger than the bound is never cached (and clears the cache, keeping it contiguous).
  c.add(offset, offset, Buffer.alloc(4 * 4096));
  assert.equal(c.bytes, 0);
  assert.equal(c.firstOffset, undefined);
});

test('an evicted batch keeps no frame alive', async () => {
  // Each frame is 1 MiB; the cache may pin at most 2 of them. Before the fix, evicted entries
  // stayed referenced until 1,024 of them had accumulated, pinning ~1 GiB per partition.
  const c = new TailCache(2 << 20);
  const refs: Array<WeakRef<ArrayBuffer>> = [];
  (() => {
    for (let i = 0; i < 64; i++) {
      const frame = Buffer.allocUnsafeSlow(1 << 20);
      refs.push(new WeakRef(frame.buffer as ArrayBuffer));
      c.add(i, i, batch(frame, 0, 1000));
    }
  })();
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.map((r, i) => (r.deref() === undefined ? -1 : i)).filter((i) => i >= 0);
  assert.deepEqual(alive, [62, 63], 'only the frames of the cached batches are alive');
  assert.equal(c.bytes, 2 << 20);
});

test('a shared budget bounds what all caches pin together, evicting the oldest entries first', () => {
  const budget = new TailCacheBudget(10 * 1024);
  const caches = Array.from({ length: 4 }, () => new TailCache(8 * 1024, budget));
  const next = [0, 0, 0, 0];
  const add = (i: number): void => {
    caches[i].add(next[i], next[i], Buffer.alloc(1024));
    next[i]++;
  };
  // Round-robin: 4 caches × 8 entries of 1 KiB would pin 32 KiB; the budget allows 10.
  for (let round = 0; round < 8; round++) for (let i = 0; i < 4; i++) add(i);
  assert.equal(budget.bytes, 10 * 1024);
  assert.equal(caches.reduce((n, c) => n + c.bytes, 0), budget.bytes);
  // The newest 10 entries survive: rounds 6-7 of every cache and round 5 of caches 2 and 3.
  assert.deepEqual(caches.map((c) => c.firstOffset), [6, 6, 5, 5]);
  // One busy cache takes the budget from idle ones, oldest first, up to its own bound.
  for (let k = 0; k < 12; k++) add(0);
  assert.equal(caches[0].bytes, 8 * 1024, 'its own bound still holds');
  assert.equal(budget.bytes, 10 * 1024);
  assert.deepEqual(caches.map((c) => c.bytes), [8192, 0, 1024, 1024]);
  // clear() gives its bytes back.
  caches[0].clear();
  assert.equal(budget.bytes, 2 * 1024);
});

test('a budget whose caches clear and evict on their own keeps no unbounded bookkeeping', () => {
  const budget = new TailCacheBudget(1 << 30);
  const cache = new TailCache(4 * 1024, budget);
  for (let i = 0; i < 100_000; i++) {
    cache.add(i, i, Buffer.alloc(1024));
    if (i % 1000 === 999) cache.clear();
  }
  assert.equal(budget.bytes, cache.bytes);
  // Internal: the order list is compacted once stale records outnumber live entries.
  const order = (budget as unknown as { order: unknown[]; head: number }).order.length - (budget as unknown as { head: number }).head;
  assert.ok(order <= 2048 + 4, `bookkeeping holds ${order} records for ${cache.bytes / 1024} entries`);
});
