// `npm run bench:durable-write [-- --bytes 100000 --rounds 2000 --repeats 3]`: the cost of one
// group commit on this machine's disk, done the two ways the storage layer can, through its own
// FileSystem (NodeFileSystem): `writev` + `fdatasync` on a read-write handle, and one `writev` on a
// handle opened O_DSYNC (what flush.mode=sync uses). Each round appends `bytes` at the end of a
// fresh file and waits until it is durable. The two alternate, `repeats` times each, so that drift
// of a shared machine hits both. Prints one JSON line per run: ms and CPU µs per round.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { NodeFileSystem, type FileHandle } from '../src/storage/index.ts';
import { removeDir, tempDir } from '../test/helpers/broker.ts';

const { values } = parseArgs({ options: { bytes: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '2000' }, repeats: { type: 'string', default: '3' } } });
const bytes = Number(values.bytes);
const rounds = Number(values.rounds);
const repeats = Number(values.repeats);
for (const [name, v] of [['bytes', bytes], ['rounds', rounds], ['repeats', repeats]] as const) {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
}

type Method = 'writev+fdatasync' | 'o_dsync';
const fs = new NodeFileSystem();
const dir = tempDir('holdfast-durable-write-');
const data = Buffer.alloc(bytes, 0x61);

async function run(method: Method, file: string): Promise<{ method: Method; bytes: number; rounds: number; msPerRound: number; cpuUsPerRound: number }> {
  await (await fs.open(file, 'create')).close();
  const h: FileHandle = await fs.open(file, method === 'o_dsync' ? 'dsync' : 'readwrite');
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) {
      await h.writev([data], i * bytes);
      if (method === 'writev+fdatasync') await h.sync();
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { method, bytes, rounds, msPerRound: +(ms / rounds).toFixed(3), cpuUsPerRound: Math.round((cpu.user + cpu.system) / rounds) };
  } finally {
    await h.close();
    await fs.unlink(file);
  }
}

try {
  for (let r = 0; r < repeats; r++) {
    for (const method of ['writev+fdatasync', 'o_dsync'] as const) console.log(JSON.stringify(await run(method, join(dir, `${method}-${r}.log`))));
  }
} finally {
  removeDir(dir);
}
