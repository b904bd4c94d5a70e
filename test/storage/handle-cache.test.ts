// FileHandleCache: a bounded LRU of open handles. Recency is a use counter on each entry (not the
// Map's order, which cost a table rebuild every few writes); these check that eviction still takes
// the least recently used handle that nobody is using.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileHandleCache, type FileHandle, type FileSystem, type OpenMode, SimFileSystem } from '../../src/storage/index.ts';
import { Rng } from '../../src/util/index.ts';

/** A SimFileSystem that tracks which paths have a handle open. */
function trackingFs(): { fs: FileSystem; open: Set<string>; opens: string[] } {
  const sim = new SimFileSystem({ rng: new Rng(1) });
  const open = new Set<string>();
  const opens: string[] = [];
  const fs = new Proxy(sim, {
    get(target, prop, receiver) {
      if (prop !== 'open') return Reflect.get(target, prop, receiver);
      return async (path: string, mode: OpenMode): Promise<FileHandle> => {
        const h = await target.open(path, mode);
        opens.push(path);
        open.add(path);
        return new Proxy(h, {
          get(t, p, r) {
            if (p !== 'close') return Reflect.get(t, p, r);
            return async () => {
              open.delete(path);
              await t.close();
            };
          },
        });
      };
    },
  }) as FileSystem;
  return { fs, open, opens };
}

const touch = (cache: FileHandleCache, path: string) => cache.use(path, 'create', async () => undefined);
const settle = () => new Promise((r) => setImmediate(r));

test('handle cache: evicts the least recently used, keeps what is in use, and counts useNow as a use', async () => {
  const { fs, open, opens } = trackingFs();
  await fs.mkdir('/d');
  const cache = new FileHandleCache(fs, 3);
  for (const p of ['/d/a', '/d/b', '/d/c']) await touch(cache, p);
  assert.deepEqual([...open].sort(), ['/d/a', '/d/b', '/d/c']);
  await touch(cache, '/d/a'); // b is now the least recently used
  await touch(cache, '/d/d');
  await settle();
  assert.deepEqual([...open].sort(), ['/d/a', '/d/c', '/d/d'], 'b went, not a (used again) nor the newer ones');
  assert.equal(cache.useNow('/d/c', 'readwrite', () => 'ran'), 'ran'); // c used: a is the oldest now
  await touch(cache, '/d/e');
  await settle();
  assert.deepEqual([...open].sort(), ['/d/c', '/d/d', '/d/e'], 'a went');
  // A handle in use is not evicted, however old; it goes once given back, if still over the bound.
  let release: () => void = () => undefined;
  const using = cache.use('/d/c', 'readwrite', () => new Promise<void>((r) => (release = r)));
  await settle();
  await touch(cache, '/d/d');
  await touch(cache, '/d/e');
  await touch(cache, '/d/f'); // c is the oldest, but pinned: d goes
  await settle();
  assert.deepEqual([...open].sort(), ['/d/c', '/d/e', '/d/f']);
  assert.equal(cache.openCount, 3);
  release();
  await using;
  const before = opens.length;
  await touch(cache, '/d/e');
  await touch(cache, '/d/f');
  await touch(cache, '/d/c');
  assert.equal(opens.length, before, 'handles in the cache are reused, not opened again');
});
