// `npm run bench:durable-write [-- --bytes 100000 --rounds 2000 --repeats 3 --methods a,b]`: the cost of one
// group commit on this machine's disk, done three ways. Two are the ways the storage layer can,
// through its own FileSystem (NodeFileSystem): `writev` + `fdatasync` on a read-write handle, and
// one `writev` on a handle opened O_DSYNC (what flush.mode=sync uses). The third is one the storage
// layer does not use (measured for the comparison; see docs/performance.md): O_DIRECT|O_DSYNC, which skips
// the page cache. A direct write must start and end on 4 KiB and come from an aligned buffer, so a
// log that appends `bytes` at a time copies the records into an aligned staging buffer behind the
// bytes of its last, partial block, rewrites that block and pads the write to 4 KiB: this bench
// does exactly that, copy included. Each round appends `bytes` at the end of a fresh file and waits
// until it is durable. The methods alternate, `repeats` times each, so that drift of a shared
// machine hits all. Prints one JSON line per run: ms and CPU µs per round. Where the file system
// refuses O_DIRECT at open (EINVAL or EOPNOTSUPP), that method's line says so instead.
// `--methods` picks among these and two more: `o_dsync_prezeroed`, the O_DSYNC rounds over a file
// whose bytes were written as zeros and fsynced first (not timed), as log.preallocate.bytes makes
// them, so a round overwrites blocks the file has instead of growing it; and
// `o_dsync_prezeroed_inline`, the same rounds written synchronously on the event loop (writevSync),
// each after one setImmediate, as log.inline.write.max.bytes writes a lone append, instead of a
// round trip through the thread pool.
import * as nodeFs from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { NodeFileSystem, type FileHandle } from '../src/storage/index.ts';
import { removeDir, tempDir } from '../test/helpers/broker.ts';

const BLOCK = 4096;
const METHODS = ['writev+fdatasync', 'o_dsync', 'o_direct', 'o_dsync_prezeroed', 'o_dsync_prezeroed_inline'] as const;
type Method = (typeof METHODS)[number];
const DEFAULT_METHODS = 'writev+fdatasync,o_dsync,o_direct';

function usage(message: string): never {
  process.stderr.write(`bench:durable-write: ${message}\nUsage: npm run bench:durable-write -- [--bytes 100000] [--rounds 2000] [--repeats 3] [--methods ${DEFAULT_METHODS}]\n`);
  process.exit(2);
}

const { values } = parseArgs({ options: { bytes: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '2000' }, repeats: { type: 'string', default: '3' }, methods: { type: 'string', default: DEFAULT_METHODS } } });
const bytes = Number(values.bytes);
const rounds = Number(values.rounds);
const repeats = Number(values.repeats);
for (const [name, v, max] of [['bytes', bytes, 64 << 20], ['rounds', rounds, 1e7], ['repeats', repeats, 1000]] as const) {
  if (!Number.isSafeInteger(v) || v < 1 || v > max) usage(`--${name} must be an integer 1..${max}, got ${values[name]}`);
}
const methods = (values.methods ?? DEFAULT_METHODS).split(',') as Method[];
for (const m of methods) if (!METHODS.includes(m)) usage(`--methods must be a comma list of ${METHODS.join(', ')}, got ${values.methods}`);

const fs = new NodeFileSystem();
const dir = tempDir('holdfast-durable-write-');
const data = Buffer.alloc(bytes, 0x61);

interface Result {
  method: Method;
  bytes: number;
  rounds: number;
  msPerRound: number;
  cpuUsPerRound: number;
}

async function measure(method: Method, round: (i: number) => Promise<void>): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) await round(i);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { method, bytes, rounds, msPerRound: +(ms / rounds).toFixed(3), cpuUsPerRound: Math.round((cpu.user + cpu.system) / rounds) };
}

async function buffered(method: Exclude<Method, 'o_direct'>, file: string): Promise<Result> {
  const created = await fs.open(file, 'create');
  if (method === 'o_dsync_prezeroed' || method === 'o_dsync_prezeroed_inline') {
    const zeros = Buffer.alloc(Math.min(rounds * bytes, 1 << 20));
    for (let at = 0; at < rounds * bytes; at += zeros.length) await created.write(zeros, 0, Math.min(zeros.length, rounds * bytes - at), at);
    await created.sync();
  }
  await created.close();
  const h: FileHandle = await fs.open(file, method === 'writev+fdatasync' ? 'readwrite' : 'dsync');
  try {
    if (method === 'o_dsync_prezeroed_inline') {
      const writeNow = h.writevSync?.bind(h);
      if (writeNow === undefined) throw new Error('the file system has no synchronous writev');
      return await measure(method, async (i) => {
        await new Promise((resolve) => setImmediate(resolve)); // the turn InlineWrites waits for
        writeNow([data], i * bytes);
      });
    }
    return await measure(method, async (i) => {
      await h.writev([data], i * bytes);
      if (method === 'writev+fdatasync') await h.sync();
    });
  } finally {
    await h.close();
    await fs.unlink(file);
  }
}

function pwrite(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => nodeFs.write(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * A staging buffer whose address suits direct I/O on `fd`. Node does not expose buffer addresses,
 * so this tries offsets into a larger allocation until a direct write of one zero block at position
 * 0 is accepted (EINVAL means misaligned); the rounds then overwrite that block.
 */
function alignedStaging(fd: number, size: number): Buffer {
  const raw = Buffer.allocUnsafeSlow(size + BLOCK);
  raw.fill(0);
  for (let at = 0; at < BLOCK; at += 8) {
    try {
      nodeFs.writeSync(fd, raw, at, BLOCK, 0);
      return raw.subarray(at, at + size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    }
  }
  throw new Error(`no offset of a ${raw.length}-byte buffer was accepted for O_DIRECT writes`);
}

/** The rewritten tail blocks must have kept every byte appended before them: `appended` bytes of 0x61, then zeros to 4 KiB. */
function checkDirectFile(file: string, appended: number): void {
  const size = nodeFs.statSync(file).size;
  const fail = (what: string): never => {
    throw new Error(`the direct-written file does not hold the ${appended} appended bytes followed by zero padding: ${what}`);
  };
  if (size !== Math.ceil(appended / BLOCK) * BLOCK) fail(`its size is ${size}`);
  const chunk = Buffer.alloc(1 << 20);
  const ones = Buffer.alloc(chunk.length, 0x61);
  const zeros = Buffer.alloc(chunk.length);
  const fd = nodeFs.openSync(file, 'r');
  try {
    for (let at = 0; at < size; at += chunk.length) {
      const n = nodeFs.readSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
      const data = Math.max(0, Math.min(n, appended - at));
      if (!chunk.subarray(0, data).equals(ones.subarray(0, data)) || !chunk.subarray(data, n).equals(zeros.subarray(0, n - data))) fail(`wrong bytes within ${at}..${at + n}`);
    }
  } finally {
    nodeFs.closeSync(fd);
  }
}

async function direct(file: string): Promise<Result | { method: Method; unsupported: string }> {
  let fd: number;
  try {
    fd = nodeFs.openSync(file, nodeFs.constants.O_CREAT | nodeFs.constants.O_RDWR | nodeFs.constants.O_DSYNC | nodeFs.constants.O_DIRECT);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'EOPNOTSUPP') return { method: 'o_direct', unsupported: `${code}: this file system refuses O_DIRECT` };
    throw err;
  }
  try {
    const staging = alignedStaging(fd, Math.ceil((bytes + BLOCK) / BLOCK) * BLOCK);
    const tail = Buffer.alloc(BLOCK);
    let tailBytes = 0;
    const result = await measure('o_direct', async (i) => {
      const position = i * bytes;
      const start = position - tailBytes;
      tail.copy(staging, 0, 0, tailBytes);
      data.copy(staging, tailBytes);
      const end = tailBytes + bytes;
      const padded = Math.ceil(end / BLOCK) * BLOCK;
      staging.fill(0, end, padded);
      const written = await pwrite(fd, staging, padded, start);
      if (written !== padded) throw new Error(`short direct write: ${written} of ${padded} bytes`);
      tailBytes = end % BLOCK;
      staging.copy(tail, 0, end - tailBytes, end);
    });
    checkDirectFile(file, rounds * bytes);
    return result;
  } finally {
    nodeFs.closeSync(fd);
    nodeFs.rmSync(file);
  }
}

try {
  for (let r = 0; r < repeats; r++) {
    for (const method of methods) {
      const file = join(dir, `${method}-${r}.log`);
      console.log(JSON.stringify(method === 'o_direct' ? await direct(file) : await buffered(method, file)));
    }
  }
} finally {
  removeDir(dir);
}
