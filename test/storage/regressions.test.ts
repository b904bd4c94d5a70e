// Regression tests for bugs the simulation found, pinned down deterministically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptionError, createMemoryLogger, ManualClock, Rng, silentLogger } from '../../src/util/index.ts';
import { readBatchHeader } from '../../src/record/index.ts';
import { type FileHandle, type FileSystem, LogManager, NodeFileSystem, type OpenMode, SimFileSystem } from '../../src/storage/index.ts';
import { config, makeBatch, openLog, splitBatches, withTempDir } from './helpers.ts';

test('appending after a clean reopen whose index file is empty', async () => {
  await withTempDir(async (dir) => {
    const fs = new NodeFileSystem();
    const cfg = config({ indexIntervalBytes: 50 });
    const log = await openLog(fs, dir, new ManualClock(), { config: cfg });
    await log.append(makeBatch(), { leaderEpoch: 0 }).durable;
    await log.close();
    assert.equal((await readFile(join(dir, '00000000000000000000.index'))).length, 0);
    const reopened = await openLog(fs, dir, new ManualClock(), { config: cfg, cleanShutdown: true, recoveryPoint: 1 });
    const results = Array.from({ length: 50 }, () => reopened.append(makeBatch({ payload: Buffer.alloc(100) }), { leaderEpoch: 0 }));
    await Promise.all(results.map((r) => r.durable));
    assert.equal(reopened.logEndOffset, 51);
    await reopened.close();
  });
});

test('a flipped lastOffsetDelta is reported as corruption, not read as "nothing to return"', async () => {
  await withTempDir(async (dir) => {
    const fs = new NodeFileSystem();
    const cfg = config({ segmentBytes: makeBatch().length });
    const log = await openLog(fs, dir, new ManualClock(), { config: cfg, tailCacheBytes: 0 });
    for (let i = 0; i < 3; i++) await log.append(makeBatch(), { leaderEpoch: 0 }).durable;
    await log.close();
    assert.deepEqual(log.segmentBaseOffsets(), [0, 1, 2], 'one batch per segment');
    const file = join(dir, '00000000000000000001.log');
    const bytes = await readFile(file);
    bytes[25] ^= 0x01; // lastOffsetDelta 0 -> 256, in a sealed segment a clean open does not scan
    await writeFile(file, bytes);
    const reopened = await openLog(fs, dir, new ManualClock(), { config: cfg, cleanShutdown: true, recoveryPoint: 3, tailCacheBytes: 0 });
    assert.equal(reopened.state, 'online');
    await assert.rejects(reopened.read(1, 1_000_000), CorruptionError);
    assert.equal(reopened.state, 'offline');
  });
});

/** Records the order of file-system effects. */
class OrderedFs implements FileSystem {
  readonly inner: FileSystem;
  readonly events: string[] = [];

  constructor(inner: FileSystem) {
    this.inner = inner;
  }
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await this.inner.open(path, mode);
    const events = this.events;
    return {
      ...h,
      read: h.read.bind(h),
      write: async (b, o, l, p) => {
        if (path.endsWith('.tmp')) events.push(`write ${path.split('/').pop()} ${b.subarray(o, o + l).toString().replace(/\n/g, '|')}`);
        return h.write(b, o, l, p);
      },
      writev: async (bufs, p) => {
        events.push(`writev ${path.split('/').pop()} epochs=${bufs.map((b) => b.readInt32BE(12)).join(',')}`);
        return h.writev(bufs, p);
      },
      sync: h.sync.bind(h),
      truncate: h.truncate.bind(h),
      size: h.size.bind(h),
      close: h.close.bind(h),
    };
  }
  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  fileSize(path: string): Promise<number> {
    return this.inner.fileSize(path);
  }
  readdir(path: string): Promise<string[]> {
    return this.inner.readdir(path);
  }
  mkdir(path: string): Promise<void> {
    return this.inner.mkdir(path);
  }
  async rename(from: string, to: string): Promise<void> {
    this.events.push(`rename ${to.split('/').pop()}`);
    await this.inner.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  rmdir(path: string, options: { recursive: boolean }): Promise<void> {
    return this.inner.rmdir(path, options);
  }
  fsyncDir(path: string): Promise<void> {
    return this.inner.fsyncDir(path);
  }
  freeBytes(path: string): Promise<number> {
    return this.inner.freeBytes(path);
  }
}

test('a new leader epoch is checkpointed before any of its data is written, even when appends race the writer', async () => {
  const sim = new SimFileSystem();
  await sim.mkdir('/p');
  const fs = new OrderedFs(sim);
  const log = await openLog(fs, '/p', new ManualClock(), { config: config({ flushMode: 'async' }) });
  const a = log.append(makeBatch(), { leaderEpoch: 0 });
  await Promise.resolve(); // the writer has started on epoch 0's checkpoint
  await Promise.resolve();
  const b = log.append(makeBatch(), { leaderEpoch: 1 });
  await Promise.all([a.durable, b.durable]);
  const epochOneData = fs.events.findIndex((e) => e.startsWith('writev') && e.includes('epochs=') && e.split('epochs=')[1].split(',').includes('1'));
  const epochOneCheckpoint = fs.events.findIndex((e) => e.startsWith('write leader-epoch-checkpoint.tmp') && e.includes('1 1'));
  assert.ok(epochOneCheckpoint >= 0 && epochOneData > epochOneCheckpoint, fs.events.join('\n'));
  await log.close();
});

test('after a kill -9 mid-roll, recovery makes the new segment durable before appending to it', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const sim = new SimFileSystem();
    const clock = new ManualClock();
    const open = () => LogManager.open({ fs: sim.mount(), clock, logger: silentLogger, dataDir: '/d', onFatal: () => {}, configFor: () => config() });
    const m = await open();
    const log = await m.createLog('t', 0, config(), 'id');
    await log.append(makeBatch(), { leaderEpoch: 0 }).durable;
    // The roll got as far as creating the next segment file; its directory entry is not durable.
    const next = await sim.open('/d/t-0/00000000000000000001.log', 'create');
    await next.close();
    sim.restartProcess();

    const m2 = await open();
    const log2 = m2.getLog('t', 0);
    assert.ok(log2);
    assert.deepEqual(log2.segmentBaseOffsets(), [0, 1]);
    await log2.append(makeBatch(), { leaderEpoch: 0 }).durable; // acknowledged (sync mode)
    sim.crash(new Rng(seed));

    const m3 = await open();
    assert.equal(m3.getLog('t', 0)?.logEndOffset, 2, `seed ${seed}: the acknowledged append was lost`);
    assert.deepEqual(splitBatches((await m3.getLog('t', 0)!.read(1, 1000)).chunks).length, 1);
    await m3.close();
  }
});

test('concurrent createLog calls for one partition open it once; concurrent retention passes do not collide', async () => {
  await withTempDir(async (dataDir) => {
    const fs = new NodeFileSystem();
    const m = await LogManager.open({ fs, clock: new ManualClock(), logger: silentLogger, dataDir, onFatal: () => {}, configFor: () => config({ segmentBytes: 200 }) });
    const [a, b] = await Promise.all([m.createLog('c', 0, config({ segmentBytes: 200 }), 'id'), m.createLog('c', 0, config({ segmentBytes: 200 }), 'id')]);
    assert.equal(a, b);
    for (let i = 0; i < 6; i++) await a.append(makeBatch({ payload: Buffer.alloc(80) }), { leaderEpoch: 0 }).durable;
    await a.deleteRecordsBefore(4);
    const deleted = await Promise.all([a.enforceRetention(), a.enforceRetention(), m.runRetention()]);
    assert.equal(deleted[0] + deleted[1], 0, 'deleteRecordsBefore already removed the whole segments below 4');
    assert.ok((await readdir(join(dataDir, 'c-0'))).filter((f) => f.endsWith('.log')).length >= 2);
    await m.close();
  });
});

// Simulation seed 15507 (HOLDFAST_SIM_SCENARIOS=20000): a flipped byte made an index entry read
// "offset 61 at position 0" in a segment whose first batch (at 0) is offset 59. The walk from a
// disagreeing entry is repeated from the segment start, but an entry at position 0 was taken for
// the segment start itself, so the read failed and took the partition offline.
test('an index entry damaged to point at position 0 with a later offset: reads walk from the segment start', async () => {
  await withTempDir(async (dir) => {
    const fs = new NodeFileSystem();
    // Four 2-record batches fill the first segment, a fifth starts the next: the first is sealed,
    // so a clean open loads its index instead of scanning it.
    const cfg = config({ segmentBytes: 4 * makeBatch({ records: 2 }).length, indexIntervalBytes: 1 });
    const log = await openLog(fs, dir, new ManualClock(), { config: cfg, tailCacheBytes: 0 });
    for (let i = 0; i < 5; i++) await log.append(makeBatch({ records: 2 }), { leaderEpoch: 0 }).durable;
    await log.close();
    assert.deepEqual(log.segmentBaseOffsets(), [0, 8]);
    const file = join(dir, '00000000000000000000.index');
    const index = await readFile(file);
    assert.ok(index.length >= 16, `an entry per batch after the first: ${index.length} bytes`);
    // The first entry is a later batch (relative offset 2, position > 0); zero its position.
    assert.equal(index.readInt32BE(0), 2);
    assert.ok(index.readInt32BE(4) > 0);
    index.writeInt32BE(0, 4);
    await writeFile(file, index);
    const lines: string[] = [];
    const reopened = await openLog(fs, dir, new ManualClock(), { config: cfg, cleanShutdown: true, recoveryPoint: 10, tailCacheBytes: 0, logger: createMemoryLogger(lines) });
    for (let offset = 0; offset < 8; offset++) {
      const r = await reopened.read(offset, 1);
      const first = splitBatches(r.chunks)[0];
      const header = readBatchHeader(first, 0);
      assert.ok(header.baseOffset <= offset && offset <= header.baseOffset + header.lastOffsetDelta, `offset ${offset} read as batch ${header.baseOffset}`);
    }
    assert.equal(reopened.state, 'online');
    assert.ok(lines.some((l) => l.includes('index entry disagrees with the segment')), lines.join('\n'));
    await reopened.close();
  });
});
