// The tail cache: what it serves and, above all, that its bound is a bound on the memory it keeps
// alive — batches are views of large request frames, so an entry that is evicted but still
// referenced pins a whole frame.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TailCache } from '../../src/storage/tail-cache.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function batch(frame: Buffer, at: number, len: number): Buffer {
  return frame.subarray(at, at + len);
}

test('serves whole batches from the one holding the fetch offset, up to maxBytes (at least one)', () => {
  const c = new TailCache(1 << 20);
  for (let i = 0; i < 10; i++) c.add(i * 10, i * 10 + 9, Buffer.alloc(100, i));
  assert.equal(c.firstOffset, 0);
  assert.deepEqual(c.collect(35, 250, Infinity)?.map((b) => b[0]), [3, 4]);
  assert.deepEqual(c.collect(35, 10, Infinity)?.map((b) => b[0]), [3], 'at least one batch');
  assert.deepEqual(c.collect(0, 1e6, 30)?.map((b) => b[0]), [0, 1, 2], 'stops below maxOffset');
  assert.equal(c.collect(100, 1e6, Infinity), undefined, 'past the end is not cached');
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
