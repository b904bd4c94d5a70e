// Copies for bytes that are kept long (group metadata, small batches in a tail cache).
//
// Buffer.from(bytes) and Buffer.allocUnsafe(n) take anything under half of Buffer.poolSize (64 KiB
// on Node 24, so up to 32 KiB) as a slice of Node's shared pool: a kept 100-byte slice keeps the
// whole 64 KiB chunk, and whatever else was cut from it, alive. Kept for seconds, the chunk
// outlives two scavenges and, once let go, waits for a full collection. A copy in memory of its
// own keeps exactly its size.

/** A copy of `bytes` in an ArrayBuffer of its own (never a slice of Node's shared pool). */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  out.set(bytes);
  return out;
}
