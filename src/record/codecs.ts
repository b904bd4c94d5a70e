// Compression codecs of RecordBatch v2, by codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
// Formats are the ones Kafka's Java client writes: gzip members, xerial-framed snappy, LZ4 *frames*,
// zstd frames. Every decompression is bounded by `maxOutputBytes` (zip bombs) and every codec failure
// becomes a RecordError: CORRUPT_MESSAGE for damaged data, MESSAGE_TOO_LARGE for output over the bound.
import * as zlib from 'node:zlib';
import { kMaxLength } from 'node:buffer';
import {
  compressSync as snappyCompressSync,
  uncompressSync as snappyUncompressSync,
  compress as snappyCompress,
  uncompress as snappyUncompress,
} from 'snappy';
import { compressFrameSync, decompressFrameSync, compressFrame, decompressFrame } from 'lz4-napi';
import { assert } from '../util/index.ts';
import { Compression, type CompressionCodec, type CompressionName } from './batch-header.ts';
import { RecordError, RecordErrorCode, corrupt } from './errors.ts';

const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

/** Maps a codec name or id to its id; throws RecordError for anything else. */
export function compressionCodecOf(compression: CompressionName | CompressionCodec): CompressionCodec {
  if (typeof compression === 'number') {
    if (Number.isInteger(compression) && compression >= 0 && compression < CODEC_NAMES.length) return compression;
  } else if (Object.hasOwn(Compression, compression)) {
    return Compression[compression];
  }
  throw corrupt(`unknown compression codec ${String(compression)} (known: ${CODEC_NAMES.join(', ')})`);
}

/** The codec's name ('gzip', ...) or `codec-<id>` for an id Kafka does not define. */
export function compressionName(codec: number): string {
  return CODEC_NAMES[codec] ?? `codec-${codec}`;
}

function tooLarge(codec: number, detail: string, maxOutputBytes: number): RecordError {
  return new RecordError(
    RecordErrorCode.MESSAGE_TOO_LARGE,
    `${compressionName(codec)} records ${detail}, more than the limit of ${maxOutputBytes} decompressed bytes`,
  );
}

function failed(codec: number, error: unknown): RecordError {
  if (error instanceof RecordError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return corrupt(`${compressionName(codec)} decompression failed: ${message}`, error);
}

function assertBound(maxOutputBytes: number): void {
  assert(Number.isSafeInteger(maxOutputBytes) && maxOutputBytes >= 0, `maxOutputBytes ${maxOutputBytes} must be >= 0`);
}

// ---- zlib (gzip, zstd) ----------------------------------------------------------------------------

function zlibOptions(maxOutputBytes: number): zlib.ZlibOptions & zlib.ZstdOptions {
  // zlib refuses a maxOutputLength of 0; the exact bound is re-checked on the result.
  return { maxOutputLength: Math.min(kMaxLength, Math.max(1, maxOutputBytes)) };
}

function zlibResult(codec: number, out: Buffer, maxOutputBytes: number): Buffer {
  if (out.length > maxOutputBytes) throw tooLarge(codec, `decompress to ${out.length} bytes`, maxOutputBytes);
  return out;
}

function zlibFailure(codec: number, error: unknown, maxOutputBytes: number): RecordError {
  if (error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
    return tooLarge(codec, 'decompress to more bytes', maxOutputBytes);
  }
  return failed(codec, error);
}

type ZlibAsync = (data: Buffer, options: zlib.ZlibOptions & zlib.ZstdOptions, cb: (e: Error | null, r: Buffer) => void) => void;

function zlibAsync(fn: ZlibAsync, data: Buffer, options: zlib.ZlibOptions & zlib.ZstdOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => fn(data, options, (error, result) => (error ? reject(error) : resolve(result))));
}

// ---- snappy, xerial framing -----------------------------------------------------------------------
// Kafka's Java client writes snappy through xerial's SnappyOutputStream:
//   magic 0x82 'SNAPPY' 0x00 | int32 version (1) | int32 min compatible version (1) |
//   repeated [int32 BE compressed length | raw snappy block of <= 32 KiB input].
// Readers (Java's SnappyInputStream, librdkafka) also accept a plain raw snappy stream.

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
export const XERIAL_HEADER_BYTES = 16;
export const XERIAL_VERSION = 1;
export const XERIAL_BLOCK_INPUT_BYTES = 32 * 1024;
/** Compressed snappy blocks smaller than this are decompressed inline even on the async path. */
const SNAPPY_ASYNC_MIN_BLOCK_BYTES = 4 * 1024;

function isXerialHeaderAt(data: Buffer, pos: number): boolean {
  return data.length - pos >= XERIAL_HEADER_BYTES && data.compare(XERIAL_MAGIC, 0, 8, pos, pos + 8) === 0;
}

/** The uncompressed length a raw snappy block declares in its preamble (unsigned varint, < 2^32). */
function snappyDeclaredLength(block: Buffer): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= block.length) throw corrupt('snappy block is truncated inside its length preamble');
    const b = block[i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (value > 0xffffffff) break;
      return value;
    }
  }
  throw corrupt('snappy block length preamble is longer than 32 bits');
}

interface SnappyPlan {
  blocks: Buffer[];
  lengths: number[];
  totalBytes: number;
}

/** Splits snappy data into raw blocks and sums their declared sizes, before decompressing anything. */
function planSnappy(data: Buffer, maxOutputBytes: number): SnappyPlan {
  const plan: SnappyPlan = { blocks: [], lengths: [], totalBytes: 0 };
  const add = (block: Buffer): void => {
    const length = snappyDeclaredLength(block);
    plan.totalBytes += length;
    if (plan.totalBytes > maxOutputBytes) {
      throw tooLarge(Compression.snappy, `declare at least ${plan.totalBytes} bytes`, maxOutputBytes);
    }
    plan.blocks.push(block);
    plan.lengths.push(length);
  };
  if (!isXerialHeaderAt(data, 0)) {
    add(data); // raw snappy, as some non-Java clients send
    return plan;
  }
  let pos = 0;
  while (pos < data.length) {
    if (isXerialHeaderAt(data, pos)) {
      pos += XERIAL_HEADER_BYTES; // a stream may be a concatenation of xerial streams
      continue;
    }
    if (data.length - pos < 4) throw corrupt(`xerial snappy block length at byte ${pos} is truncated`);
    const length = data.readInt32BE(pos);
    if (length <= 0 || length > data.length - pos - 4) {
      throw corrupt(`xerial snappy block at byte ${pos} has length ${length}, ${data.length - pos - 4} bytes remain`);
    }
    add(data.subarray(pos + 4, pos + 4 + length));
    pos += 4 + length;
  }
  return plan;
}

function joinSnappy(plan: SnappyPlan, outputs: Array<string | Buffer>): Buffer {
  const out = Buffer.allocUnsafe(plan.totalBytes);
  let pos = 0;
  for (let i = 0; i < outputs.length; i++) {
    const block = outputs[i];
    if (typeof block === 'string' || block.length !== plan.lengths[i]) {
      throw corrupt(`snappy block ${i} decompressed to a different size than its declared ${plan.lengths[i]} bytes`);
    }
    pos += block.copy(out, pos);
  }
  assert(pos === plan.totalBytes, 'snappy blocks fill the output exactly');
  return out;
}

function xerialFrame(blocks: Buffer[]): Buffer {
  let total = XERIAL_HEADER_BYTES;
  for (const block of blocks) total += 4 + block.length;
  const out = Buffer.allocUnsafe(total);
  XERIAL_MAGIC.copy(out, 0);
  out.writeInt32BE(XERIAL_VERSION, 8);
  out.writeInt32BE(XERIAL_VERSION, 12);
  let pos = XERIAL_HEADER_BYTES;
  for (const block of blocks) {
    out.writeInt32BE(block.length, pos);
    pos += 4 + block.copy(out, pos + 4);
  }
  return out;
}

function xerialChunks(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK_INPUT_BYTES) {
    chunks.push(data.subarray(pos, pos + XERIAL_BLOCK_INPUT_BYTES));
  }
  return chunks;
}

// ---- lz4 frames -----------------------------------------------------------------------------------
// Frame: magic 0x184D2204 (LE) | FLG | BD | [content size u64 LE] | [dict id] | HC |
//   blocks [u32 LE size, high bit = stored uncompressed | data | [u32 block checksum]] |
//   end mark u32 0 | [u32 content checksum].
// lz4-napi decodes whole frames with no output limit, and tolerates truncation and trailing bytes, so
// the frame structure is walked first: that rejects malformed frames and yields a hard upper bound on
// the output (a block never exceeds the frame's block maximum, nor 255x its compressed size).

const LZ4_FRAME_MAGIC = 0x184d2204;
/** An LZ4 sequence turns n input bytes into fewer than 255 n output bytes. */
const LZ4_MAX_EXPANSION = 255;
/**
 * When the upper bound exceeds the limit by less than this, decompress and check the real size:
 * the bound over-estimates a final partial block, so refusing outright would reject frames that fit.
 */
export const LZ4_BOUND_SLACK_BYTES = 4 * 1024 * 1024;

export interface Lz4FrameInfo {
  blockMaxBytes: number;
  blockIndependent: boolean;
  /** The content size from the header, when the frame declares it. */
  contentBytes: number | null;
  /** A hard upper bound on the decompressed size. */
  boundBytes: number;
}

function lz4Header(data: Buffer): { flags: number; blockMaxBytes: number; contentBytes: number | null; pos: number } {
  if (data.length < 7) throw corrupt(`lz4 frame of ${data.length} bytes is shorter than a frame header`);
  const magic = data.readUInt32LE(0);
  if (magic !== LZ4_FRAME_MAGIC) {
    throw corrupt(`lz4 data starts with 0x${magic.toString(16)}, not the LZ4 frame magic 0x184d2204`);
  }
  const flags = data[4];
  if (flags >> 6 !== 1 || (flags & 0x02) !== 0) throw corrupt(`lz4 frame has unsupported FLG byte 0x${flags.toString(16)}`);
  if (flags & 0x01) throw corrupt('lz4 frame needs a dictionary, which Kafka never uses');
  const bd = data[5];
  const blockSizeId = (bd >> 4) & 0x07;
  if ((bd & 0x8f) !== 0 || blockSizeId < 4) throw corrupt(`lz4 frame has invalid BD byte 0x${bd.toString(16)}`);
  let pos = 6;
  let contentBytes: number | null = null;
  if (flags & 0x08) {
    if (data.length < pos + 9) throw corrupt('lz4 frame header is truncated in its content size');
    contentBytes = data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 4294967296;
    pos += 8;
  }
  return { flags, blockMaxBytes: 2 ** (2 * blockSizeId + 8), contentBytes, pos: pos + 1 /* HC */ };
}

/** Walks an LZ4 frame's structure without decompressing it. Throws CORRUPT_MESSAGE when malformed. */
export function inspectLz4Frame(data: Buffer): Lz4FrameInfo {
  const { flags, blockMaxBytes, contentBytes, pos: blocksStart } = lz4Header(data);
  const blockChecksumBytes = flags & 0x10 ? 4 : 0;
  let pos = blocksStart;
  let boundBytes = 0;
  for (;;) {
    if (data.length - pos < 4) throw corrupt(`lz4 frame is truncated at byte ${pos}: no end mark`);
    const word = data.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    const stored = word >>> 31 === 1;
    if (size > blockMaxBytes) throw corrupt(`lz4 block at byte ${pos - 4} of ${size} bytes exceeds the frame's ${blockMaxBytes}`);
    if (size + blockChecksumBytes > data.length - pos) throw corrupt(`lz4 block at byte ${pos - 4} is truncated`);
    boundBytes += stored ? size : Math.min(blockMaxBytes, LZ4_MAX_EXPANSION * size);
    pos += size + blockChecksumBytes;
  }
  if (flags & 0x04) pos += 4;
  if (pos !== data.length) {
    throw corrupt(`lz4 frame ends at byte ${pos} but the data has ${data.length} bytes`);
  }
  return { blockMaxBytes, blockIndependent: (flags & 0x20) !== 0, contentBytes, boundBytes };
}

function checkLz4Bound(data: Buffer, maxOutputBytes: number): Lz4FrameInfo {
  const info = inspectLz4Frame(data);
  if (info.contentBytes !== null && info.contentBytes > maxOutputBytes) {
    throw tooLarge(Compression.lz4, `declare ${info.contentBytes} bytes`, maxOutputBytes);
  }
  if (info.boundBytes > maxOutputBytes + LZ4_BOUND_SLACK_BYTES) {
    throw tooLarge(Compression.lz4, `may decompress to ${info.boundBytes} bytes`, maxOutputBytes);
  }
  return info;
}

function lz4Result(info: Lz4FrameInfo, out: Buffer, maxOutputBytes: number): Buffer {
  if (out.length > maxOutputBytes) throw tooLarge(Compression.lz4, `decompress to ${out.length} bytes`, maxOutputBytes);
  if (info.contentBytes !== null && out.length !== info.contentBytes) {
    throw corrupt(`lz4 frame declares ${info.contentBytes} bytes but holds ${out.length}`);
  }
  return out;
}

// ---- public API -----------------------------------------------------------------------------------

/** Compresses `data` with the codec (0 returns `data` itself). */
export function compress(codec: number, data: Buffer): Buffer {
  switch (codec) {
    case Compression.none:
      return data;
    case Compression.gzip:
      return zlib.gzipSync(data);
    case Compression.snappy:
      return xerialFrame(xerialChunks(data).map((chunk) => snappyCompressSync(chunk)));
    case Compression.lz4:
      return compressFrameSync(data);
    case Compression.zstd:
      return zlib.zstdCompressSync(data);
    default:
      throw corrupt(`cannot compress with unknown codec ${codec}`);
  }
}

/** Compresses `data` off the main thread where the codec allows it. */
export async function compressAsync(codec: number, data: Buffer): Promise<Buffer> {
  switch (codec) {
    case Compression.none:
      return data;
    case Compression.gzip:
      return zlibAsync(zlib.gzip, data, {});
    case Compression.snappy:
      return xerialFrame(await Promise.all(xerialChunks(data).map((chunk) => snappyCompress(chunk))));
    case Compression.lz4:
      return compressFrame(data);
    case Compression.zstd:
      return zlibAsync(zlib.zstdCompress, data, {});
    default:
      throw corrupt(`cannot compress with unknown codec ${codec}`);
  }
}

/**
 * Decompresses `data`. Output larger than `maxOutputBytes` throws MESSAGE_TOO_LARGE without ever being
 * fully materialised (zlib stops at the limit, snappy is checked from its declared lengths, lz4 from
 * the frame's block structure — see LZ4_BOUND_SLACK_BYTES). Damaged data throws CORRUPT_MESSAGE.
 */
export function decompress(codec: number, data: Buffer, maxOutputBytes: number): Buffer {
  assertBound(maxOutputBytes);
  switch (codec) {
    case Compression.none:
      if (data.length > maxOutputBytes) throw tooLarge(codec, `are ${data.length} bytes`, maxOutputBytes);
      return data;
    case Compression.gzip:
    case Compression.zstd:
      try {
        const options = zlibOptions(maxOutputBytes);
        const out = codec === Compression.gzip ? zlib.gunzipSync(data, options) : zlib.zstdDecompressSync(data, options);
        return zlibResult(codec, out, maxOutputBytes);
      } catch (error) {
        throw zlibFailure(codec, error, maxOutputBytes);
      }
    case Compression.snappy: {
      const plan = planSnappy(data, maxOutputBytes);
      try {
        return joinSnappy(plan, plan.blocks.map((block) => snappyUncompressSync(block, { asBuffer: true })));
      } catch (error) {
        throw failed(codec, error);
      }
    }
    case Compression.lz4: {
      const info = checkLz4Bound(data, maxOutputBytes);
      try {
        return lz4Result(info, decompressFrameSync(data), maxOutputBytes);
      } catch (error) {
        throw failed(codec, error);
      }
    }
    default:
      throw corrupt(`unknown compression codec ${codec}`);
  }
}

/** `decompress` with the heavy work on the libuv thread pool. Same bounds and errors. */
export async function decompressAsync(codec: number, data: Buffer, maxOutputBytes: number): Promise<Buffer> {
  assertBound(maxOutputBytes);
  switch (codec) {
    case Compression.gzip:
    case Compression.zstd:
      try {
        const fn: ZlibAsync = codec === Compression.gzip ? zlib.gunzip : zlib.zstdDecompress;
        return zlibResult(codec, await zlibAsync(fn, data, zlibOptions(maxOutputBytes)), maxOutputBytes);
      } catch (error) {
        throw zlibFailure(codec, error, maxOutputBytes);
      }
    case Compression.snappy: {
      const plan = planSnappy(data, maxOutputBytes);
      try {
        // Tiny blocks are cheaper inline than as thread-pool tasks, and a stream of thousands of
        // them must not flood the pool: only blocks worth offloading go async.
        const outputs = await Promise.all(
          plan.blocks.map((block) =>
            block.length >= SNAPPY_ASYNC_MIN_BLOCK_BYTES ? snappyUncompress(block, { asBuffer: true }) : snappyUncompressSync(block, { asBuffer: true }),
          ),
        );
        return joinSnappy(plan, outputs);
      } catch (error) {
        throw failed(codec, error);
      }
    }
    case Compression.lz4: {
      const info = checkLz4Bound(data, maxOutputBytes);
      try {
        return lz4Result(info, await decompressFrame(data), maxOutputBytes);
      } catch (error) {
        throw failed(codec, error);
      }
    }
    default:
      return decompress(codec, data, maxOutputBytes);
  }
}
