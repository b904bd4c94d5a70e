// Durable appends written on the event loop (InlineWrites, LogManagerOptions.inlineWriteMaxBytes)
// over the real file system. What must hold: a lone small append is written inline and reads back
// (also after a reopen); appends to two partitions in the same turn, a write above the size limit,
// any write while another durable write is on the thread pool or soon after writes of two other
// logs finished there, and every write for a while after a slow inline one go to the thread pool;
// a zero-fill on the pool and a side log's pool writes do not send them there; a failed inline
// write fails the log as a failed pool write does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FatalStorageError, ManualClock, silentLogger } from '../../src/util/index.ts';
import { InlineWrites, LogManager, NodeFileSystem, type PartitionLog } from '../../src/storage/index.ts';
import { config, CountingFileSystem, markedBatch, openLog, payloadBytes, readAll, withTempDir } from './helpers.ts';

const nodeFs = new NodeFileSystem();

function batch(i: number, bytes = 500): Buffer {
  return markedBatch(i, bytes);
}

function counts(w: InlineWrites): { inline: number; pool: number } {
  return { inline: w.inlineCount, pool: w.poolCount };
}

test('a lone durable append is written on the event loop, reads back, and survives a reopen', async () => {
  await withTempDir(async (dir) => {
    const fs = new CountingFileSystem(nodeFs);
    const clock = new ManualClock();
    const inline = new InlineWrites({ maxBytes: 64 * 1024, clock, quietMs: 0 });
    const log = await openLog(fs, dir, clock, { inlineWrites: inline });
    for (let i = 0; i < 20; i++) await log.append(batch(i), { leaderEpoch: 0 }).durable;
    // The first write opens the segment's O_DSYNC handle (on the thread pool); the rest go inline.
    assert.deepEqual(counts(inline), { inline: 19, pool: 1 });
    assert.equal(fs.get('writevSync:log'), 19);
    assert.equal(fs.get('dsync-write'), 20, 'every append is one O_DSYNC write, inline or not');
    assert.deepEqual(payloadBytes(await readAll(log)), Array.from({ length: 20 }, (_, i) => i + 1));
    await log.close();
    const reopened = await openLog(nodeFs, dir, clock);
    assert.deepEqual(payloadBytes(await readAll(reopened)), Array.from({ length: 20 }, (_, i) => i + 1));
    await reopened.close();
  });
});

test('appends to two partitions in the same turn both go to the thread pool (LogManager shares one InlineWrites)', async () => {
  await withTempDir(async (dataDir) => {
    const clock = new ManualClock();
    const manager = await LogManager.open({ fs: nodeFs, clock, logger: silentLogger, dataDir, onFatal: () => {}, configFor: () => config(), inlineWriteMaxBytes: 64 * 1024 });
    const inline = manager.inlineWrites;
    assert.ok(inline !== undefined);
    const a = await manager.createLog('a', 0, config(), 'id-a');
    const b = await manager.createLog('b', 0, config(), 'id-b');
    for (const log of [a, b]) await log.append(batch(0), { leaderEpoch: 0 }).durable; // opens each handle
    const before = counts(inline);
    await Promise.all([a.append(batch(1), { leaderEpoch: 0 }).durable, b.append(batch(1), { leaderEpoch: 0 }).durable]);
    assert.deepEqual(counts(inline), { inline: before.inline, pool: before.pool + 2 }, 'two partitions written together run in parallel on the pool');
    await a.append(batch(2), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: before.inline + 1, pool: before.pool + 2 }, 'alone again: inline (one other log just written on the pool does not hold it)');
    for (const log of [a, b]) assert.equal((await readAll(log)).length, log === a ? 3 : 2);
    await manager.close();

    const off = await LogManager.open({ fs: nodeFs, clock, logger: silentLogger, dataDir, onFatal: () => {}, configFor: () => config(), inlineWriteMaxBytes: 0 });
    assert.equal(off.inlineWrites, undefined, 'inlineWriteMaxBytes 0: every write on the thread pool');
    await off.close();
  });
});

test('a write above maxBytes, or while another durable write is on the thread pool, goes to the pool', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const inline = new InlineWrites({ maxBytes: 2000, clock, quietMs: 0 });
    const log = await openLog(new CountingFileSystem(nodeFs), dir, clock, { inlineWrites: inline });
    await log.append(batch(0), { leaderEpoch: 0 }).durable;
    const start = counts(inline);
    await log.append(batch(1, 4000), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: start.inline, pool: start.pool + 1 }, 'larger than maxBytes');
    await log.append(batch(2), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: start.inline + 1, pool: start.pool + 1 });
    // Another log's write held on the pool: this one may not go inline meanwhile.
    let release!: () => void;
    const held = inline.pool({}, () => new Promise<void>((r) => (release = r)));
    await log.append(batch(3), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: start.inline + 1, pool: start.pool + 3 });
    release();
    await held;
    await log.append(batch(4), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: start.inline + 2, pool: start.pool + 3 });
    assert.deepEqual(payloadBytes(await readAll(log)), [1, 2, 3, 4, 5]);
    await log.close();
  });
});

test('an inline write of slowMs or more sends every write to the pool for pauseMs', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const fs = new CountingFileSystem(nodeFs);
    const inline = new InlineWrites({ maxBytes: 64 * 1024, clock, slowMs: 25, pauseMs: 5000, quietMs: 0 });
    const log = await openLog(fs, dir, clock, { inlineWrites: inline });
    await log.append(batch(0), { leaderEpoch: 0 }).durable;
    await log.append(batch(1), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: 1, pool: 1 });
    fs.beforeSyncWrite = () => clock.advance(24); // just under slowMs
    await log.append(batch(2), { leaderEpoch: 0 }).durable;
    assert.equal(inline.pauses, 0);
    fs.beforeSyncWrite = () => clock.advance(25); // a disk that stalls
    await log.append(batch(3), { leaderEpoch: 0 }).durable;
    fs.beforeSyncWrite = () => {};
    assert.deepEqual({ ...counts(inline), pauses: inline.pauses }, { inline: 3, pool: 1, pauses: 1 });
    for (let i = 4; i < 7; i++) await log.append(batch(i), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: 3, pool: 4 }, 'paused: the thread pool');
    clock.advance(4999);
    await log.append(batch(7), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: 3, pool: 5 }, 'still paused 1 ms before the end');
    clock.advance(1);
    await log.append(batch(8), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: 4, pool: 5 }, 'inline again');
    assert.deepEqual(payloadBytes(await readAll(log)), Array.from({ length: 9 }, (_, i) => i + 1));
    await log.close();
  });
});

test('a failed inline write fails the log (FatalStorageError, onFatal once), as a failed pool write does', async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const fs = new CountingFileSystem(nodeFs);
    const inline = new InlineWrites({ maxBytes: 64 * 1024, clock, quietMs: 0 });
    const fatal: Error[] = [];
    const log: PartitionLog = await openLog(fs, dir, clock, { inlineWrites: inline, onFatal: (err) => fatal.push(err) });
    await log.append(batch(0), { leaderEpoch: 0 }).durable;
    fs.failWith = (op) => (op === 'writevSync' ? Object.assign(new Error('EIO: injected'), { code: 'EIO' }) : undefined);
    await assert.rejects(log.append(batch(1), { leaderEpoch: 0 }).durable, FatalStorageError);
    assert.equal(log.state, 'failed');
    assert.equal(fatal.length, 1);
    assert.equal(inline.inlineCount, 1, 'the failed write was the inline one');
    assert.throws(() => log.append(batch(2), { leaderEpoch: 0 }));
    await log.close().catch(() => {});
  });
});

test("no inline write until quietMs after writes of two other logs on the thread pool finished; the log's own and one other's do not count", async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const inline = new InlineWrites({ maxBytes: 64 * 1024, clock, quietMs: 5 });
    const fs = new CountingFileSystem(nodeFs);
    const logs: PartitionLog[] = [];
    for (const name of ['a', 'b', 'c']) {
      await nodeFs.mkdir(`${dir}/${name}`);
      logs.push(await openLog(fs, `${dir}/${name}`, clock, { inlineWrites: inline, topic: name }));
    }
    const [a, b, c] = logs;
    let next = 0;
    const appendA = (): Promise<void> => a.append(batch(next++), { leaderEpoch: 0 }).durable.then(() => {});
    await appendA(); // on the pool: opens the handle
    await appendA();
    assert.deepEqual(counts(inline), { inline: 1, pool: 1 }, "right after its own pool write: inline (else a busy log's one pool write would keep it there)");
    await b.append(batch(0), { leaderEpoch: 0 }).durable; // b's first write: on the pool
    await appendA();
    assert.deepEqual(counts(inline), { inline: 2, pool: 2 }, "right after one other log's pool write: inline");
    await c.append(batch(0), { leaderEpoch: 0 }).durable; // c's first write: on the pool
    await appendA();
    clock.advance(4);
    await appendA();
    assert.deepEqual(counts(inline), { inline: 2, pool: 5 }, "0 and 4 ms after b's and c's pool writes: the pool");
    clock.advance(1);
    await appendA();
    await appendA();
    assert.deepEqual(counts(inline), { inline: 4, pool: 5 }, "5 ms after them: inline again");
    assert.deepEqual(payloadBytes(await readAll(a)), Array.from({ length: next }, (_, i) => i + 1));
    for (const log of logs) await log.close();
  });
});

test("a zero-fill on the thread pool does not hold a write off the event loop; another log's durable write there does", async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const inline = new InlineWrites({ maxBytes: 64 * 1024, clock, quietMs: 0 });
    const log = await openLog(new CountingFileSystem(nodeFs), dir, clock, { inlineWrites: inline });
    await log.append(batch(0), { leaderEpoch: 0 }).durable; // on the pool: opens the handle
    const start = counts(inline);
    let releaseFill!: () => void;
    const fill = inline.pool({}, () => new Promise<void>((r) => (releaseFill = r)), 'fill');
    await log.append(batch(1), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: start.inline + 1, pool: start.pool + 1 }, 'beside a zero-fill: inline');
    let releaseWrite!: () => void;
    const write = inline.pool({}, () => new Promise<void>((r) => (releaseWrite = r)));
    await log.append(batch(2), { leaderEpoch: 0 }).durable;
    assert.deepEqual(counts(inline), { inline: start.inline + 1, pool: start.pool + 3 }, 'beside a durable write on the pool: the pool');
    releaseFill();
    releaseWrite();
    await Promise.all([fill, write]);
    assert.deepEqual(payloadBytes(await readAll(log)), [1, 2, 3]);
    await log.close();
  });
});

test("a side log's writes on the thread pool (the broker's __consumer_offsets) do not count among other logs' recent ones", async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock();
    const inline = new InlineWrites({ maxBytes: 64 * 1024, clock, quietMs: 5 });
    const fs = new CountingFileSystem(nodeFs);
    const open = async (name: string, sideLog: boolean): Promise<PartitionLog> => {
      await nodeFs.mkdir(`${dir}/${name}`);
      return openLog(fs, `${dir}/${name}`, clock, { inlineWrites: inline, topic: name, sideLog });
    };
    const a = await open('a', false);
    const b = await open('b', false);
    const offsets = await open('offsets', true);
    let next = 0;
    const appendA = (): Promise<void> => a.append(batch(next++), { leaderEpoch: 0 }).durable.then(() => {});
    await appendA(); // on the pool: opens the handle
    await b.append(batch(0), { leaderEpoch: 0 }).durable; // b's first write: on the pool
    await offsets.append(batch(0), { leaderEpoch: 0 }).durable; // the side log's first write: on the pool
    const start = counts(inline);
    await appendA();
    assert.deepEqual(counts(inline), { inline: start.inline + 1, pool: start.pool }, "after b's and the side log's pool writes: inline (only b counts)");
    const c = await open('c', false);
    await c.append(batch(0), { leaderEpoch: 0 }).durable; // c's first write: on the pool
    await appendA();
    assert.deepEqual(counts(inline), { inline: start.inline + 1, pool: start.pool + 2 }, "after b's and c's pool writes: the pool");
    assert.deepEqual(payloadBytes(await readAll(a)), Array.from({ length: next }, (_, i) => i + 1));
    for (const log of [a, b, c, offsets]) await log.close();
  });
});

test('maxBytes outside [0, 16 MiB] is refused', () => {
  const clock = new ManualClock();
  assert.throws(() => new InlineWrites({ maxBytes: -1, clock }), /maxBytes -1 must be an integer in \[0, 16777216\]/);
  assert.throws(() => new InlineWrites({ maxBytes: 16 * 1024 * 1024 + 1, clock }), /must be an integer in \[0, 16777216\]/);
});
