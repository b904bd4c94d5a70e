// The real file system: the only file under src/ that imports node:fs. Thin on purpose — errors
// (EIO, ENOSPC, ENOENT) pass through unchanged so that the log decides what is fatal.
// Built on the callback API with plain file descriptors: on Node 24 it costs about a third of the
// fs/promises FileHandle path per call, which matters when 10,000 partitions open at start.
import * as fs from 'node:fs';
import type { FileHandle, FileSystem, OpenMode } from './fs.ts';

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: fs.constants.O_RDONLY,
  readwrite: fs.constants.O_RDWR,
  create: fs.constants.O_RDWR | fs.constants.O_CREAT,
  dsync: fs.constants.O_RDWR | fs.constants.O_DSYNC,
};

// Below half of Buffer.poolSize, so the first read uses the shared pool: no allocation per file.
const SMALL_FILE_BYTES = 4000;

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

function callVoid(fn: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

function noProgress(position: number): Error {
  return Object.assign(new Error(`EIO: write made no progress at position ${position}`), { code: 'EIO' });
}

function byteLength(bufs: readonly Buffer[]): number {
  let total = 0;
  for (const b of bufs) total += b.length;
  return total;
}

/** What a writev of `bufs` at `position` left unwritten after `written` bytes: [buffer, its first unwritten byte, file position]. */
function* remainder(bufs: readonly Buffer[], written: number, position: number): Generator<[Buffer, number, number]> {
  let skip = written;
  let at = position + written;
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    yield [b, skip, at];
    at += b.length - skip;
    skip = 0;
  }
}

class NodeFileHandle implements FileHandle {
  private fd: number;

  constructor(fd: number) {
    this.fd = fd;
  }

  private get live(): number {
    if (this.fd < 0) throw Object.assign(new Error('EBADF: file handle is closed'), { code: 'EBADF' });
    return this.fd;
  }

  async read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    const fd = this.live;
    let done = 0;
    // pread may return short counts; loop until the request is filled or end of file.
    while (done < length) {
      const n = await call<number>((cb) => fs.read(fd, buf, bufOffset + done, length - done, position + done, cb));
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  async write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    const fd = this.live;
    let done = 0;
    while (done < length) {
      const n = await call<number>((cb) => fs.write(fd, buf, bufOffset + done, length - done, position + done, cb));
      if (n <= 0) throw noProgress(position + done);
      done += n;
    }
    return done;
  }

  async writev(bufs: Buffer[], position: number): Promise<number> {
    const fd = this.live;
    const total = byteLength(bufs);
    const written = await call<number>((cb) => fs.writev(fd, bufs, position, cb));
    if (written === total) return total;
    // A short writev: finish the remainder buffer by buffer.
    for (const [b, from, at] of remainder(bufs, written, position)) await this.write(b, from, b.length - from, at);
    return total;
  }

  writevSync(bufs: Buffer[], position: number): number {
    const fd = this.live;
    const total = byteLength(bufs);
    const written = fs.writevSync(fd, bufs, position);
    if (written === total) return total;
    for (const [b, from, at] of remainder(bufs, written, position)) {
      for (let done = from; done < b.length; ) {
        const n = fs.writeSync(fd, b, done, b.length - done, at + done - from);
        if (n <= 0) throw noProgress(at + done - from);
        done += n;
      }
    }
    return total;
  }

  sync(): Promise<void> {
    const fd = this.live;
    return callVoid((cb) => fs.fdatasync(fd, cb));
  }

  truncate(length: number): Promise<void> {
    const fd = this.live;
    return callVoid((cb) => fs.ftruncate(fd, length, cb));
  }

  async size(): Promise<number> {
    const fd = this.live;
    return (await call<fs.Stats>((cb) => fs.fstat(fd, cb))).size;
  }

  close(): Promise<void> {
    const fd = this.live;
    this.fd = -1;
    return callVoid((cb) => fs.close(fd, cb));
  }
}

export class NodeFileSystem implements FileSystem {
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return new NodeFileHandle(await call<number>((cb) => fs.open(path, OPEN_FLAGS[mode], 0o644, cb)));
  }

  /** open + one read + close for small files (fs.readFile always adds an fstat). */
  async readFile(path: string): Promise<Buffer> {
    const fd = await call<number>((cb) => fs.open(path, fs.constants.O_RDONLY, cb));
    try {
      const first = Buffer.allocUnsafe(SMALL_FILE_BYTES);
      const n = await call<number>((cb) => fs.read(fd, first, 0, SMALL_FILE_BYTES, 0, cb));
      if (n < SMALL_FILE_BYTES) return Buffer.from(first.subarray(0, n));
      const size = (await call<fs.Stats>((cb) => fs.fstat(fd, cb))).size;
      let buf = Buffer.allocUnsafe(Math.max(size, n + 1));
      first.copy(buf, 0, 0, n);
      let done = n;
      for (;;) {
        if (done === buf.length) {
          const grown = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(grown, 0, 0, done);
          buf = grown;
        }
        const more = await call<number>((cb) => fs.read(fd, buf, done, buf.length - done, done, cb));
        if (more === 0) return buf.subarray(0, done);
        done += more;
      }
    } finally {
      await callVoid((cb) => fs.close(fd, cb));
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await callVoid((cb) => fs.access(path, cb));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async fileSize(path: string): Promise<number> {
    return (await call<fs.Stats>((cb) => fs.stat(path, cb))).size;
  }

  readdir(path: string): Promise<string[]> {
    return call<string[]>((cb) => fs.readdir(path, cb));
  }

  async mkdir(path: string): Promise<void> {
    await call<string | undefined>((cb) => fs.mkdir(path, { recursive: true }, cb));
  }

  rename(from: string, to: string): Promise<void> {
    return callVoid((cb) => fs.rename(from, to, cb));
  }

  unlink(path: string): Promise<void> {
    return callVoid((cb) => fs.unlink(path, cb));
  }

  rmdir(path: string, options: { recursive: boolean }): Promise<void> {
    if (options.recursive) return callVoid((cb) => fs.rm(path, { recursive: true, force: true }, cb));
    return callVoid((cb) => fs.rmdir(path, cb));
  }

  async freeBytes(path: string): Promise<number> {
    const st = await call<fs.StatsFs>((cb) => fs.statfs(path, cb));
    return st.bavail * st.bsize;
  }

  async fsyncDir(path: string): Promise<void> {
    const fd = await call<number>((cb) => fs.open(path, fs.constants.O_RDONLY, cb));
    try {
      await callVoid((cb) => fs.fsync(fd, cb));
    } finally {
      await callVoid((cb) => fs.close(fd, cb));
    }
  }
}
