// CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2. Node has no CRC-32C of its own:
// the native @node-rs/crc32 package (binary shipped inside the npm package) is used when it loads,
// and a slicing-by-8 table implementation otherwise. Both give identical results (tested).
import { createRequire } from 'node:module';

const POLY = 0x82f63b78; // reflected Castagnoli polynomial

const TABLES: Uint32Array[] = (() => {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1];
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = ((prev[n] >>> 8) ^ t0[prev[n] & 0xff]) >>> 0;
    tables.push(cur);
  }
  return tables;
})();

/** Pure TypeScript CRC-32C over `data[start, end)`, continuing from `previous` (the CRC of the bytes before; 0: none). */
export function crc32cPortable(data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let crc = (previous ^ 0xffffffff) >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = (crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    crc =
      t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
      t3[data[i + 4]] ^ t2[data[i + 5]] ^ t1[data[i + 6]] ^ t0[data[i + 7]];
  }
  for (; i < end; i++) crc = (crc >>> 8) ^ t0[(crc ^ data[i]) & 0xff];
  return (crc ^ 0xffffffff) >>> 0;
}

type NativeCrc = (input: Uint8Array, initialState?: number) => number;

function loadNative(): NativeCrc | null {
  if (process.env.HOLDFAST_CRC32C === 'portable') return null;
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@node-rs/crc32') as { crc32c: NativeCrc };
    // Self-check against the standard test vector before trusting the binary.
    if (mod.crc32c(Buffer.from('123456789')) !== 0xe3069283) return null;
    return mod.crc32c;
  } catch {
    return null;
  }
}

const native = loadNative();

/** Which implementation `crc32c` uses: 'native' or 'portable'. */
export const crc32cImplementation: 'native' | 'portable' = native ? 'native' : 'portable';

// Below this size the call into native code costs more than the table loop.
const NATIVE_MIN_BYTES = 64;

/**
 * CRC-32C over `data[start, end)`, as an unsigned 32-bit number. `previous` continues a CRC over
 * bytes that came before (data split across buffers): crc32c(b, 0, b.length, crc32c(a)) is the
 * CRC of a then b.
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  if (native !== null && end - start >= NATIVE_MIN_BYTES) {
    const view = start === 0 && end === data.length ? data : data.subarray(start, end);
    return native(view, previous) >>> 0;
  }
  return crc32cPortable(data, start, end, previous);
}
