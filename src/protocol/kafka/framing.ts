// Kafka framing: every request and response is an int32 big-endian size followed by that many
// bytes. TCP delivers chunks split anywhere; FrameDecoder reassembles frames without quadratic
// copying: a frame that lies inside one chunk is returned as a zero-copy slice, and a frame that
// spans chunks is concatenated exactly once, when its last byte has arrived. It is for sockets
// read as 'data' events (the tests' wire clients); the broker and the clients read with `onread`
// into a FrameReader (below), which also admits frames against a byte budget.
import { FrameError } from './protocol-error.ts';

const SIZE_PREFIX_BYTES = 4;

// Frames that span chunks are assembled into slices of shared slabs instead of one allocation
// each: large produce requests arrive as many chunks, and a fresh 64 KiB buffer per request costs
// more in allocation and garbage collection than the copy itself. A slab is freed by the garbage
// collector once no frame slice of it is referenced any more.
const SLAB_BYTES = 1024 * 1024;
const SLAB_MAX_FRAME_BYTES = 256 * 1024;
let slab: Buffer = Buffer.alloc(0);
let slabUsed = 0;

function frameBuffer(bytes: number): Buffer {
  if (bytes > SLAB_MAX_FRAME_BYTES) return Buffer.allocUnsafe(bytes);
  if (slab.length - slabUsed < bytes) {
    slab = Buffer.allocUnsafe(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + bytes);
  slabUsed += (bytes + 7) & ~7; // keep slices 8-byte aligned
  return out;
}

/** A frame size limit both readers accept: an int32 size prefix can say at most 2^31-1. */
function checkedMaxFrameBytes(maxFrameBytes: number): number {
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > 0x7fffffff) {
    throw new RangeError(`maxFrameBytes must be an integer in [0, 2^31-1], got ${maxFrameBytes}`);
  }
  return maxFrameBytes;
}

/**
 * Asked for each frame's payload size as its size prefix is read, before any of the frame is
 * assembled: true admits it, false holds the reader before that frame until `resume()`
 * (FrameReader).
 */
export type FrameAdmission = (frameBytes: number) => boolean;

export class FrameDecoder {
  readonly maxFrameBytes: number;
  /** Chunks (or chunk tails) of an incomplete frame, oldest first. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Payload size of the frame being assembled, or -1 while its size prefix is incomplete. */
  private frameBytes = -1;
  private failed: FrameError | null = null;

  /** @param maxFrameBytes largest accepted frame payload; bigger (or negative) sizes throw FrameError. */
  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = checkedMaxFrameBytes(maxFrameBytes);
  }

  /** Bytes received that do not yet form a complete frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Feeds received bytes; returns the payloads (without size prefix) of every frame completed.
   * Throws FrameError for a size < 0 or > maxFrameBytes; the decoder then stays failed and the
   * caller must close the connection.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.failed !== null) throw this.failed;
    const frames: Buffer[] = [];
    let offset = 0;
    if (this.pendingBytes > 0) {
      offset = this.continuePending(chunk, frames);
      if (offset < 0) return frames; // the whole chunk went into the pending frame
    }
    // Fast path: frames entirely inside this chunk are zero-copy slices.
    while (chunk.length - offset >= SIZE_PREFIX_BYTES) {
      const size = this.checkSize(chunk.readInt32BE(offset));
      const end = offset + SIZE_PREFIX_BYTES + size;
      if (end > chunk.length) {
        this.frameBytes = size;
        break;
      }
      frames.push(chunk.subarray(offset + SIZE_PREFIX_BYTES, end));
      offset = end;
    }
    if (offset < chunk.length) this.addPending(chunk.subarray(offset));
    return frames;
  }

  private checkSize(size: number): number {
    if (size < 0 || size > this.maxFrameBytes) {
      this.failed = new FrameError(size, this.maxFrameBytes);
      this.pending = [];
      this.pendingBytes = 0;
      throw this.failed;
    }
    return size;
  }

  private addPending(part: Buffer): void {
    this.pending.push(part);
    this.pendingBytes += part.length;
  }

  /**
   * Adds `chunk` to the pending frame. Returns the offset in `chunk` after the completed frame
   * (pushed to `frames`), or -1 when the frame is still incomplete.
   */
  private continuePending(chunk: Buffer, frames: Buffer[]): number {
    if (this.frameBytes < 0) {
      if (this.pendingBytes + chunk.length < SIZE_PREFIX_BYTES) {
        this.addPending(chunk);
        return -1;
      }
      this.frameBytes = this.checkSize(this.readPendingSize(chunk));
    }
    const needed = SIZE_PREFIX_BYTES + this.frameBytes - this.pendingBytes;
    if (chunk.length < needed) {
      this.addPending(chunk);
      return -1;
    }
    this.addPending(chunk.subarray(0, needed));
    const whole = frameBuffer(this.pendingBytes - SIZE_PREFIX_BYTES);
    let at = -SIZE_PREFIX_BYTES;
    for (const part of this.pending) {
      if (at >= 0) part.copy(whole, at);
      else if (at + part.length > 0) part.copy(whole, 0, -at);
      at += part.length;
    }
    frames.push(whole);
    this.pending = [];
    this.pendingBytes = 0;
    this.frameBytes = -1;
    return needed;
  }

  /** The size prefix when its 4 bytes are split between pending parts and `chunk`. */
  private readPendingSize(chunk: Buffer): number {
    return bytesAcross([...this.pending, chunk], 0, SIZE_PREFIX_BYTES).readInt32BE(0);
  }
}

/** `n` bytes from byte `at` of the parts taken as one run of bytes (which holds them). */
function bytesAcross(parts: readonly Buffer[], at: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let filled = 0;
  let start = 0; // of the current part in the run
  for (const part of parts) {
    const from = Math.max(at + filled - start, 0);
    if (from < part.length) filled += part.copy(out, filled, from, Math.min(part.length, from + n - filled));
    if (filled === n) return out;
    start += part.length;
  }
  throw new Error(`frame parts hold ${start} bytes, not ${at + n}`);
}

/**
 * Memory for a frame of `frameBytes`, chosen on the read its size prefix arrived in, given the
 * frame's bytes that came with it (`head`): all of the frame when `complete` (it is then copied out
 * of the scratch), else its first bytes, possibly fewer than a header (the rest is read straight
 * into the buffer). Returns a buffer of exactly `frameBytes`, which becomes the frame, or null for
 * the reader's own memory. A client uses it to read the responses it can give back into reused
 * memory; the broker, its Produce requests.
 */
export type FrameHeadAllocator = (frameBytes: number, head: Buffer, complete: boolean) => Buffer | null;

/** Frames up to this size are allocated whole on their size prefix; larger ones grow as they fill. */
export const FRAME_UPFRONT_BYTES = 8 * 1024 * 1024;

/**
 * Frames read straight into their own memory, for sockets read with `onread` (net.Socket's option,
 * whose buffer function is nextBuffer()): a frame's first bytes land in a reused scratch buffer,
 * and once its size prefix is known the rest is read by the kernel directly into the frame's
 * buffer. Unlike FrameDecoder (for sockets that hand over fresh chunks), no chunk is allocated per
 * read and a large frame (a Fetch response, a Produce request) is never copied. Frames that fit in
 * one scratch read are copied out of it, since the scratch is reused.
 *
 * Memory follows the bytes that arrived, not the size a peer announced: a frame of up to
 * FRAME_UPFRONT_BYTES gets its whole buffer when its size prefix arrives, a larger one starts at
 * that size and doubles as it fills (each growth copies what arrived), so four bytes claiming a
 * frame of maxFrameBytes cost FRAME_UPFRONT_BYTES, never maxFrameBytes. An allocator
 * (FrameHeadAllocator) may give a frame its whole buffer instead; bounding that is its business.
 *
 * With an admission function (FrameAdmission), each frame is admitted on its size prefix, before
 * any memory is chosen for it; a frame refused holds the reader before it until resume(). While
 * held, reads only fill the scratch behind the refused frame's first bytes (so a peer that closes
 * is still noticed); the caller must stop reading once `canRead` is false, and before reading
 * again point the socket's next read at nextBuffer(): after resume() the bytes kept may have moved
 * or started a frame, and the next bytes then belong elsewhere.
 *
 * Use: read into `nextBuffer()`, then call `filled(bytesRead)`, which returns the completed frames.
 */
export class FrameReader {
  readonly maxFrameBytes: number;
  private readonly scratch: Buffer;
  /** Bytes at the front of `scratch` not yet taken: an incomplete size prefix, or while held, the refused frame's bytes and what followed. */
  private scratchUsed = 0;
  /** The frame being filled by reads into it, its final size, and how much of it has arrived. */
  private frame: Buffer | null = null;
  private frameBytes = 0;
  private frameFilled = 0;
  private failed: FrameError | null = null;
  /** Stopped before a frame that was not admitted, whose size prefix starts the scratch. */
  private held = false;
  /** The next size prefix read is that of the frame resume() admitted. */
  private admittedNext = false;

  private readonly allocate: FrameHeadAllocator | null;
  private readonly admit: FrameAdmission | null;

  /**
   * @param maxFrameBytes largest accepted frame payload; @param scratchBytes size of the reused read
   * buffer; @param allocate memory for each frame (see FrameHeadAllocator); @param admit asked
   * for each frame's size as its size prefix is read (see FrameAdmission); without it every frame
   * is admitted.
   */
  constructor(maxFrameBytes: number, scratchBytes = 64 * 1024, allocate: FrameHeadAllocator | null = null, admit: FrameAdmission | null = null) {
    if (!Number.isSafeInteger(scratchBytes) || scratchBytes < 2 * SIZE_PREFIX_BYTES) throw new RangeError(`scratchBytes must be an integer >= ${2 * SIZE_PREFIX_BYTES}, got ${scratchBytes}`);
    this.maxFrameBytes = checkedMaxFrameBytes(maxFrameBytes);
    this.scratch = Buffer.allocUnsafeSlow(scratchBytes);
    this.allocate = allocate;
    this.admit = admit;
  }

  /** Bytes received that do not yet form a complete frame. */
  get bufferedBytes(): number {
    return this.frame !== null ? SIZE_PREFIX_BYTES + this.frameFilled : this.scratchUsed;
  }

  /** True while held before a frame that was not admitted, until resume(). */
  get isHeld(): boolean {
    return this.held;
  }

  /** False while held with the scratch full: read nothing more until resume(). */
  get canRead(): boolean {
    return !this.held || this.scratchUsed < this.scratch.length;
  }

  /**
   * Where the next read must go: the rest of the frame being assembled, or the scratch buffer.
   * Never empty, except while held with the scratch full (`canRead` false).
   */
  nextBuffer(): Buffer {
    if (this.frame === null) return this.scratch.subarray(this.scratchUsed);
    if (this.frameFilled === this.frame.length) {
      // Only the bytes that arrived justify more memory: double, up to the frame's size.
      const grown = Buffer.allocUnsafe(Math.min(this.frameBytes, 2 * this.frame.length));
      this.frame.copy(grown, 0, 0, this.frameFilled);
      this.frame = grown;
    }
    return this.frame.subarray(this.frameFilled);
  }

  /** Bytes held for the frame being assembled (at most about twice what arrived of a large frame). */
  get allocatedBytes(): number {
    return this.frame?.length ?? 0;
  }

  /**
   * `bytes` were read into the buffer the last nextBuffer() returned; returns the payloads of the
   * frames completed. Throws FrameError for a size < 0 or > maxFrameBytes; the reader then stays
   * failed and the caller must close the connection. While held, the bytes are only kept.
   */
  filled(bytes: number): Buffer[] {
    if (this.failed !== null) throw this.failed;
    if (this.held) {
      if (this.scratchUsed + bytes > this.scratch.length) throw new RangeError(`${bytes} bytes read into a scratch with ${this.scratch.length - this.scratchUsed} free`);
      this.scratchUsed += bytes;
      return [];
    }
    const frames: Buffer[] = [];
    if (this.frame !== null) {
      this.frameFilled += bytes;
      if (this.frameFilled === this.frameBytes) {
        frames.push(this.frame);
        this.frame = null;
        this.frameBytes = 0;
        this.frameFilled = 0;
      }
      return frames;
    }
    this.parse(this.scratchUsed + bytes, frames);
    return frames;
  }

  /**
   * The frame the reader was held before has been admitted (its bytes granted): returns the frames
   * completed by the bytes kept meanwhile, as filled() does; it may hold again before a later frame.
   * Then point the next read at nextBuffer().
   */
  resume(): Buffer[] {
    if (!this.held) throw new Error('FrameReader.resume() called while not held');
    this.held = false;
    this.admittedNext = true;
    const frames: Buffer[] = [];
    this.parse(this.scratchUsed, frames);
    return frames;
  }

  /** Takes the frames in scratch[0, end): complete ones copied out, an incomplete one started. */
  private parse(end: number, frames: Buffer[]): void {
    let at = 0;
    while (end - at >= SIZE_PREFIX_BYTES) {
      const size = this.scratch.readInt32BE(at);
      if (size < 0 || size > this.maxFrameBytes) {
        this.failed = new FrameError(size, this.maxFrameBytes);
        throw this.failed;
      }
      if (this.admittedNext) this.admittedNext = false;
      else if (this.admit !== null && !this.admit(size)) {
        this.held = true;
        break;
      }
      const start = at + SIZE_PREFIX_BYTES;
      const complete = start + size <= end;
      const given = this.allocate?.(size, this.scratch.subarray(start, complete ? start + size : end), complete) ?? null;
      if (given !== null && given.length !== size) throw new RangeError(`a FrameHeadAllocator gave ${given.length} bytes for a frame of ${size}`);
      if (complete) {
        const out = given ?? frameBuffer(size);
        this.scratch.copy(out, 0, start, start + size);
        frames.push(out);
        at = start + size;
        continue;
      }
      // The frame goes on past this read: later reads fill its own buffer directly.
      const out = given ?? (size <= FRAME_UPFRONT_BYTES ? frameBuffer(size) : Buffer.allocUnsafe(Math.max(FRAME_UPFRONT_BYTES, end - start)));
      this.frameFilled = this.scratch.copy(out, 0, start, end);
      this.frame = out;
      this.frameBytes = size;
      at = end;
    }
    this.scratchUsed = end - at;
    if (this.scratchUsed > 0 && at > 0) this.scratch.copyWithin(0, at, end);
  }
}
