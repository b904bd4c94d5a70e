// PartitionLog over the real file system (temp directories): appends, reads, rolling, retention,
// timestamps, clean reopen, crash recovery, corruption, index rebuilds, group commit, fatal fsync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptionError, createMemoryLogger, FatalStorageError, ManualClock } from '../../src/util/index.ts';
import { readBatchHeader } from '../../src/record/index.ts';
import { NodeFileSystem, OffsetOutOfRangeError, type PartitionLog } from '../../src/storage/index.ts';
import { baseOffsetOf, config, CountingFileSystem, makeBatch, ManualTimers, openLog, readAll, splitBatches, withTempDir } from './helpers.ts';

const fs = new NodeFileSystem();
const T0 = 1_700_000_000_000;

async function appendAll(log: PartitionLog, batches: Buffer[], leaderEpoch = 0): Promise<{ baseOffset: number; lastOffset: number }[]> {
  const results = batches.map((b) => log.append(b, { leaderEpoch }));
  await Promise.all(results.map((r) => r.durable));
  return results.map(({ baseOffset, lastOffset }) => ({ baseOffset, lastOffset }));
}

function payload(i: number, bytes = 100): Buffer {
  return Buffer.alloc(bytes, i % 251);
}

test('append then read returns the same batches with offsets and epoch patched', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock());
    const originals = Array.from({ length: 10 }, (_, i) => makeBatch({ records: 3, payload: payload(i) }));
    const copies = originals.map((b) => Buffer.from(b));
    const placed = await appendAll(log, originals, 7);
    assert.deepEqual(placed.map((p) => p.baseOffset), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    assert.equal(log.logEndOffset, 30);
    assert.equal(log.highWatermark, 30);
    assert.equal(log.recoveryPoint, 30);
    const read = await readAll(log, 0);
    assert.equal(read.length, 10);
    for (let i = 0; i < 10; i++) {
      const h = readBatchHeader(read[i]);
      assert.equal(h.baseOffset, i * 3);
      assert.equal(h.partitionLeaderEpoch, 7);
      assert.deepEqual(read[i].subarray(16), copies[i].subarray(16), 'bytes after the patched fields are unchanged');
    }
    await log.close();
  });
});

test('reads return whole batches from the one containing a mid-batch offset, and at least one batch', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock(), { tailCacheBytes: 0 });
    await appendAll(log, Array.from({ length: 6 }, (_, i) => makeBatch({ records: 5, payload: payload(i, 200) })));
    const mid = await log.read(7, 1_000_000);
    assert.deepEqual(splitBatches(mid.chunks).map(baseOffsetOf), [5, 10, 15, 20, 25]);
    const tiny = await log.read(12, 1);
    assert.deepEqual(splitBatches(tiny.chunks).map(baseOffsetOf), [10], 'one whole batch even though it exceeds maxBytes');
    const size = makeBatch({ payload: payload(0, 200) }).length;
    const two = await log.read(0, Math.floor(size * 2.5));
    assert.deepEqual(splitBatches(two.chunks).map(baseOffsetOf), [0, 5]);
    assert.deepEqual([mid.nextOffset, tiny.nextOffset, two.nextOffset], [30, 15, 10], 'the offset after the last batch returned');
    assert.deepEqual(await log.read(30, 1000), { chunks: [], bytes: 0, nextOffset: -1 }, 'fetch at the end is empty');
    await assert.rejects(log.read(31, 1000), OffsetOutOfRangeError);
    const limited = await log.read(0, 1_000_000, { maxOffset: 15 });
    assert.deepEqual(splitBatches(limited.chunks).map(baseOffsetOf), [0, 5, 10], 'maxOffset bounds the read');
    assert.equal(limited.nextOffset, 15);
    await log.close();
  });
});

test('the tail cache serves the same bytes as the files', async () => {
  await withTempDir(async (dir) => {
    await fs.mkdir(join(dir, 'a'));
    const cached = await openLog(fs, join(dir, 'a'), new ManualClock());
    await appendAll(cached, Array.from({ length: 20 }, (_, i) => makeBatch({ records: 2, payload: payload(i, 300) })));
    const fromCache = await cached.read(9, 2000);
    await cached.close();
    const reopened = await openLog(fs, join(dir, 'a'), new ManualClock(), { cleanShutdown: true, recoveryPoint: 40 });
    const fromDisk = await reopened.read(9, 2000);
    assert.deepEqual(Buffer.concat(fromCache.chunks), Buffer.concat(fromDisk.chunks));
    assert.equal(fromCache.nextOffset, fromDisk.nextOffset);
    assert.ok(fromDisk.nextOffset > 9 && fromDisk.nextOffset < 40, 'the byte limit left later batches out');
    assert.ok(fromDisk.bytes > 0);
    await reopened.close();
  });
});

test('readCached answers without I/O what read would, and defers the rest to read', async () => {
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    await fs.mkdir(join(dir, 'a'));
    const log = await openLog(counting, join(dir, 'a'), new ManualClock());
    await appendAll(log, Array.from({ length: 10 }, (_, i) => makeBatch({ records: 2, payload: payload(i, 300) })));
    const reads = (): number => counting.get('read:log');
    const before = reads();
    assert.deepEqual(log.readCached(log.highWatermark, 1000), { chunks: [], bytes: 0, nextOffset: -1 }, 'nothing past the high watermark');
    const cached = log.readCached(4, 1000);
    assert.ok(cached !== undefined && cached.bytes > 0);
    assert.deepEqual(Buffer.concat(cached.chunks), Buffer.concat((await log.read(4, 1000)).chunks));
    assert.equal(reads(), before, 'no file read');
    assert.throws(() => log.readCached(21, 1000), OffsetOutOfRangeError);
    await log.close();
    // Reopened, the cache is empty: the file has it.
    const reopened = await openLog(counting, join(dir, 'a'), new ManualClock(), { cleanShutdown: true, recoveryPoint: 20 });
    assert.equal(reopened.readCached(4, 1000), undefined);
    assert.deepEqual(Buffer.concat((await reopened.read(4, 1000)).chunks), Buffer.concat(cached.chunks));
    assert.ok(reads() > before);
    await reopened.close();
  });
});

test('segments roll by size and by time, and reads cross segments', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock(T0);
    const batchBytes = makeBatch({ payload: payload(0, 100) }).length;
    const log = await openLog(fs, dir, clock, { config: config({ segmentBytes: batchBytes * 3, segmentMs: 60_000 }), tailCacheBytes: 0 });
    await appendAll(log, Array.from({ length: 7 }, (_, i) => makeBatch({ payload: payload(i, 100) })));
    assert.deepEqual(log.segmentBaseOffsets(), [0, 3, 6], 'rolled when the next batch would not fit');
    clock.advance(60_000);
    await appendAll(log, [makeBatch({ payload: payload(9, 100) })]);
    assert.deepEqual(log.segmentBaseOffsets(), [0, 3, 6, 7], 'rolled because the active segment was older than segment.ms');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    assert.deepEqual(files, ['00000000000000000000.log', '00000000000000000003.log', '00000000000000000006.log', '00000000000000000007.log']);
    assert.ok((await readdir(dir)).includes('00000000000000000003.index'), 'sealed segments have index files');
    assert.equal((await readAll(log, 0)).length, 8);
    await log.close();
  });
});

test('retention deletes old sealed segments by time and by size, never the active one', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock(T0);
    const batchBytes = makeBatch({ payload: payload(0, 100) }).length;
    const log = await openLog(fs, dir, clock, { config: config({ segmentBytes: batchBytes * 2, retentionMs: 20_000 }) });
    for (let i = 0; i < 6; i++) {
      await appendAll(log, [makeBatch({ payload: payload(i, 100), baseTimestamp: clock.nowMs() })]);
      clock.advance(5_000);
    }
    // segments: [0,1] ts T0,T0+5s  [2,3] T0+10s,T0+15s  [4,5] T0+20s,T0+25s (active). now = T0+30s
    assert.deepEqual(log.segmentBaseOffsets(), [0, 2, 4]);
    assert.equal(await log.enforceRetention(), 1, 'only the first segment is older than 20 s');
    assert.equal(log.logStartOffset, 2);
    await assert.rejects(log.read(1, 1000), OffsetOutOfRangeError);
    clock.advance(1_000_000);
    assert.equal(await log.enforceRetention(), 1, 'the active segment is never deleted');
    assert.deepEqual(log.segmentBaseOffsets(), [4]);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.log')), ['00000000000000000004.log']);
    await log.close();
  });
  await withTempDir(async (dir) => {
    const clock = new ManualClock(T0);
    const batchBytes = makeBatch({ payload: payload(0, 100) }).length;
    const log = await openLog(fs, dir, clock, { config: config({ segmentBytes: batchBytes * 2, retentionMs: -1, retentionBytes: batchBytes * 3 }) });
    await appendAll(log, Array.from({ length: 7 }, (_, i) => makeBatch({ payload: payload(i, 100) })));
    assert.deepEqual(log.segmentBaseOffsets(), [0, 2, 4, 6]);
    assert.equal(await log.enforceRetention(), 2, 'deletes oldest segments while the rest still exceeds retention.bytes');
    assert.deepEqual(log.segmentBaseOffsets(), [4, 6]);
    assert.equal(log.logStartOffset, 4);
    await log.close();
  });
});

test('offsetForTimestamp finds the first batch whose max timestamp is at or after the target', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock(), { config: config({ segmentBytes: 1000, indexIntervalBytes: 100 }) });
    const batches = Array.from({ length: 30 }, (_, i) => makeBatch({ records: 2, payload: payload(i, 80), baseTimestamp: T0 + i * 10, maxTimestamp: T0 + i * 10 + 5 }));
    await appendAll(log, batches);
    assert.ok(log.segmentBaseOffsets().length > 3);
    assert.deepEqual(await log.offsetForTimestamp(0), { offset: 0, timestampMs: T0 + 5 });
    assert.deepEqual(await log.offsetForTimestamp(T0 + 105), { offset: 20, timestampMs: T0 + 105 });
    assert.deepEqual(await log.offsetForTimestamp(T0 + 106), { offset: 22, timestampMs: T0 + 115 });
    assert.equal(await log.offsetForTimestamp(T0 + 1000), null);
    await log.close();
    const reopened = await openLog(fs, dir, new ManualClock(), { config: config({ segmentBytes: 1000, indexIntervalBytes: 100 }), cleanShutdown: true, recoveryPoint: 60 });
    assert.deepEqual(await reopened.offsetForTimestamp(T0 + 106), { offset: 22, timestampMs: T0 + 115 }, 'same answer from loaded time indexes');
    await reopened.close();
  });
});

test('close then reopen keeps everything, and a clean reopen does not rescan the segments', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const cfg = config({ segmentBytes: 64 * 1024, indexIntervalBytes: 1024 });
    const log = await openLog(fs, dir, clock, { config: cfg });
    const batches = Array.from({ length: 400 }, (_, i) => makeBatch({ records: 4, payload: payload(i, 500), producerId: 5, producerEpoch: 0, baseSequence: i * 4 }));
    await appendAll(log, batches);
    const before = await readAll(log, 0);
    const totalBytes = log.sizeBytes;
    await log.close();

    const counting = new CountingFileSystem(fs);
    // cleanOpenScanBytes 0: even the active segment is loaded from its index files, not scanned.
    const clean = await openLog(counting, dir, clock, { config: cfg, cleanShutdown: true, recoveryPoint: 1600, cleanOpenScanBytes: 0 });
    assert.equal(clean.state, 'online');
    assert.equal(clean.logEndOffset, 1600);
    const sealed = clean.segmentBaseOffsets().slice(0, -1);
    assert.ok(sealed.length >= 2);
    let logBytesRead = 0;
    for (const [path, n] of counting.bytesRead) {
      if (!path.endsWith('.log')) continue;
      logBytesRead += n;
      // A sealed segment is only touched to check its last index entry's batch header.
      if (sealed.some((base) => path.endsWith(`${String(base).padStart(20, '0')}.log`))) assert.ok(n <= 61, `clean open read ${n} bytes of sealed ${path}`);
    }
    assert.ok(logBytesRead < totalBytes / 10, `clean open read ${logBytesRead} of ${totalBytes} log bytes`);
    assert.deepEqual(await readAll(clean, 0), before);
    assert.equal(clean.producers.get(5)?.batches.at(-1)?.lastSeq, 1599, 'producer state from the snapshot');
    await clean.close();

    const counting2 = new CountingFileSystem(fs);
    const unclean = await openLog(counting2, dir, clock, { config: cfg });
    let scanned = 0;
    for (const [path, n] of counting2.bytesRead) if (path.endsWith('.log')) scanned += n;
    assert.ok(scanned >= totalBytes, 'without a clean shutdown every segment is scanned');
    assert.deepEqual(await readAll(unclean, 0), before);
    await unclean.close();
  });
});

async function logFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
}

test('recovery truncates exactly the torn tail of the active segment and logs what it dropped', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const log = await openLog(fs, dir, clock);
    const batchBytes = makeBatch({ records: 2, payload: payload(0, 300) }).length;
    await appendAll(log, Array.from({ length: 5 }, (_, i) => makeBatch({ records: 2, payload: payload(i, 300) })));
    await log.close();
    const file = join(dir, (await logFiles(dir))[0]);
    await truncate(file, batchBytes * 4 + 100); // the fifth batch is cut mid-way
    await appendFile(file, Buffer.alloc(4096)); // and the file system shows a zero-filled extent
    const lines: string[] = [];
    const recovered = await openLog(fs, dir, clock, { logger: createMemoryLogger(lines), recoveryPoint: 6 });
    assert.equal(recovered.state, 'online');
    assert.equal(recovered.logEndOffset, 8);
    assert.equal((await stat(file)).size, batchBytes * 4, 'file truncated at the last whole batch');
    const warn = lines.find((l) => l.includes('torn tail'));
    assert.ok(warn, lines.join('\n'));
    assert.match(warn, new RegExp(`droppedBytes=${100 + 4096}`));
    assert.match(warn, /firstDroppedOffset=8/);
    assert.equal((await readAll(recovered, 0)).length, 4);
    const next = recovered.append(makeBatch({ payload: payload(9) }), { leaderEpoch: 0 });
    assert.equal(next.baseOffset, 8, 'the log accepts appends after the torn tail');
    await next.durable;
    await recovered.close();
  });
});

test('a bad batch below the recovery point is corruption, not a torn tail: offline, nothing deleted', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const log = await openLog(fs, dir, clock);
    await appendAll(log, Array.from({ length: 5 }, (_, i) => makeBatch({ records: 2, payload: payload(i, 300) })));
    await log.close();
    const file = join(dir, (await logFiles(dir))[0]);
    const size = (await stat(file)).size;
    await truncate(file, size - 50);
    const recovered = await openLog(fs, dir, clock, { recoveryPoint: 10 });
    assert.equal(recovered.state, 'offline');
    assert.match(recovered.offlineReason ?? '', /below the recovery point 10/);
    assert.equal((await stat(file)).size, size - 50, 'nothing truncated');
  });
});

test('corruption in a sealed segment takes the partition offline with a clear reason and leaves the files alone', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const batchBytes = makeBatch({ payload: payload(0, 200) }).length;
    const cfg = config({ segmentBytes: batchBytes * 4 });
    const log = await openLog(fs, dir, clock, { config: cfg });
    await appendAll(log, Array.from({ length: 10 }, (_, i) => makeBatch({ payload: payload(i, 200) })));
    await log.close();
    const first = join(dir, (await logFiles(dir))[0]);
    const bytes = await readFile(first);
    bytes[batchBytes + 100] ^= 0x10; // a record byte of the second batch
    await writeFile(first, bytes);
    const snapshotOf = async () => new Map(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f))] as const)));
    const filesBefore = await snapshotOf();

    const scanned = await openLog(fs, dir, clock, { config: cfg });
    assert.equal(scanned.state, 'offline');
    assert.match(scanned.offlineReason ?? '', /00000000000000000000\.log/);
    assert.match(scanned.offlineReason ?? '', new RegExp(`CRC-32C mismatch in batch at offset 1 at position ${batchBytes}`));
    assert.throws(() => scanned.append(makeBatch(), { leaderEpoch: 0 }), /offline/);
    assert.deepEqual(await snapshotOf(), filesBefore, 'no file was changed or deleted');

    // After a clean shutdown nothing is scanned, but the read path checks every batch.
    const clean = await openLog(fs, dir, clock, { config: cfg, cleanShutdown: true, recoveryPoint: 10, tailCacheBytes: 0 });
    assert.equal(clean.state, 'online');
    const firstRead = await clean.read(0, 1);
    assert.equal(splitBatches(firstRead.chunks).length, 1, 'batches before the corrupt one are served');
    await assert.rejects(clean.read(1, 100_000), CorruptionError);
    assert.equal(clean.state, 'offline');
    assert.deepEqual(await snapshotOf(), filesBefore);
  });
});

test('missing or garbage index files are rebuilt from the log', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const cfg = config({ segmentBytes: 4000, indexIntervalBytes: 300 });
    const log = await openLog(fs, dir, clock, { config: cfg });
    await appendAll(log, Array.from({ length: 40 }, (_, i) => makeBatch({ records: 3, payload: payload(i, 200), baseTimestamp: T0 + i })));
    const before = await readAll(log, 0);
    await log.close();
    const files = await readdir(dir);
    const indexes = files.filter((f) => f.endsWith('.index')).sort();
    assert.ok(indexes.length >= 3);
    await rm(join(dir, indexes[0]));
    await writeFile(join(dir, indexes[1]), Buffer.from('this is not an index!!!!'));
    await writeFile(join(dir, indexes[1].replace('.index', '.timeindex')), Buffer.alloc(24, 0xff));
    const lines: string[] = [];
    const reopened = await openLog(fs, dir, clock, { config: cfg, cleanShutdown: true, recoveryPoint: 120, logger: createMemoryLogger(lines), tailCacheBytes: 0 });
    assert.equal(reopened.state, 'online');
    assert.equal(lines.filter((l) => l.includes('rebuilding segment index')).length, 2, lines.join('\n'));
    assert.deepEqual(await readAll(reopened, 0), before);
    for (const offset of [0, 17, 50, 100, 119]) {
      const { chunks } = await reopened.read(offset, 1);
      const h = readBatchHeader(chunks[0]);
      assert.ok(h.baseOffset <= offset && offset <= h.baseOffset + h.lastOffsetDelta);
    }
    assert.equal((await reopened.offsetForTimestamp(T0 + 20))?.offset, 60);
    await reopened.close();
  });
});

test('group commit: 100 concurrent appends in sync mode share far fewer than 100 fsyncs', async () => {
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    const log = await openLog(counting, dir, new ManualClock());
    const results = [];
    for (let i = 0; i < 100; i++) {
      results.push(log.append(makeBatch({ payload: payload(i) }), { leaderEpoch: 0 }));
      if (i % 10 === 9) await new Promise((r) => setImmediate(r)); // appends keep arriving while fsyncs run
    }
    await Promise.all(results.map((r) => r.durable));
    const syncs = counting.get('sync:log');
    assert.ok(syncs >= 1 && syncs <= 20, `100 appends took ${syncs} fsyncs`);
    assert.equal(log.recoveryPoint, 100);
    await log.close();
  });
});

test('sync mode writes appends through an O_DSYNC handle (no separate fdatasync); async mode writes plainly and fsyncs on flush', async () => {
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    const log = await openLog(counting, dir, new ManualClock());
    const fdatasyncs = counting.get('fdatasync:log');
    await appendAll(log, [makeBatch(), makeBatch(), makeBatch()]);
    assert.ok(counting.get('dsync-write:log') >= 1, 'durable writes');
    assert.equal(counting.get('fdatasync:log'), fdatasyncs, 'no fdatasync besides');
    assert.equal(log.recoveryPoint, 3);
    assert.equal(log.highWatermark, 3);
    await log.close();
  });
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    const log = await openLog(counting, dir, new ManualClock(), { config: config({ flushMode: 'async' }) });
    await appendAll(log, [makeBatch(), makeBatch()]);
    assert.equal(counting.get('dsync-write:log'), 0);
    const fdatasyncs = counting.get('fdatasync:log');
    await log.flush();
    assert.equal(counting.get('fdatasync:log'), fdatasyncs + 1);
    assert.equal(log.recoveryPoint, 2);
    await log.close();
  });
});

test('a failed fsync is fatal: failed state, onFatal once, pending and later appends rejected, no retry', async () => {
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    let fatalCalls = 0;
    const log = await openLog(counting, dir, new ManualClock(), { onFatal: () => fatalCalls++ });
    await appendAll(log, [makeBatch()]);
    counting.failWith = (op, path) => (op === 'sync' && path.endsWith('.log') ? Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }) : undefined);
    const doomed = [log.append(makeBatch(), { leaderEpoch: 0 }), log.append(makeBatch(), { leaderEpoch: 0 })];
    for (const d of doomed) await assert.rejects(d.durable, FatalStorageError);
    const syncsAfterFailure = counting.get('sync:log');
    assert.equal(log.state, 'failed');
    assert.match(log.offlineReason ?? '', /EIO/);
    assert.equal(fatalCalls, 1);
    assert.throws(() => log.append(makeBatch(), { leaderEpoch: 0 }), FatalStorageError);
    await assert.rejects(log.flush(), FatalStorageError);
    assert.equal(log.highWatermark, 1, 'nothing unsynced became visible');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(counting.get('sync:log'), syncsAfterFailure, 'the fsync was not retried');
    assert.equal(fatalCalls, 1);
    await log.close(); // releases files; the log stays failed
    assert.equal(log.state, 'failed');
  });
});

test('async flush mode: durable after the write, fsync by flush(), message count and interval', async () => {
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    const timers = new ManualTimers();
    const clock = new ManualClock();
    const log = await openLog(counting, dir, clock, { timers, config: config({ flushMode: 'async', flushIntervalMessages: 10, flushIntervalMs: 1000 }) });
    const syncsAtOpen = counting.get('sync:log');
    await appendAll(log, [makeBatch({ records: 3 })]);
    assert.equal(counting.get('sync:log'), syncsAtOpen, 'no fsync before acknowledging in async mode');
    assert.equal(log.highWatermark, 3);
    assert.equal(log.recoveryPoint, 0);
    await log.flush();
    assert.equal(counting.get('sync:log'), syncsAtOpen + 1);
    assert.equal(log.recoveryPoint, 3);
    await appendAll(log, [makeBatch({ records: 10 })]);
    for (let i = 0; i < 200 && log.recoveryPoint < 13; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(log.recoveryPoint, 13, 'flush.interval.messages reached');
    assert.equal(counting.get('sync:log'), syncsAtOpen + 2);
    await appendAll(log, [makeBatch({ records: 1 })]);
    assert.equal(log.recoveryPoint, 13);
    timers.advance(1000);
    for (let i = 0; i < 200 && log.recoveryPoint < 14; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(log.recoveryPoint, 14, 'flush.interval.ms timer fsynced');
    assert.equal(counting.get('sync:log'), syncsAtOpen + 3);
    await log.close();
  });
});

test('reconfigure: async to sync fsyncs what was written before the change takes effect, and appends after it are durable before acknowledged; sync to async stops fsyncing', async () => {
  await withTempDir(async (dir) => {
    const counting = new CountingFileSystem(fs);
    const timers = new ManualTimers();
    const log = await openLog(counting, dir, new ManualClock(), { timers, config: config({ flushMode: 'async', flushIntervalMessages: 1000, flushIntervalMs: 60_000 }) });
    await appendAll(log, [makeBatch({ records: 3 })]);
    assert.equal(log.highWatermark, 3);
    assert.equal(log.recoveryPoint, 0, 'async: acknowledged unsynced');
    const syncs = counting.get('sync:log');
    // Queued behind an append: that one is written under the old config, then the change fsyncs it.
    const before = log.append(makeBatch({ records: 2 }), { leaderEpoch: 0 });
    const change = log.reconfigure(config({ flushMode: 'sync' }));
    await before.durable;
    await change;
    assert.equal(counting.get('sync:log'), syncs + 1, 'one fsync for what async wrote');
    assert.equal(log.recoveryPoint, 5);
    assert.equal(log.highWatermark, 5, 'the high watermark did not move back');
    await appendAll(log, [makeBatch({ records: 1 })]);
    assert.ok(counting.get('dsync-write:log') >= 1, 'sync: durable writes');
    assert.equal(log.recoveryPoint, 6);

    await log.reconfigure(config({ flushMode: 'async', flushIntervalMessages: 1000, flushIntervalMs: 60_000, retentionMs: 1234 }));
    const dsyncs = counting.get('dsync-write:log');
    const syncsNow = counting.get('sync:log');
    await appendAll(log, [makeBatch({ records: 4 })]);
    assert.equal(counting.get('dsync-write:log'), dsyncs, 'async again: plain writes');
    assert.equal(counting.get('sync:log'), syncsNow, 'and no fsync before acknowledging');
    assert.equal(log.highWatermark, 10);
    assert.equal(log.recoveryPoint, 6);
    assert.throws(() => log.reconfigure(config({ segmentBytes: 1 })), /segment.bytes = 1/, 'an invalid config is refused before it is queued');
    await log.close();
  });
});

test('onData wakes a long poll on new data, once; cancels; is bounded; wakes everyone when the log closes', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock(), { maxWaiters: 2 });
    let woke = 0;
    const cancel = log.onData(0, () => woke++);
    assert.equal(typeof cancel, 'function');
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, 0);
    await appendAll(log, [makeBatch()]);
    assert.equal(woke, 1, 'woken once the high watermark passed the offset');
    await appendAll(log, [makeBatch()]);
    assert.equal(woke, 1, 'and only once');
    assert.equal(log.onData(0, () => woke++), undefined, 'data already there: nothing to wait for');
    // A cancelled wait is not woken, and frees its place under the bound.
    let cancelledWoke = false;
    const hw = log.highWatermark;
    log.onData(hw, () => (cancelledWoke = true))?.();
    const wakes: string[] = [];
    assert.ok(log.onData(hw, () => wakes.push('a')) !== undefined);
    assert.ok(log.onData(hw, () => wakes.push('b')) !== undefined);
    assert.equal(log.onData(hw, () => wakes.push('c')), undefined, 'over maxWaiters: the caller polls again');
    await log.close();
    assert.equal(cancelledWoke, false);
    assert.deepEqual(wakes.sort(), ['a', 'b'], 'closing the log wakes every waiter');
    assert.equal(log.onData(hw, () => wakes.push('d')), undefined, 'a closed log takes no waiters');
  });
});

test('onData: waiters are woken in order, only those the data passed; a wake may cancel others or wait again', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock(), { maxWaiters: 100 });
    await appendAll(log, [makeBatch({ records: 2 })]); // high watermark 2
    const wakes: string[] = [];
    const cancels = new Map<string, () => void>();
    const wait = (name: string, offset: number, then?: () => void) => {
      const cancel = log.onData(offset, () => {
        wakes.push(name);
        then?.();
      });
      assert.ok(cancel !== undefined, `${name} waits`);
      cancels.set(name, cancel);
    };
    wait('a', 2);
    // b's wake cancels c (after it in the list) and waits again at the new high watermark.
    wait('b', 2, () => {
      cancels.get('c')!();
      wait('b2', log.highWatermark);
    });
    wait('c', 2);
    wait('far', 10); // the next append does not reach it
    wait('d', 3);
    cancels.get('a')!(); // cancelled before any data: never woken
    await appendAll(log, [makeBatch({ records: 2 })]); // high watermark 4
    assert.deepEqual(wakes, ['b', 'd'], 'in the order they came; c cancelled by b, far not reached, a cancelled');
    cancels.get('b')!(); // after its wake: nothing
    await appendAll(log, [makeBatch({ records: 2 })]); // 6
    assert.deepEqual(wakes, ['b', 'd', 'b2'], 'the wait b registered while being woken is woken by the next data');
    for (let i = 0; i < 50; i++) wait(`w${i}`, log.highWatermark);
    for (let i = 0; i < 50; i += 2) cancels.get(`w${i}`)!();
    await appendAll(log, [makeBatch({ records: 2 })]); // 8
    assert.deepEqual(wakes.slice(3), Array.from({ length: 25 }, (_, k) => `w${2 * k + 1}`), 'the 25 not cancelled, in order');
    await appendAll(log, [makeBatch({ records: 4 })]); // 12: passes far
    assert.deepEqual(wakes.slice(28), ['far']);
    wait('last', log.highWatermark);
    await log.close();
    assert.deepEqual(wakes.slice(29), ['last'], 'closing wakes who is left');
  });
});

test('deleteRecordsBefore advances the log start offset and frees whole segments', async () => {
  await withTempDir(async (dir) => {
    const batchBytes = makeBatch().length;
    const log = await openLog(fs, dir, new ManualClock(), { config: config({ segmentBytes: batchBytes * 2 }) });
    await appendAll(log, Array.from({ length: 6 }, () => makeBatch()));
    await log.deleteRecordsBefore(3);
    assert.equal(log.logStartOffset, 3);
    assert.deepEqual(log.segmentBaseOffsets(), [2, 4]);
    await assert.rejects(log.read(2, 100), OffsetOutOfRangeError);
    assert.equal(baseOffsetOf(splitBatches((await log.read(3, 100)).chunks)[0]), 3);
    await assert.rejects(log.deleteRecordsBefore(100), OffsetOutOfRangeError);
    await log.close();
  });
});

test('append rejects malformed input without changing the log', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock());
    const bad = makeBatch();
    bad[bad.length - 1] ^= 1;
    assert.throws(() => log.append(bad, { leaderEpoch: 0 }), /CRC/);
    assert.throws(() => log.append(Buffer.alloc(30), { leaderEpoch: 0 }), /less than a 61-byte header/);
    const short = makeBatch();
    short.writeInt32BE(10_000, 8);
    assert.throws(() => log.append(short, { leaderEpoch: 0 }), /extends past the end/);
    assert.equal(log.logEndOffset, 0);
    const two = Buffer.concat([makeBatch({ records: 2 }), makeBatch({ records: 3 })]);
    const r = log.append(two, { leaderEpoch: 0 });
    assert.deepEqual([r.baseOffset, r.lastOffset], [0, 4], 'several batches in one append get contiguous offsets');
    await r.durable;
    assert.deepEqual(splitBatches((await log.read(0, 10_000)).chunks).map(baseOffsetOf), [0, 2]);
    await log.close();
  });
});

test('leader epochs are checkpointed and survive reopen', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(fs, dir, new ManualClock());
    await appendAll(log, [makeBatch()], 0);
    await appendAll(log, [makeBatch(), makeBatch()], 3);
    await appendAll(log, [makeBatch()], 5);
    assert.deepEqual(log.leaderEpochs.all(), [{ epoch: 0, startOffset: 0 }, { epoch: 3, startOffset: 1 }, { epoch: 5, startOffset: 3 }]);
    assert.equal((await readFile(join(dir, 'leader-epoch-checkpoint'), 'utf8')), '0\n3\n0 0\n3 1\n5 3\n');
    await log.close();
    await rm(join(dir, 'leader-epoch-checkpoint'));
    const reopened = await openLog(fs, dir, new ManualClock(), { cleanShutdown: true, recoveryPoint: 4 });
    assert.deepEqual(reopened.leaderEpochs.all(), [{ epoch: 0, startOffset: 0 }, { epoch: 3, startOffset: 1 }, { epoch: 5, startOffset: 3 }], 'rebuilt from batch headers');
    assert.deepEqual(reopened.leaderEpochs.endOffsetFor(4, reopened.logEndOffset), { epoch: 3, endOffset: 3 });
    await reopened.close();
  });
});
