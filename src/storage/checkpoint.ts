// Text formats of the small checkpoint files, compatible in shape with Kafka's:
//   line 1: format version (0)   line 2: entry count   then one entry per line.
// Offset checkpoints (recovery-point-checkpoint, log-start-offset-checkpoint): `topic partition offset`.
// Leader epoch checkpoint: `epoch startOffset`. Parsers bound every count and reject anything
// malformed: a checkpoint is only trusted when it parses completely.
import { HoldfastError } from '../util/index.ts';

export const CHECKPOINT_VERSION = 0;
/** More entries than this in one checkpoint file is treated as garbage. */
export const CHECKPOINT_MAX_ENTRIES = 1_000_000;

export interface OffsetCheckpointEntry {
  topic: string;
  partition: number;
  offset: number;
}

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

export class CheckpointFormatError extends HoldfastError {
  override name = 'CheckpointFormatError';
  constructor(message: string) {
    super('BAD_CHECKPOINT', message);
  }
}

function encodeLines(lines: string[]): Buffer {
  return Buffer.from(`${CHECKPOINT_VERSION}\n${lines.length}\n${lines.map((l) => l + '\n').join('')}`, 'utf8');
}

/** Splits a checkpoint into its entry lines after checking the version and count lines. */
function entryLines(data: Buffer, what: string): string[] {
  const lines = data.toString('utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length < 2) throw new CheckpointFormatError(`${what}: missing version or count line`);
  if (lines[0] !== String(CHECKPOINT_VERSION)) throw new CheckpointFormatError(`${what}: unsupported version ${JSON.stringify(lines[0])}`);
  const count = parseNonNegative(lines[1], what, 'count');
  if (count > CHECKPOINT_MAX_ENTRIES) throw new CheckpointFormatError(`${what}: ${count} entries exceeds the limit ${CHECKPOINT_MAX_ENTRIES}`);
  if (lines.length - 2 !== count) throw new CheckpointFormatError(`${what}: count line says ${count} entries, found ${lines.length - 2}`);
  return lines.slice(2);
}

function parseNonNegative(text: string, what: string, field: string): number {
  if (!/^\d{1,16}$/.test(text)) throw new CheckpointFormatError(`${what}: ${field} ${JSON.stringify(text)} is not a non-negative integer`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new CheckpointFormatError(`${what}: ${field} ${text} is not a safe integer`);
  return value;
}

export function encodeOffsetCheckpoint(entries: readonly OffsetCheckpointEntry[]): Buffer {
  return encodeLines(entries.map((e) => `${e.topic} ${e.partition} ${e.offset}`));
}

export function parseOffsetCheckpoint(data: Buffer, what = 'offset checkpoint'): OffsetCheckpointEntry[] {
  return entryLines(data, what).map((line) => {
    const parts = line.split(' ');
    if (parts.length !== 3 || parts[0].length === 0) throw new CheckpointFormatError(`${what}: malformed line ${JSON.stringify(line)}`);
    return { topic: parts[0], partition: parseNonNegative(parts[1], what, 'partition'), offset: parseNonNegative(parts[2], what, 'offset') };
  });
}

export function encodeEpochCheckpoint(entries: readonly EpochEntry[]): Buffer {
  return encodeLines(entries.map((e) => `${e.epoch} ${e.startOffset}`));
}

export function parseEpochCheckpoint(data: Buffer, what = 'leader-epoch-checkpoint'): EpochEntry[] {
  const entries = entryLines(data, what).map((line) => {
    const parts = line.split(' ');
    if (parts.length !== 2) throw new CheckpointFormatError(`${what}: malformed line ${JSON.stringify(line)}`);
    return { epoch: parseNonNegative(parts[0], what, 'epoch'), startOffset: parseNonNegative(parts[1], what, 'start offset') };
  });
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].epoch <= entries[i - 1].epoch || entries[i].startOffset < entries[i - 1].startOffset) {
      throw new CheckpointFormatError(`${what}: entries not increasing at line ${i + 3}`);
    }
  }
  return entries;
}
