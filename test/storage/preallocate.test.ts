// Preallocation (PartitionLogOptions.preallocateBytes) over the real file system: zeros written
// ahead of a sync log's data, a fill at a time, so that O_DSYNC appends overwrite allocated blocks. What must hold:
// appends read back as written, never overwritten by zeros; a sealed or cleanly closed segment is
// cut back to its data; a crash leaves zeros that recovery trims without calling them a torn tail;
// a failed zero-fill write only stops preallocation, a failed fsync is fatal as any.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryLogger, FatalStorageError, ManualClock } from '../../src/util/index.ts';
import { type FileHandle, NodeFileSystem, type OpenMode, type PartitionLog } from '../../src/storage/index.ts';
import { config, CountingFileSystem, makeBatch, markedBatch, openLog, payloadBytes, readAll, splitBatches, wholeBatchesEnd, withTempDir } from './helpers.ts';

const nodeFs = new NodeFileSystem();
const FILL = 16 * 1024;

function batch(i: number): Buffer {
  return markedBatch(i, 2000);
}

/** Appends one batch at a time (each its own write, as a steady producer's); returns the bytes. */
async function appendEach(log: PartitionLog, from: number, count: number): Promise<number> {
  let bytes = 0;
  for (let i = from; i < from + count; i++) {
    const b = batch(i);
    await log.append(b, { leaderEpoch: 0 }).durable;
    bytes += b.length;
  }
  return bytes;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.log')).sort().map((f) => join(dir, f));
}

/** Waits (polling, bounded) until the file is longer than `bytes`: a zero-fill ran. */
async function waitLonger(file: string, bytes: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const size = (await stat(file)).size;
    if (size > bytes) return size;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`${file} never grew past its ${bytes} bytes of data: nothing was preallocated`);
}

function isZero(buf: Buffer): boolean {
  return buf.every((b) => b === 0);
}

/** Holds or fails the zero-fills (all-zero writev through a read-write handle) and read-write fsyncs of segment files. */
class FillControl extends CountingFileSystem {
  gate: Promise<void> | undefined;
  failFillWrite = false;
  failSync = false;
  fills = 0;

  constructor() {
    super(nodeFs);
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await super.open(path, mode);
    // 'create' opens the handle the cache then uses for 'readwrite'.
    if ((mode !== 'readwrite' && mode !== 'create') || !path.endsWith('.log')) return h;
    return {
      ...h,
      writev: async (bufs, p) => {
        if (bufs.every(isZero)) {
          this.fills++;
          await this.gate;
          if (this.failFillWrite) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        return h.writev(bufs, p);
      },
      sync: async () => {
        if (this.failSync) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        return h.sync();
      },
    };
  }
}

test('a sync log writes zeros ahead of its data once the segment holds one fill; appends overwrite them; a clean close cuts the file back', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(nodeFs, dir, new ManualClock(), { preallocateBytes: FILL });
    const [file] = await segmentFiles(dir);
    let data = await appendEach(log, 0, 7); // 14,427 bytes: less than one fill, nothing ahead yet
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await stat(file)).size, data, 'no zeros before the segment holds one fill');
    data += await appendEach(log, 7, 3);
    const size = await waitLonger(file, data);
    assert.ok(size <= data + FILL, `one fill ahead: ${size} bytes for ${data} of data`);
    assert.ok(isZero((await readFile(file)).subarray(data)), 'what is ahead of the data is zeros');
    data += await appendEach(log, 10, 40); // through several fills
    assert.ok((await stat(file)).size >= data, 'the file stays ahead of the data');
    assert.deepEqual(payloadBytes(await readAll(log)), Array.from({ length: 50 }, (_, i) => i + 1), 'every batch reads back as written');
    await log.close();
    assert.equal((await stat(file)).size, data, 'a clean close cuts the zeros off');
    const reopened = await openLog(nodeFs, dir, new ManualClock(), { cleanShutdown: true, recoveryPoint: 50, preallocateBytes: FILL });
    assert.equal(reopened.logEndOffset, 50);
    assert.deepEqual(payloadBytes(await readAll(reopened)), Array.from({ length: 50 }, (_, i) => i + 1));
    await reopened.close();
  });
});

test('with preallocateBytes 0, or when the space reserve says no, the file never runs ahead of its data', async () => {
  const settings: { preallocateBytes: number; reserveBytes?: (bytes: number) => boolean }[] = [{ preallocateBytes: 0 }, { preallocateBytes: FILL, reserveBytes: () => false }];
  for (const options of settings) {
    await withTempDir(async (dir) => {
      let asked = 0;
      const reserve = options.reserveBytes;
      const log = await openLog(nodeFs, dir, new ManualClock(), { ...options, reserveBytes: reserve && ((n: number) => (asked++, reserve(n))) });
      const [file] = await segmentFiles(dir);
      const data = await appendEach(log, 0, 30);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await stat(file)).size, data);
      if (options.reserveBytes !== undefined) assert.ok(asked > 0, 'the reserve was asked');
      await log.close();
    });
  }
});

test('writes averaging more than 128 KiB are not followed by zeros, even after one small write: on them the zeros cost the disk more than they save', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(nodeFs, dir, new ManualClock(), { preallocateBytes: FILL });
    const [file] = await segmentFiles(dir);
    let data = 0;
    for (let i = 0; i < 3; i++) {
      const big = makeBatch({ payload: Buffer.alloc(200 * 1024, i + 1) });
      await log.append(big, { leaderEpoch: 0 }).durable;
      data += big.length;
    }
    data += await appendEach(log, 3, 1); // one small write: the average stays above 128 KiB
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await stat(file)).size, data);
    data += await appendEach(log, 4, 8); // small writes bring the average down: now it is
    await waitLonger(file, data);
    await log.close();
  });
});

test('an append that reaches into a running zero-fill waits for it, so zeros never land on data', async () => {
  await withTempDir(async (dir) => {
    const control = new FillControl();
    let release!: () => void;
    control.gate = new Promise((r) => (release = r));
    const log = await openLog(control, dir, new ManualClock(), { preallocateBytes: FILL });
    const [file] = await segmentFiles(dir);
    const data = await appendEach(log, 0, 8); // the fill starts after this and is held
    assert.equal(control.fills, 1);
    const held = log.append(Buffer.concat([batch(8), batch(9)]), { leaderEpoch: 0 });
    let done = false;
    void held.durable.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'the append waits for the fill below it');
    release();
    await held.durable;
    const bytes = await readFile(file);
    const tail = splitBatches([bytes.subarray(data, data + 2 * batch(0).length)]);
    assert.deepEqual(payloadBytes(tail), [9, 10], 'the data written after the fill, not its zeros');
    assert.deepEqual(payloadBytes(await readAll(log)), Array.from({ length: 10 }, (_, i) => i + 1));
    await log.close();
  });
});

test('a crash leaves zeros after the data: recovery trims them with an info line, not a torn-tail warning, and keeps every batch', async () => {
  await withTempDir(async (dir) => {
    const log = await openLog(nodeFs, dir, new ManualClock(), { preallocateBytes: FILL });
    const data = await appendEach(log, 0, 12);
    const [file] = await segmentFiles(dir);
    await waitLonger(file, data);
    await withTempDir(async (elsewhere) => {
    const crashed = join(elsewhere, 't-0'); // the directory as a kill -9 now would leave it
    await cp(dir, crashed, { recursive: true });
    await log.close();
    const lines: string[] = [];
    const recovered = await openLog(nodeFs, crashed, new ManualClock(), { logger: createMemoryLogger(lines), recoveryPoint: 5, preallocateBytes: FILL });
    assert.equal(recovered.state, 'online');
    assert.equal(recovered.logEndOffset, 12);
    const trimmed = lines.find((l) => l.includes('trimming zeros'));
    assert.ok(trimmed, lines.join('\n'));
    assert.match(trimmed, /nextOffset=12/);
    assert.ok(!lines.some((l) => l.includes('torn tail')), lines.join('\n'));
    assert.equal((await stat((await segmentFiles(crashed))[0])).size, data);
    assert.deepEqual(payloadBytes(await readAll(recovered)), Array.from({ length: 12 }, (_, i) => i + 1));
    await recovered.append(batch(12), { leaderEpoch: 0 }).durable;
    await recovered.close();
    });
  });
});

test('a segment is cut back to its data before it is sealed, so only an active segment can end in zeros', async () => {
  await withTempDir(async (dir) => {
    // Fills reach segment.bytes (65,536) before the data does (31 batches, 63,891 bytes): each
    // segment ends in zeros when the next batch rolls it.
    const log = await openLog(nodeFs, dir, new ManualClock(), { preallocateBytes: FILL, config: config({ segmentBytes: 64 * 1024 }) });
    await appendEach(log, 0, 100); // ~200 KiB: three rolls
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 3, `segments: ${files.length}`);
    for (const file of files.slice(0, -1)) {
      const bytes = await readFile(file);
      assert.equal(wholeBatchesEnd(bytes), bytes.length, `${file} holds whole batches and nothing after them`);
    }
    await log.close();
    const reopened = await openLog(nodeFs, dir, new ManualClock(), { recoveryPoint: 0, preallocateBytes: FILL });
    assert.equal(reopened.state, 'online', reopened.offlineReason);
    assert.deepEqual(payloadBytes(await readAll(reopened)), Array.from({ length: 100 }, (_, i) => i + 1));
    await reopened.close();
  });
});

test('a zero-fill whose write fails stops preallocation and nothing else; one whose fsync fails is fatal', async () => {
  await withTempDir(async (dir) => {
    const control = new FillControl();
    control.failFillWrite = true;
    const lines: string[] = [];
    const log = await openLog(control, dir, new ManualClock(), { preallocateBytes: FILL, logger: createMemoryLogger(lines) });
    await appendEach(log, 0, 40);
    assert.equal(control.fills, 1, 'one failed fill, then none');
    assert.ok(lines.some((l) => l.includes('preallocating a segment failed') && l.includes('ENOSPC')), lines.join('\n'));
    assert.equal(log.state, 'online');
    assert.deepEqual(payloadBytes(await readAll(log)), Array.from({ length: 40 }, (_, i) => i + 1));
    await log.close();
  });
  await withTempDir(async (dir) => {
    const control = new FillControl();
    let fatal: Error | undefined;
    const log = await openLog(control, dir, new ManualClock(), { preallocateBytes: FILL, onFatal: (err) => (fatal = err) });
    control.failSync = true;
    await appendEach(log, 0, 8); // durable through the O_DSYNC handle; the fill after it fails its fsync
    for (let i = 0; i < 500 && log.state === 'online'; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(log.state, 'failed');
    assert.ok(fatal instanceof FatalStorageError);
    assert.match(fatal.message, /EIO/);
    assert.throws(() => log.append(batch(8), { leaderEpoch: 0 }), FatalStorageError);
    await log.close();
  });
});
