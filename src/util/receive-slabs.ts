// Reused memory for received frames whose holders are all known (the broker's Produce requests,
// the consumer's Fetch responses), and for the broker's large reads of segment files: each buffer
// counts the references its holders took, and goes back to a free list when the last one is given
// back, instead of to the garbage collector.
// Memory the kernel hands out fresh costs a page fault per 4 KiB on first touch (~20 for a 110 KB
// request, counted by hand on this project's VM); memory reused is already mapped. What that saves
// is in docs/performance.md.
//
// The rule that keeps it safe: every holder of a view of a pooled buffer takes a reference when it
// gets the view and gives it back when it lets go of it. A reference never given back only keeps
// its buffer from being reused: nothing here holds a buffer in use, so the garbage collector frees
// it as before. A reference taken after its buffer went back, or given back twice, throws.
//
// With HOLDFAST_POISON_RECYCLED=1 (the test suite and the fault suite set it) a buffer is filled
// with 0xdb when it goes back, so a view read after its reference was given back reads garbage and
// fails its CRC instead of passing by luck.
import { assert } from './assert.ts';

interface Pooled {
  buffer: Buffer;
  refs: number;
  /** Frames are still being carved from it (small frames): it cannot go back yet. */
  carving: boolean;
  free: boolean;
}

export interface ReceiveSlabsOptions {
  /** Slabs small frames are carved from, one after another. @default 1 MiB */
  slabBytes?: number;
  /** Larger frames get a whole buffer each, rounded up to this step. @default 256 KiB */
  largeStepBytes?: number;
  /** Frames above this are not pooled (take() returns null). @default 4 MiB */
  maxFrameBytes?: number;
  /** Bytes the free lists keep at most; beyond, buffers given back go to the garbage collector. @default 64 MiB */
  maxFreeBytes?: number;
  /** Fill buffers that go back with 0xdb. @default whether HOLDFAST_POISON_RECYCLED is 1 when one goes back */
  poison?: boolean;
}

export class ReceiveSlabs {
  private readonly slabBytes: number;
  private readonly largeStepBytes: number;
  private readonly maxFrameBytes: number;
  private readonly maxFreeBytes: number;
  private readonly poison: boolean | undefined;
  private readonly state = new WeakMap<ArrayBufferLike, Pooled>();
  /** Free buffers by byte length: a free slab serves a large frame of its size, and the other way round. */
  private readonly freeLists = new Map<number, Buffer[]>();
  private freeBytes = 0;
  private current: Pooled | null = null;
  private currentUsed = 0;
  /** Buffers handed out again from a free list, allocated new, and given back by their last holder (for tests and benchmarks). */
  reused = 0;
  allocated = 0;
  recycled = 0;

  constructor(options: ReceiveSlabsOptions = {}) {
    this.slabBytes = options.slabBytes ?? 1024 * 1024;
    this.largeStepBytes = options.largeStepBytes ?? 256 * 1024;
    this.maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
    this.maxFreeBytes = options.maxFreeBytes ?? 64 * 1024 * 1024;
    this.poison = options.poison;
    assert(this.largeStepBytes > 0 && this.slabBytes >= this.largeStepBytes, 'slabBytes must be at least largeStepBytes');
  }

  /** Bytes waiting in the free lists. */
  get freeListBytes(): number {
    return this.freeBytes;
  }

  /**
   * A buffer of exactly `bytes` holding one reference, or null when `bytes` is above the pooled
   * maximum (allocate it yourself). Frames up to a quarter of a slab are carved from the current
   * slab; larger ones get a buffer of their own, rounded up to the step.
   */
  take(bytes: number): Buffer | null {
    if (bytes > this.maxFrameBytes || bytes <= 0) return null;
    if (this.hasOwnBuffer(bytes)) {
      const size = Math.ceil(bytes / this.largeStepBytes) * this.largeStepBytes;
      const p = this.fromFreeList(size);
      p.refs = 1;
      return p.buffer.subarray(0, bytes);
    }
    let slab = this.current;
    if (slab === null || this.slabBytes - this.currentUsed < bytes) {
      if (slab !== null) {
        slab.carving = false;
        if (slab.refs === 0) this.recycle(slab);
      }
      slab = this.fromFreeList(this.slabBytes);
      slab.carving = true;
      this.current = slab;
      this.currentUsed = 0;
    }
    const out = slab.buffer.subarray(this.currentUsed, this.currentUsed + bytes);
    this.currentUsed += (bytes + 7) & ~7; // keep frames 8-byte aligned
    slab.refs++;
    return out;
  }

  /**
   * A buffer of its own of exactly `bytes` holding one reference, for a large read that is not a
   * frame (the broker's reads of segment files): null when `bytes` is below a quarter of a slab
   * (allocate it yourself: a carved slab would pin a whole slab for it) or above the pooled
   * maximum. Rounded up to the step, like a large frame's, and from the same free lists.
   */
  takeOwn(bytes: number): Buffer | null {
    return this.hasOwnBuffer(bytes) ? this.take(bytes) : null;
  }

  /** Whether take(bytes) gives a buffer of its own rather than a piece carved from a slab. */
  private hasOwnBuffer(bytes: number): boolean {
    return bytes * 4 > this.slabBytes;
  }

  /** Whether `view` is of this pool's memory (and must not be held past its reference). */
  holds(view: Uint8Array): boolean {
    return this.state.has(view.buffer);
  }

  /** Takes one more reference to the pooled buffer under `view`; nothing for other memory. */
  retain(view: Uint8Array): void {
    const p = this.state.get(view.buffer);
    if (p === undefined) return;
    if (p.free) throw new Error('ReceiveSlabs: reference taken to a buffer already given back (a holder kept a view without its reference)');
    p.refs++;
  }

  /** Gives back one reference to the pooled buffer under `view`; nothing for other memory. */
  release(view: Uint8Array): void {
    const p = this.state.get(view.buffer);
    if (p === undefined) return;
    if (p.free || p.refs <= 0) throw new Error('ReceiveSlabs: reference given back twice');
    p.refs--;
    if (p.refs === 0 && !p.carving) this.recycle(p);
  }

  /** A free buffer of `bytes`, or else the smallest free one up to twice that, or a new one of `bytes`. */
  private fromFreeList(bytes: number): Pooled {
    let list = this.freeLists.get(bytes);
    if ((list === undefined || list.length === 0) && this.freeBytes > 0) {
      let best = Infinity;
      for (const [size, l] of this.freeLists) if (size > bytes && size <= 2 * bytes && size < best && l.length > 0) best = size;
      if (best !== Infinity) list = this.freeLists.get(best);
    }
    const buffer = list?.pop();
    if (buffer !== undefined) {
      this.freeBytes -= buffer.length;
      const p = this.state.get(buffer.buffer) as Pooled;
      p.free = false;
      this.reused++;
      return p;
    }
    const fresh = Buffer.allocUnsafeSlow(bytes);
    const p: Pooled = { buffer: fresh, refs: 0, carving: false, free: false };
    this.state.set(fresh.buffer, p);
    this.allocated++;
    return p;
  }

  private recycle(p: Pooled): void {
    p.free = true;
    this.recycled++;
    if (this.poison ?? process.env.HOLDFAST_POISON_RECYCLED === '1') p.buffer.fill(0xdb);
    if (this.freeBytes + p.buffer.length > this.maxFreeBytes) return; // to the garbage collector; `free` stays set
    let list = this.freeLists.get(p.buffer.length);
    if (list === undefined) this.freeLists.set(p.buffer.length, (list = []));
    list.push(p.buffer);
    this.freeBytes += p.buffer.length;
  }
}

/** The process's pool for received Produce frames and segment reads, shared by every embedded broker in it. */
export const receiveSlabs = new ReceiveSlabs();
