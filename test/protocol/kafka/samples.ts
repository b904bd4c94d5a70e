// Schema-driven sample messages for the codec tests: a random value for every field that exists
// in a version, and the object a reader must return for it (absent fields → their defaults).
import type { FieldSchema, MessageSchema } from './generated-schema.ts';
import type { Rng } from '../../../src/util/index.ts';

export interface Sample {
  /** What is handed to the writer. */
  input: Record<string, unknown>;
  /** What the reader must return. */
  expected: Record<string, unknown>;
}

export interface SampleOptions {
  /** Probability of null for a field that is nullable in the version. */
  nullChance: number;
  /** Write records as Buffer[] chunks instead of one Buffer. */
  recordsAsChunks: boolean;
  /** Also set fields that do not exist in the version (the writer must ignore them). */
  setAbsentFields: boolean;
}

const STRING_ALPHABET = ['a', 'b', 'z', 'Q', '0', '9', '-', '_', '.', ' ', 'é', 'ß', '中', '文', '😀'];
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export function inRange(range: readonly [number, number] | null, version: number): boolean {
  return range !== null && version >= range[0] && version <= range[1];
}

function randomString(rng: Rng, maxLength: number): string {
  let s = '';
  const n = rng.int(0, maxLength);
  for (let i = 0; i < n; i++) s += rng.pick(STRING_ALPHABET);
  return s;
}

function randomUuid(rng: Rng): string {
  const h = rng.bytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function primitive(type: string, rng: Rng): unknown {
  switch (type) {
    case 'int8':
      return rng.int(-128, 127);
    case 'int16':
      return rng.int(-32768, 32767);
    case 'int32':
      return rng.int(-0x80000000, 0x7fffffff);
    case 'int64':
      // Exercise both halves and negative values, staying exact (|v| < 2^53).
      return rng.pick([rng.int(-0x80000000, 0x7fffffff), rng.int(-0x80000, 0x7ffff) * 2 ** 32 + rng.int(0, 0xffffffff), -1, 0]);
    case 'uint16':
      return rng.int(0, 0xffff);
    case 'uint32':
      return rng.int(0, 0xffffffff);
    case 'float64':
      return rng.pick([rng.next() * 1e9 - 5e8, 0.5, -0, 1e300]);
    case 'bool':
      return rng.chance(0.5);
    case 'string':
      return randomString(rng, 12);
    case 'uuid':
      return randomUuid(rng);
    case 'bytes':
      return rng.bytes(rng.int(0, 24));
    default:
      throw new Error(`no sample for ${type}`);
  }
}

/** The value a reader returns for a field absent from the version. */
export function defaultOf(schema: MessageSchema, f: FieldSchema): unknown {
  if (f.def !== undefined) return f.def;
  if (f.array) return [];
  if (f.type === 'struct') return defaultStruct(schema, schema.structs[f.struct as string]);
  if (f.type === 'bytes' || f.type === 'records') return Buffer.alloc(0);
  if (f.type === 'uuid') return ZERO_UUID;
  throw new Error(`no default for ${f.name}`);
}

function defaultStruct(schema: MessageSchema, fields: readonly FieldSchema[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f.name] = defaultOf(schema, f);
  return out;
}

interface Pair {
  input: unknown;
  expected: unknown;
}

function value(schema: MessageSchema, f: FieldSchema, version: number, rng: Rng, opts: SampleOptions, depth: number): Pair {
  if (inRange(f.nullable, version) && rng.chance(opts.nullChance)) return { input: null, expected: null };
  if (f.array) {
    const n = depth > 4 ? 0 : rng.int(0, 3);
    const input: unknown[] = [];
    const expected: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const p = element(schema, f, version, rng, opts, depth);
      input.push(p.input);
      expected.push(p.expected);
    }
    return { input, expected };
  }
  return element(schema, f, version, rng, opts, depth);
}

function element(schema: MessageSchema, f: FieldSchema, version: number, rng: Rng, opts: SampleOptions, depth: number): Pair {
  if (f.type === 'struct') {
    const s = sampleFields(schema, schema.structs[f.struct as string], version, rng, opts, depth + 1);
    return { input: s.input, expected: s.expected };
  }
  if (f.type === 'records') {
    const data = rng.bytes(rng.int(0, 700)); // crosses the Writer's copy threshold both ways
    if (!opts.recordsAsChunks || data.length < 2) return { input: data, expected: data };
    const cut = rng.int(1, data.length - 1);
    return { input: [data.subarray(0, cut), Buffer.alloc(0), data.subarray(cut)], expected: data };
  }
  const v = primitive(f.type, rng);
  return { input: v, expected: v };
}

export function sampleFields(
  schema: MessageSchema,
  fields: readonly FieldSchema[],
  version: number,
  rng: Rng,
  opts: SampleOptions,
  depth = 0,
): Sample {
  const input: Record<string, unknown> = {};
  const expected: Record<string, unknown> = {};
  for (const f of fields) {
    if (inRange(f.versions, version)) {
      const p = value(schema, f, version, rng, opts, depth);
      input[f.name] = p.input;
      expected[f.name] = p.expected;
      // A tagged field equal to its default is not written; it reads back as the default anyway.
    } else {
      expected[f.name] = defaultOf(schema, f);
      if (opts.setAbsentFields && f.type !== 'struct' && !f.array && rng.chance(0.5)) {
        input[f.name] = f.type === 'records' ? rng.bytes(3) : primitive(f.type, rng);
      }
    }
  }
  return { input, expected };
}

export function sampleMessage(schema: MessageSchema, version: number, rng: Rng, opts: SampleOptions): Sample {
  return sampleFields(schema, schema.fields, version, rng, opts);
}
