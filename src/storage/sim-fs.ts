// SimFileSystem: an in-memory FileSystem that models what survives a power cut. It is the test
// seam the design names: the log runs over it unchanged, and simulations crash it at any point.
//
// Model (per file = inode): `durable` bytes plus an ordered list of not-yet-synced operations
// (writes, truncates). Reads see durable + pending. sync() makes that file's pending operations
// durable. Directory entries (create, rename, unlink, mkdir, rmdir) are pending until fsyncDir()
// of a directory they touch; an inode's contents survive independently of its name.
//
// crash(rng): for each file a random prefix of its pending operations survives and the last
// surviving write may be torn (a prefix of its bytes, alone, followed by zeros as ext4's
// zero-filled extents show, or followed by garbage as a sector half-written at power loss leaves); uncommitted directory operations survive as a random prefix, in order.
// All handles and mounts from before the crash are then invalid.
import { Rng } from '../util/index.ts';
import { dirname, type FileHandle, type FileSystem, type OpenMode } from './fs.ts';

export type SimOp =
  | 'open' | 'read' | 'write' | 'sync' | 'truncate' | 'size' | 'readFile' | 'exists' | 'fileSize'
  | 'readdir' | 'mkdir' | 'rename' | 'unlink' | 'rmdir' | 'fsyncDir' | 'statfs';

export type SimErrorCode = 'EIO' | 'ENOSPC';

export interface SimFault {
  op: SimOp;
  code: SimErrorCode;
  /** Only paths containing this substring. */
  path?: string;
}

export interface SimFaultRates {
  writeEioP?: number;
  syncEioP?: number;
  enospcP?: number;
}

function fsError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** A byte array that grows on demand; regions past the size read as zeros. */
class Bytes {
  buf: Buffer;
  size: number;

  constructor(initial?: Buffer) {
    this.buf = initial ? Buffer.from(initial) : Buffer.alloc(0);
    this.size = this.buf.length;
  }

  write(position: number, src: Buffer, srcOffset: number, length: number): void {
    const end = position + length;
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.max(end, this.buf.length * 2, 256));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    if (position > this.size) this.buf.fill(0, this.size, position);
    src.copy(this.buf, position, srcOffset, srcOffset + length);
    if (end > this.size) this.size = end;
  }

  truncate(length: number): void {
    if (length < this.size) {
      this.buf.fill(0, length, this.size);
      this.size = length;
    } else if (length > this.size) {
      this.write(length, Buffer.alloc(0), 0, 0);
    }
  }

  copy(): Bytes {
    return new Bytes(this.buf.subarray(0, this.size));
  }
}

type PendingOp = { kind: 'write'; position: number; data: Buffer } | { kind: 'truncate'; length: number };

class Inode {
  durable = new Bytes();
  current = new Bytes();
  pending: PendingOp[] = [];
}

type Entry = { kind: 'file'; inode: Inode } | { kind: 'dir' };

type DirOp =
  | { kind: 'link'; path: string; entry: Entry }
  | { kind: 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'rmtree'; path: string };

interface LoggedDirOp {
  op: DirOp;
  dirs: string[];
  committed: boolean;
}

function normalize(path: string): string {
  let p = path.replace(/\/+/g, '/');
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function isRoot(path: string): boolean {
  return path === '/' || path === '.' || path === '';
}

function under(path: string, dir: string): boolean {
  return path.startsWith(dir + '/');
}

/** Applies one directory operation to a namespace; returns false when its precondition fails. */
function applyDirOp(ns: Map<string, Entry>, op: DirOp): boolean {
  switch (op.kind) {
    case 'link':
      ns.set(op.path, op.entry);
      return true;
    case 'unlink':
      return ns.delete(op.path);
    case 'rmtree':
      for (const key of [...ns.keys()]) if (key === op.path || under(key, op.path)) ns.delete(key);
      return true;
    case 'rename': {
      const entry = ns.get(op.from);
      if (entry === undefined) return false;
      if (entry.kind === 'dir') {
        for (const key of [...ns.keys()]) {
          if (!under(key, op.from)) continue;
          const moved = ns.get(key) as Entry;
          ns.delete(key);
          ns.set(op.to + key.slice(op.from.length), moved);
        }
      }
      ns.delete(op.from);
      ns.set(op.to, entry);
      return true;
    }
  }
}

class SimHandle implements FileHandle {
  private readonly sim: SimFileSystem;
  private readonly inode: Inode;
  private readonly boot: number;
  private readonly path: string;
  private readonly writable: boolean;
  /** Opened 'dsync': each write is followed by a sync, which can fail or be counted like one. */
  private readonly durableWrites: boolean;
  private closed = false;

  constructor(sim: SimFileSystem, inode: Inode, boot: number, path: string, writable: boolean, durableWrites = false) {
    this.sim = sim;
    this.inode = inode;
    this.boot = boot;
    this.path = path;
    this.writable = writable;
    this.durableWrites = durableWrites;
  }

  private check(op: SimOp, write: boolean): void {
    if (this.closed) throw fsError('EBADF', `${op} on closed handle for ${this.path}`);
    if (this.boot !== this.sim.bootCount) throw fsError('EBADF', `${op} on handle from before a crash for ${this.path}`);
    if (write && !this.writable) throw fsError('EBADF', `${op} on read-only handle for ${this.path}`);
    this.sim.count(op);
    this.sim.maybeFail(op, this.path);
  }

  async read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    this.check('read', false);
    const cur = this.inode.current;
    const n = Math.max(0, Math.min(length, cur.size - position));
    if (n > 0) cur.buf.copy(buf, bufOffset, position, position + n);
    return n;
  }

  async write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    this.check('write', true);
    this.sim.writeFault(this.path, (partial) => this.apply(buf.subarray(bufOffset, bufOffset + partial(length)), position));
    this.apply(buf.subarray(bufOffset, bufOffset + length), position);
    if (this.durableWrites) await this.sync();
    return length;
  }

  async writev(bufs: Buffer[], position: number): Promise<number> {
    const n = this.applyv(bufs, position);
    if (this.durableWrites) await this.sync();
    return n;
  }

  /** As writev(), with a 'dsync' handle's sync in the same call (no point between them for a crash to land). */
  writevSync(bufs: Buffer[], position: number): number {
    const n = this.applyv(bufs, position);
    if (this.durableWrites) this.syncNow();
    return n;
  }

  private applyv(bufs: Buffer[], position: number): number {
    this.check('write', true);
    const data = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs);
    this.sim.writeFault(this.path, (partial) => this.apply(data.subarray(0, partial(data.length)), position));
    this.apply(data, position);
    return data.length;
  }

  private apply(data: Buffer, position: number): void {
    if (data.length === 0) return;
    this.sim.checkSpace(this.path, this.inode, position + data.length);
    this.inode.current.write(position, data, 0, data.length);
    this.inode.pending.push({ kind: 'write', position, data: Buffer.from(data) });
    this.sim.dirty.add(this.inode);
  }

  async sync(): Promise<void> {
    this.syncNow();
  }

  private syncNow(): void {
    this.check('sync', false);
    if (this.sim.faultRates.syncEioP && this.sim.rng.chance(this.sim.faultRates.syncEioP)) {
      throw fsError('EIO', `injected sync failure on ${this.path}`);
    }
    this.sim.makeDurable(this.inode);
  }

  async truncate(length: number): Promise<void> {
    this.check('truncate', true);
    this.inode.current.truncate(length);
    this.inode.pending.push({ kind: 'truncate', length });
    this.sim.dirty.add(this.inode);
  }

  async size(): Promise<number> {
    this.check('size', false);
    return this.inode.current.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A FileSystem bound to one boot of the simulated machine; unusable after the next crash. */
class SimMount implements FileSystem {
  private readonly sim: SimFileSystem;
  private readonly boot: number;

  constructor(sim: SimFileSystem, boot: number) {
    this.sim = sim;
    this.boot = boot;
  }

  private live(): SimFileSystem {
    if (this.boot !== this.sim.bootCount) throw fsError('ECRASHED', 'file system mount from before a crash');
    return this.sim;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return this.live().open(path, mode);
  }
  async readFile(path: string): Promise<Buffer> {
    return this.live().readFile(path);
  }
  async exists(path: string): Promise<boolean> {
    return this.live().exists(path);
  }
  async fileSize(path: string): Promise<number> {
    return this.live().fileSize(path);
  }
  async readdir(path: string): Promise<string[]> {
    return this.live().readdir(path);
  }
  async mkdir(path: string): Promise<void> {
    return this.live().mkdir(path);
  }
  async rename(from: string, to: string): Promise<void> {
    return this.live().rename(from, to);
  }
  async unlink(path: string): Promise<void> {
    return this.live().unlink(path);
  }
  async rmdir(path: string, options: { recursive: boolean }): Promise<void> {
    return this.live().rmdir(path, options);
  }
  async fsyncDir(path: string): Promise<void> {
    return this.live().fsyncDir(path);
  }
  async freeBytes(path: string): Promise<number> {
    return this.live().freeBytes(path);
  }
}

export class SimFileSystem implements FileSystem {
  /** Incremented by crash(); handles and mounts remember the boot they belong to. */
  bootCount = 0;
  readonly rng: Rng;
  faultRates: SimFaultRates = {};
  /** Operation counts by kind (tests use them, e.g. to count syncs). */
  readonly stats = new Map<SimOp, number>();
  /** Inodes with pending (unsynced) operations. */
  readonly dirty = new Set<Inode>();
  private current = new Map<string, Entry>();
  private durable = new Map<string, Entry>();
  private dirLog: LoggedDirOp[] = [];
  private faultRules: SimFault[] = [];

  /** Size of the simulated disk: a write that would make the files' bytes exceed it fails with ENOSPC. */
  capacityBytes: number;

  constructor(options: { rng?: Rng; capacityBytes?: number } = {}) {
    this.rng = options.rng ?? new Rng(1);
    this.capacityBytes = options.capacityBytes ?? Infinity;
  }

  /** Bytes held by the files in the namespace (as written, synced or not). */
  usedBytes(): number {
    let used = 0;
    for (const entry of this.current.values()) if (entry.kind === 'file') used += entry.inode.current.size;
    return used;
  }

  async freeBytes(path: string): Promise<number> {
    this.count('statfs');
    this.maybeFail('statfs', path);
    return Math.max(0, this.capacityBytes - this.usedBytes());
  }

  /** Throws ENOSPC when growing a file to `end` bytes would pass the capacity. */
  checkSpace(path: string, inode: Inode, end: number): void {
    if (this.capacityBytes === Infinity || end <= inode.current.size) return;
    if (this.usedBytes() + end - inode.current.size > this.capacityBytes) throw fsError('ENOSPC', `no space left on the simulated disk (${this.capacityBytes} bytes) writing ${path}`);
  }

  /** A view of this file system that stops working (throws ECRASHED) after the next crash(). */
  mount(): FileSystem {
    return new SimMount(this, this.bootCount);
  }

  // ---- fault injection ------------------------------------------------------------------------

  /** The next matching operation fails with `code`. */
  failNext(fault: SimFault): void {
    this.faultRules.push({ ...fault });
  }

  /** Probabilistic faults on every write and sync, drawn from the file system's Rng. */
  faults(rates: SimFaultRates): void {
    this.faultRates = { ...rates };
  }

  clearFaults(): void {
    this.faultRules = [];
    this.faultRates = {};
  }

  count(op: SimOp): void {
    this.stats.set(op, (this.stats.get(op) ?? 0) + 1);
  }

  maybeFail(op: SimOp, path: string): void {
    const i = this.faultRules.findIndex((r) => r.op === op && (r.path === undefined || path.includes(r.path)));
    if (i < 0) return;
    const rule = this.faultRules[i];
    this.faultRules.splice(i, 1);
    throw fsError(rule.code, `injected ${op} failure on ${path}`);
  }

  /** Probabilistic write faults; a failed write may leave a prefix of its bytes behind (unsynced). */
  writeFault(path: string, applyPartial: (partial: (length: number) => number) => void): void {
    const { enospcP = 0, writeEioP = 0 } = this.faultRates;
    let code: string | undefined;
    if (enospcP > 0 && this.rng.chance(enospcP)) code = 'ENOSPC';
    else if (writeEioP > 0 && this.rng.chance(writeEioP)) code = 'EIO';
    if (code === undefined) return;
    applyPartial((length) => this.rng.int(0, length));
    throw fsError(code, `injected write failure on ${path}`);
  }

  /** Flips bits at rest: XORs the byte at `position` in both the durable and visible contents. */
  corrupt(path: string, position: number, xorByte: number): void {
    const inode = this.fileInode(normalize(path), this.current);
    if (position >= inode.current.size) throw new RangeError(`corrupt ${path}: position ${position} >= size ${inode.current.size}`);
    inode.current.buf[position] ^= xorByte;
    if (position < inode.durable.size) inode.durable.buf[position] ^= xorByte;
  }

  // ---- inspection (tests) ---------------------------------------------------------------------

  /** Current (visible) contents of every file under `dir`, keyed by path. */
  filesUnder(dir: string): Map<string, Buffer> {
    const root = normalize(dir);
    const out = new Map<string, Buffer>();
    for (const [path, entry] of this.current) {
      if (entry.kind === 'file' && under(path, root)) out.set(path, Buffer.from(entry.inode.current.buf.subarray(0, entry.inode.current.size)));
    }
    return out;
  }

  // ---- process kill and power loss ------------------------------------------------------------

  /**
   * The process dies (kill -9) but the machine keeps running: everything written survives (the OS
   * still has it), but every handle and mount of the dead process becomes unusable.
   */
  restartProcess(): void {
    this.bootCount++;
    this.clearFaults();
  }

  crash(rng: Rng): void {
    for (const inode of this.dirty) this.crashInode(inode, rng);
    this.dirty.clear();
    const uncommitted = this.dirLog.filter((l) => !l.committed).length;
    let survivors = rng.int(0, uncommitted);
    for (const logged of this.dirLog) {
      if (!logged.committed) {
        if (survivors === 0) continue;
        survivors--;
      }
      applyDirOp(this.durable, logged.op);
    }
    this.dirLog = [];
    this.current = new Map(this.durable);
    this.bootCount++;
    this.clearFaults();
  }

  private crashInode(inode: Inode, rng: Rng): void {
    const keep = rng.int(0, inode.pending.length);
    for (let i = 0; i < keep; i++) {
      const op = inode.pending[i];
      if (op.kind === 'truncate') {
        inode.durable.truncate(op.length);
      } else if (i < keep - 1 || rng.chance(0.5)) {
        inode.durable.write(op.position, op.data, 0, op.data.length);
      } else {
        this.applyTornWrite(inode, op, rng);
      }
    }
    inode.pending = [];
    inode.current = inode.durable.copy();
  }

  /** A prefix of the write survives; the rest is absent, zeros, or garbage (random bytes). */
  private applyTornWrite(inode: Inode, op: { position: number; data: Buffer }, rng: Rng): void {
    const prefix = rng.int(0, op.data.length);
    inode.durable.write(op.position, op.data, 0, prefix);
    const rest = op.data.length - prefix;
    const tail = rng.int(0, 2);
    if (tail === 1) inode.durable.write(op.position + prefix, Buffer.alloc(rest), 0, rest);
    else if (tail === 2) inode.durable.write(op.position + prefix, rng.bytes(rest), 0, rest);
  }

  makeDurable(inode: Inode): void {
    for (const op of inode.pending) {
      if (op.kind === 'truncate') inode.durable.truncate(op.length);
      else inode.durable.write(op.position, op.data, 0, op.data.length);
    }
    inode.pending = [];
    this.dirty.delete(inode);
  }

  // ---- namespace ------------------------------------------------------------------------------

  private logDirOp(op: DirOp, dirs: string[]): void {
    applyDirOp(this.current, op);
    this.dirLog.push({ op, dirs, committed: false });
  }

  private requireDir(path: string): void {
    if (isRoot(path)) return;
    const entry = this.current.get(path);
    if (entry === undefined) throw fsError('ENOENT', `no such directory ${path}`);
    if (entry.kind !== 'dir') throw fsError('ENOTDIR', `${path} is not a directory`);
  }

  private fileInode(path: string, ns: Map<string, Entry>): Inode {
    const entry = ns.get(path);
    if (entry === undefined) throw fsError('ENOENT', `no such file ${path}`);
    if (entry.kind !== 'file') throw fsError('EISDIR', `${path} is a directory`);
    return entry.inode;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const p = normalize(path);
    this.count('open');
    this.maybeFail('open', p);
    let entry = this.current.get(p);
    if (entry === undefined) {
      if (mode !== 'create') throw fsError('ENOENT', `no such file ${p}`);
      this.requireDir(dirname(p));
      entry = { kind: 'file', inode: new Inode() };
      this.logDirOp({ kind: 'link', path: p, entry }, [dirname(p)]);
    }
    if (entry.kind !== 'file') throw fsError('EISDIR', `${p} is a directory`);
    return new SimHandle(this, entry.inode, this.bootCount, p, mode !== 'read', mode === 'dsync');
  }

  async readFile(path: string): Promise<Buffer> {
    const p = normalize(path);
    this.count('readFile');
    this.maybeFail('readFile', p);
    const cur = this.fileInode(p, this.current).current;
    return Buffer.from(cur.buf.subarray(0, cur.size));
  }

  async exists(path: string): Promise<boolean> {
    const p = normalize(path);
    this.count('exists');
    return isRoot(p) || this.current.has(p);
  }

  async fileSize(path: string): Promise<number> {
    const p = normalize(path);
    this.count('fileSize');
    this.maybeFail('fileSize', p);
    return this.fileInode(p, this.current).current.size;
  }

  async readdir(path: string): Promise<string[]> {
    const p = normalize(path);
    this.count('readdir');
    this.maybeFail('readdir', p);
    this.requireDir(p);
    const names: string[] = [];
    for (const key of this.current.keys()) if (dirname(key) === p) names.push(key.slice(key.lastIndexOf('/') + 1));
    return names.sort();
  }

  async mkdir(path: string): Promise<void> {
    const p = normalize(path);
    this.count('mkdir');
    this.maybeFail('mkdir', p);
    if (isRoot(p)) return;
    const entry = this.current.get(p);
    if (entry !== undefined) {
      if (entry.kind !== 'dir') throw fsError('EEXIST', `${p} exists and is not a directory`);
      return;
    }
    const parent = dirname(p);
    if (!isRoot(parent) && !this.current.has(parent)) await this.mkdir(parent);
    this.requireDir(parent);
    this.logDirOp({ kind: 'link', path: p, entry: { kind: 'dir' } }, [parent]);
  }

  async rename(from: string, to: string): Promise<void> {
    const f = normalize(from);
    const t = normalize(to);
    this.count('rename');
    this.maybeFail('rename', f);
    const entry = this.current.get(f);
    if (entry === undefined) throw fsError('ENOENT', `rename: no such file ${f}`);
    this.requireDir(dirname(t));
    const existing = this.current.get(t);
    if (existing !== undefined && (existing.kind === 'dir') !== (entry.kind === 'dir')) throw fsError('EISDIR', `rename ${f} -> ${t}: kind mismatch`);
    if (existing?.kind === 'dir' && [...this.current.keys()].some((k) => under(k, t))) throw fsError('ENOTEMPTY', `rename target ${t} not empty`);
    this.logDirOp({ kind: 'rename', from: f, to: t }, [dirname(f), dirname(t)]);
  }

  async unlink(path: string): Promise<void> {
    const p = normalize(path);
    this.count('unlink');
    this.maybeFail('unlink', p);
    this.fileInode(p, this.current);
    this.logDirOp({ kind: 'unlink', path: p }, [dirname(p)]);
  }

  async rmdir(path: string, options: { recursive: boolean }): Promise<void> {
    const p = normalize(path);
    this.count('rmdir');
    this.maybeFail('rmdir', p);
    const entry = this.current.get(p);
    if (entry === undefined) {
      if (options.recursive) return;
      throw fsError('ENOENT', `no such directory ${p}`);
    }
    if (entry.kind !== 'dir') throw fsError('ENOTDIR', `${p} is not a directory`);
    if (!options.recursive && [...this.current.keys()].some((k) => under(k, p))) throw fsError('ENOTEMPTY', `${p} is not empty`);
    this.logDirOp({ kind: 'rmtree', path: p }, [dirname(p)]);
  }

  async fsyncDir(path: string): Promise<void> {
    const p = normalize(path);
    this.count('fsyncDir');
    this.maybeFail('fsyncDir', p);
    this.requireDir(p);
    for (const logged of this.dirLog) if (logged.dirs.includes(p)) logged.committed = true;
    // Fold the committed prefix into the durable namespace so the log stays short.
    let n = 0;
    while (n < this.dirLog.length && this.dirLog[n].committed) applyDirOp(this.durable, this.dirLog[n++].op);
    if (n > 0) this.dirLog = this.dirLog.slice(n);
  }
}
