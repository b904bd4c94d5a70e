// The file-system seam. Every byte storage reads or writes goes through these two interfaces, so
// the same log code runs over the real disk (node-fs.ts) and over the crash-simulating in-memory
// file system (sim-fs.ts). Timers are a seam too, so simulations stay deterministic.

/**
 * 'create' is O_CREAT|O_RDWR without truncation. 'dsync' is O_RDWR|O_DSYNC: a write returns once
 * its data (and the file size needed to read it) is durable, as if followed by fdatasync, in one
 * system call.
 */
export type OpenMode = 'read' | 'readwrite' | 'create' | 'dsync';

/** An open file. Positional I/O only: there is no shared file cursor to race on. */
export interface FileHandle {
  /** Reads up to `length` bytes at `position`; returns fewer only at end of file. */
  read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number>;
  /** Writes all `length` bytes at `position` (or throws). */
  write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number>;
  /** Writes every buffer back to back starting at `position`: one call for a group of appends. */
  writev(bufs: Buffer[], position: number): Promise<number>;
  /**
   * writev() done before it returns, on the calling thread (a synchronous pwritev): no thread-pool
   * round trip, but the event loop waits for the disk. Handles without it are written through
   * writev() only.
   */
  writevSync?(bufs: Buffer[], position: number): number;
  /** fdatasync: everything written to this file so far is durable when this resolves. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  readFile(path: string): Promise<Buffer>;
  exists(path: string): Promise<boolean>;
  /** Size of the file at `path` in bytes (stat), without opening it. */
  fileSize(path: string): Promise<number>;
  readdir(path: string): Promise<string[]>;
  /** Recursive: creates missing parents, succeeds when the directory exists. */
  mkdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string, options: { recursive: boolean }): Promise<void>;
  /** Makes creates, renames and unlinks of entries in directory `path` durable. */
  fsyncDir(path: string): Promise<void>;
  /** Bytes an unprivileged writer can still use on the file system holding `path` (statfs). */
  freeBytes(path: string): Promise<number>;
}

/** Node-style error with `.code` ('ENOENT', 'EIO', 'ENOSPC', ...). */
export interface FsError extends Error {
  code?: string;
}

export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'ENOENT';
}

/** One-shot timers. Production uses unref'd real timers; simulations fire them by hand. */
export interface Timers {
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const realTimers: Timers = {
  setTimeout(fn: () => void, ms: number): () => void {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

// Paths are plain '/'-separated strings: storage does not import node:path, so that everything
// except node-fs.ts stays portable to the simulated file system.
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function dirname(path: string): string {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const i = trimmed.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return trimmed.slice(0, i);
}

export function basename(path: string): string {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
