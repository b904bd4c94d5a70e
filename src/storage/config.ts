// Per-topic log configuration with Kafka's defaults, and its validation. Every limit is bounded
// so that a bad config fails loudly at creation instead of misbehaving later.
import { ConfigError } from '../util/index.ts';
import { MAX_SEGMENT_BYTES } from './segment.ts';

export interface LogConfig {
  /** Roll when the next append would make the segment exceed this. @default 1 GiB */
  segmentBytes: number;
  /** Roll when the active segment's first append is older than this. @default 7 days */
  segmentMs: number;
  /** Delete sealed segments whose newest record is older than this; -1 = unlimited. @default 7 days */
  retentionMs: number;
  /** Delete oldest sealed segments while the log is larger than this; -1 = unlimited. @default -1 */
  retentionBytes: number;
  /** 'sync': an append is durable once written through an O_DSYNC handle (group commit). 'async': once written. @default 'sync' */
  flushMode: 'sync' | 'async';
  /** Async mode: fsync at least this often. @default 1000 */
  flushIntervalMs: number;
  /** Async mode: fsync after this many unflushed records. @default 10000 */
  flushIntervalMessages: number;
  /** Bytes between sparse index entries. @default 4096 */
  indexIntervalBytes: number;
  /** Bound on a segment's offset index size; the segment rolls when full. @default 10 MiB */
  segmentIndexBytes: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * DAY_MS,
  retentionMs: 7 * DAY_MS,
  retentionBytes: -1,
  flushMode: 'sync',
  flushIntervalMs: 1000,
  flushIntervalMessages: 10_000,
  indexIntervalBytes: 4096,
  segmentIndexBytes: 10 * 1024 * 1024,
});

function requireInt(name: string, value: number, min: number, max: number, allowMinusOne = false): void {
  if (allowMinusOne && value === -1) return;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} = ${value} must be an integer in [${min}, ${max}]${allowMinusOne ? ' or -1' : ''}`);
  }
}

export function validateLogConfig(config: LogConfig): LogConfig {
  requireInt('segment.bytes', config.segmentBytes, 64, MAX_SEGMENT_BYTES);
  requireInt('segment.ms', config.segmentMs, 1, Number.MAX_SAFE_INTEGER);
  requireInt('retention.ms', config.retentionMs, 0, Number.MAX_SAFE_INTEGER, true);
  requireInt('retention.bytes', config.retentionBytes, 0, Number.MAX_SAFE_INTEGER, true);
  if (config.flushMode !== 'sync' && config.flushMode !== 'async') throw new ConfigError(`flush.mode = ${String(config.flushMode)} must be 'sync' or 'async'`);
  requireInt('flush.interval.ms', config.flushIntervalMs, 1, Number.MAX_SAFE_INTEGER);
  requireInt('flush.interval.messages', config.flushIntervalMessages, 1, Number.MAX_SAFE_INTEGER);
  requireInt('index.interval.bytes', config.indexIntervalBytes, 0, MAX_SEGMENT_BYTES);
  requireInt('segment.index.bytes', config.segmentIndexBytes, 8, MAX_SEGMENT_BYTES);
  return { ...config };
}
