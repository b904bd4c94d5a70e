// The simulated file system's crash model: synced data survives, unsynced writes survive as a
// prefix (the last one possibly torn), directory entries need fsyncDir, handles die with a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/index.ts';
import { SimFileSystem, writeFileAtomic, readFileIfExists } from '../../src/storage/index.ts';

async function writeFile(sim: SimFileSystem, path: string, data: Buffer, sync: boolean): Promise<void> {
  const h = await sim.open(path, 'create');
  await h.write(data, 0, data.length, await h.size());
  if (sync) await h.sync();
  await h.close();
}

test('synced bytes and fsynced directory entries survive every crash', async () => {
  for (let seed = 0; seed < 200; seed++) {
    const sim = new SimFileSystem();
    await sim.mkdir('/d');
    await sim.fsyncDir('/');
    await writeFile(sim, '/d/a', Buffer.from('durable'), true);
    await sim.fsyncDir('/d');
    await writeFile(sim, '/d/a', Buffer.from('-pending'), false);
    sim.crash(new Rng(seed));
    const after = (await sim.readFile('/d/a')).toString();
    assert.ok(after.startsWith('durable'), `seed ${seed}: ${after}`);
    // The pending write survives as nothing, a prefix, or a prefix followed by zeros or garbage —
    // never longer than the write, never touching the synced bytes.
    assert.ok(Buffer.byteLength(after, 'latin1') <= 'durable-pending'.length, `seed ${seed}: ${JSON.stringify(after)}`);
  }
});

test('crashes produce every outcome for unsynced data: lost, torn, zero-filled, garbage, whole', async () => {
  const outcomes = new Set<string>();
  for (let seed = 0; seed < 300; seed++) {
    const sim = new SimFileSystem();
    await writeFile(sim, '/f', Buffer.alloc(0), true);
    await sim.fsyncDir('/');
    await writeFile(sim, '/f', Buffer.from('abcdefgh'), false);
    sim.crash(new Rng(seed));
    const s = (await sim.readFile('/f')).toString('latin1');
    if (s === '') outcomes.add('lost');
    else if (s === 'abcdefgh') outcomes.add('whole');
    else if ('abcdefgh'.startsWith(s)) outcomes.add('torn');
    else {
      const prefix = [...s].findIndex((c, i) => c !== 'abcdefgh'[i]);
      outcomes.add(/^\0+$/.test(s.slice(prefix)) ? 'zeros' : 'garbage');
    }
  }
  assert.deepEqual([...outcomes].sort(), ['garbage', 'lost', 'torn', 'whole', 'zeros']);
});

test('a created file whose directory was not fsynced may vanish; after fsyncDir it stays', async () => {
  let vanished = 0;
  for (let seed = 0; seed < 100; seed++) {
    const sim = new SimFileSystem();
    await writeFile(sim, '/x', Buffer.from('data'), true);
    sim.crash(new Rng(seed));
    if (!(await sim.exists('/x'))) vanished++;
    await writeFile(sim, '/y', Buffer.from('data'), true);
    await sim.fsyncDir('/');
    sim.crash(new Rng(seed + 1000));
    assert.equal((await sim.readFile('/y')).toString(), 'data');
  }
  assert.ok(vanished > 10 && vanished < 90, `vanished ${vanished}/100`);
});

test('writeFileAtomic leaves either the old or the new contents after any crash', async () => {
  for (let seed = 0; seed < 200; seed++) {
    const sim = new SimFileSystem();
    await sim.mkdir('/m');
    await sim.fsyncDir('/');
    await writeFileAtomic(sim, '/m/c', Buffer.from('old contents'));
    const rng = new Rng(seed);
    const writing = writeFileAtomic(sim, '/m/c', Buffer.from('new contents!'));
    // Crash at a random point of the sequence (after some microtasks).
    for (let i = rng.int(0, 12); i > 0; i--) await Promise.resolve();
    sim.crash(rng);
    await writing.catch(() => {});
    const after = (await readFileIfExists(sim, '/m/c'))?.toString();
    assert.ok(after === 'old contents' || after === 'new contents!', `seed ${seed}: ${after}`);
  }
});

test('handles and mounts from before a crash are unusable', async () => {
  const sim = new SimFileSystem();
  const mount = sim.mount();
  const h = await mount.open('/f', 'create');
  sim.crash(new Rng(1));
  await assert.rejects(h.write(Buffer.from('x'), 0, 1, 0), /EBADF/);
  await assert.rejects(mount.readdir('/'), /ECRASHED/);
  await sim.mount().readdir('/');
});

test('injected faults: failNext and probabilities', async () => {
  const sim = new SimFileSystem({ rng: new Rng(3) });
  const h = await sim.open('/f', 'create');
  sim.failNext({ op: 'sync', code: 'EIO', path: '/f' });
  await assert.rejects(h.sync(), (err: Error & { code?: string }) => err.code === 'EIO');
  await h.sync();
  sim.failNext({ op: 'write', code: 'ENOSPC' });
  await assert.rejects(h.writev([Buffer.from('abc')], 0), (err: Error & { code?: string }) => err.code === 'ENOSPC');
  sim.faults({ writeEioP: 1 });
  await assert.rejects(h.write(Buffer.from('abc'), 0, 3, 0), /EIO/);
  sim.clearFaults();
  await h.write(Buffer.from('abc'), 0, 3, 0);
  sim.corrupt('/f', 1, 0xff);
  const buf = Buffer.alloc(3);
  await h.read(buf, 0, 3, 0);
  assert.equal(buf[1], 'b'.charCodeAt(0) ^ 0xff);
});

test('renames are atomic and unlinked files stay readable through open handles', async () => {
  const sim = new SimFileSystem();
  await sim.mkdir('/p/q');
  await writeFile(sim, '/p/q/f', Buffer.from('1'), true);
  const h = await sim.open('/p/q/f', 'read');
  await sim.rename('/p/q', '/p/r-delete');
  assert.deepEqual(await sim.readdir('/p'), ['r-delete']);
  assert.equal((await sim.readFile('/p/r-delete/f')).toString(), '1');
  await sim.unlink('/p/r-delete/f');
  const buf = Buffer.alloc(1);
  assert.equal(await h.read(buf, 0, 1, 0), 1);
  await sim.rmdir('/p', { recursive: true });
  assert.deepEqual(await sim.readdir('/'), []);
});
