// Small metadata files (checkpoints, partition.meta, snapshots) are replaced atomically:
// write a temp file, fsync it, rename it over the target, fsync the directory. After a crash the
// target holds either the old or the new contents, never a mix. Leftover `*.tmp` files are ours.
import { dirname, type FileSystem, isNotFound } from './fs.ts';

export const TEMP_SUFFIX = '.tmp';

// Writes to one path are serialized so that two writers never share a temp file.
const chains = new WeakMap<FileSystem, Map<string, Promise<void>>>();

export async function writeFileAtomic(fs: FileSystem, path: string, data: Buffer): Promise<void> {
  let perFs = chains.get(fs);
  if (perFs === undefined) {
    perFs = new Map();
    chains.set(fs, perFs);
  }
  const previous = perFs.get(path) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(() => replaceFile(fs, path, data));
  perFs.set(path, next);
  try {
    await next;
  } finally {
    if (perFs.get(path) === next) perFs.delete(path);
  }
}

async function replaceFile(fs: FileSystem, path: string, data: Buffer): Promise<void> {
  const tmp = path + TEMP_SUFFIX;
  const handle = await fs.open(tmp, 'create');
  try {
    await handle.truncate(0);
    if (data.length > 0) await handle.write(data, 0, data.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, path);
  await fs.fsyncDir(dirname(path));
}

/** The file's contents, or null when it does not exist. Other errors pass through. */
export async function readFileIfExists(fs: FileSystem, path: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
