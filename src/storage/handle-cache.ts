// A bounded LRU of open file handles shared by the logs of one LogManager, so that 10,000
// partitions with many segments do not hold 10,000s of descriptors. Handles are opened lazily,
// pinned while an operation uses them, and closed when evicted or when their file goes away.
import { assert } from '../util/index.ts';
import type { FileHandle, FileSystem, OpenMode } from './fs.ts';

export const DEFAULT_MAX_OPEN_FILES = 1024;

/** Cache key prefix per mode: 'create' opens what is then used read-write; 'dsync' handles are separate. */
const KEY_PREFIX: Record<OpenMode, string> = { read: 'r:', readwrite: 'w:', create: 'w:', dsync: 'd:' };
/** Every distinct prefix: the handles one path may have open. */
const PREFIXES = [...new Set(Object.values(KEY_PREFIX))];

interface Entry {
  key: string;
  opening: Promise<FileHandle>;
  /** The handle, once open. */
  handle: FileHandle | undefined;
  pins: number;
  doomed: boolean;
  /** When it was last used (the cache's use counter): eviction takes the least recently used. */
  used: number;
}

export class FileHandleCache {
  private readonly fs: FileSystem;
  readonly maxOpenFiles: number;
  // Recency is a counter stamped on each entry, not the Map's order: moving an entry to the end on
  // every write (a delete and a set) made the Map rebuild its table every few writes, garbage in
  // old space (docs/performance.md, "Old-space garbage from long-lived maps"). Eviction scans every
  // entry for the least recently used, so it costs O(maxOpenFiles); it happens only when the cache
  // overflows, that is after a file was opened (not timed).
  private readonly entries = new Map<string, Entry>();
  private uses = 0;

  constructor(fs: FileSystem, maxOpenFiles = DEFAULT_MAX_OPEN_FILES) {
    assert(Number.isSafeInteger(maxOpenFiles) && maxOpenFiles >= 1, `maxOpenFiles ${maxOpenFiles} must be >= 1`);
    this.fs = fs;
    this.maxOpenFiles = maxOpenFiles;
  }

  get openCount(): number {
    return this.entries.size;
  }

  /** Runs `fn` with an open handle for `path`. 'create' opens with O_CREAT and caches as read-write. */
  async use<T>(path: string, mode: OpenMode, fn: (handle: FileHandle) => Promise<T>): Promise<T> {
    const entry = this.acquire(path, mode);
    entry.pins++;
    try {
      const handle = await entry.opening;
      return await fn(handle);
    } finally {
      entry.pins--;
      if (entry.doomed && entry.pins === 0) void this.closeEntry(entry);
      this.evictBeyondLimit();
    }
  }

  /**
   * Runs `fn` now with the handle of `path` if it is open already and returns its result;
   * undefined (and `fn` not run) when it is not open yet.
   */
  useNow<T>(path: string, mode: OpenMode, fn: (handle: FileHandle) => T): T | undefined {
    const key = KEY_PREFIX[mode] + path;
    const entry = this.entries.get(key);
    if (entry?.handle === undefined) return undefined;
    // Most recently used now; no pin needed, nothing else runs until fn returns.
    entry.used = ++this.uses;
    return fn(entry.handle);
  }

  private acquire(path: string, mode: OpenMode): Entry {
    const key = KEY_PREFIX[mode] + path;
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      existing.used = ++this.uses;
      return existing;
    }
    const entry: Entry = { key, opening: this.fs.open(path, mode), handle: undefined, pins: 0, doomed: false, used: ++this.uses };
    entry.opening.then(
      (handle) => {
        entry.handle = handle;
      },
      // A failed open must not stay cached: the next use retries it.
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    this.entries.set(key, entry);
    return entry;
  }

  private evictBeyondLimit(): void {
    while (this.entries.size > this.maxOpenFiles) {
      let oldest: Entry | undefined;
      for (const entry of this.entries.values()) if (entry.pins === 0 && (oldest === undefined || entry.used < oldest.used)) oldest = entry;
      if (oldest === undefined) return; // all in use: closed later, when one is given back
      this.entries.delete(oldest.key);
      void this.closeEntry(oldest);
    }
  }

  private async closeEntry(entry: Entry): Promise<void> {
    try {
      const handle = await entry.opening;
      await handle.close();
    } catch {
      // Nothing to do: the data that matters was fsynced before anyone relied on it.
    }
  }

  /** Closes the handles of `path` (now, or when their current users finish). */
  async close(path: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const key of PREFIXES.map((prefix) => prefix + path)) {
      const entry = this.entries.get(key);
      if (entry === undefined) continue;
      this.entries.delete(key);
      entry.doomed = true;
      if (entry.pins === 0) closing.push(this.closeEntry(entry));
    }
    await Promise.all(closing);
  }

  /** Closes every handle whose path starts with `prefix`. */
  async closeUnder(prefix: string): Promise<void> {
    const paths = new Set<string>();
    for (const key of this.entries.keys()) if (key.slice(2).startsWith(prefix)) paths.add(key.slice(2));
    await Promise.all([...paths].map((p) => this.close(p)));
  }
}
