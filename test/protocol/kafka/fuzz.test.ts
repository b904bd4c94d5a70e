// Fuzzing the decoders: random and mutated frames must either decode or throw ProtocolError
// (UnsupportedVersionError is one) — never RangeError, TypeError or a huge allocation. Seeded;
// the seed is printed on failure (override with HOLDFAST_FUZZ_SEED).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageSchemas } from './generated-schema.ts';
import {
  decodeRequest,
  decodeResponse,
  encodeRequestFrame,
  encodeResponseFrame,
  ProtocolError,
} from '../../../src/protocol/kafka/index.ts';
import { Rng } from '../../../src/util/index.ts';
import { sampleMessage } from './samples.ts';

const SEED = Number(process.env.HOLDFAST_FUZZ_SEED ?? Date.now() % 1_000_000);
const REQUEST_FRAMES = 50_000;
const RESPONSE_FRAMES = 10_000;
// Small cap: a mutated count may pass the remaining-bytes bound, but not this one.
const READER_OPTIONS = { maxArrayLength: 10_000 };
const INTERESTING = [0x00000000, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x00000001, 0x0000ffff, 0x00007fff, 0x00008000];

interface Corpus {
  frames: { apiKey: number; apiVersion: number; payload: Buffer }[];
}

function corpus(rng: Rng, kind: 'request' | 'response'): Corpus {
  const frames: Corpus['frames'] = [];
  for (const s of messageSchemas) {
    if (s.kind !== kind) continue;
    for (let v = s.validVersions[0]; v <= s.validVersions[1]; v++) {
      const sample = sampleMessage(s, v, rng, { nullChance: 0.2, recordsAsChunks: false, setAbsentFields: false });
      const chunks = kind === 'request'
        ? encodeRequestFrame(s.apiKey, v, rng.int(0, 1000), 'fuzz', sample.input)
        : encodeResponseFrame(s.apiKey, v, rng.int(0, 1000), sample.input);
      frames.push({ apiKey: s.apiKey, apiVersion: v, payload: Buffer.concat(chunks).subarray(4) });
    }
  }
  return { frames };
}

/** One mutation of a valid payload (or pure noise). */
function mutate(rng: Rng, src: Buffer): Buffer {
  const b = Buffer.from(src);
  switch (rng.int(0, 7)) {
    case 0: // flip a few bytes
      for (let i = rng.int(1, 4); i > 0 && b.length > 0; i--) b[rng.int(0, b.length - 1)] = rng.int(0, 255);
      return b;
    case 1: // truncate
      return b.subarray(0, rng.int(0, b.length));
    case 2: { // overwrite 4 bytes with an extreme length or count
      if (b.length < 4) return b;
      b.writeUInt32BE(rng.pick(INTERESTING), rng.int(0, b.length - 4));
      return b;
    }
    case 3: { // overwrite 2 bytes (int16 string lengths)
      if (b.length < 2) return b;
      b.writeUInt16BE(rng.pick([0x7fff, 0x8000, 0xffff, 0xfffe, 0x0100]), rng.int(0, b.length - 2));
      return b;
    }
    case 4: { // a varint of 0xff bytes (compact lengths, tags)
      const at = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, at), Buffer.alloc(rng.int(1, 6), 0xff), b.subarray(at)]);
    }
    case 5: // insert random bytes
    {
      const at = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, at), rng.bytes(rng.int(1, 8)), b.subarray(at)]);
    }
    case 6: // random header in front of the body of another frame
      return Buffer.concat([rng.bytes(8), b.subarray(Math.min(8, b.length))]);
    default: // pure noise
      return rng.bytes(rng.int(0, 64));
  }
}

function check(decode: () => unknown, seed: number, i: number): void {
  try {
    decode();
  } catch (err) {
    if (err instanceof ProtocolError) return;
    console.error(`fuzz failure at iteration ${i}; replay with HOLDFAST_FUZZ_SEED=${seed}`);
    throw err;
  }
}

test(`${REQUEST_FRAMES} mutated request frames throw only ProtocolError (seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  const { frames } = corpus(rng, 'request');
  let decoded = 0;
  for (let i = 0; i < REQUEST_FRAMES; i++) {
    const input = mutate(rng, rng.pick(frames).payload);
    check(() => {
      decodeRequest(input, READER_OPTIONS);
      decoded++;
    }, SEED, i);
  }
  // Some mutations are harmless (e.g. a flipped byte inside a string): the decoders did run.
  assert.ok(decoded > 0 && decoded < REQUEST_FRAMES, `${decoded} of ${REQUEST_FRAMES} decoded`);
});

test(`${RESPONSE_FRAMES} mutated response frames throw only ProtocolError (seed ${SEED})`, () => {
  const rng = new Rng(SEED + 1);
  const { frames } = corpus(rng, 'response');
  for (let i = 0; i < RESPONSE_FRAMES; i++) {
    const f = rng.pick(frames);
    const input = mutate(rng, f.payload);
    check(() => decodeResponse(f.apiKey, f.apiVersion, input, READER_OPTIONS), SEED + 1, i);
  }
});

test('a 2^31 array count in a tiny frame fails without allocating', () => {
  // Metadata v1 request whose topics count is 0x7fffffff, with 8 bytes behind it.
  const frame = Buffer.from('0003' + '0001' + '00000001' + 'ffff' + '7fffffff' + '0000000000000000', 'hex');
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => decodeRequest(frame), (e: unknown) => e instanceof ProtocolError && e.message.includes('MetadataRequest.topics'));
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
});
