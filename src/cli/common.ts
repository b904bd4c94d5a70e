// What the CLI commands share: exit codes, broker list, tables, usage errors, time parsing.
import { HoldfastError } from '../util/index.ts';
import { KafkaProtocolError } from '../client/index.ts';

/** Exit codes scripts can rely on (also listed in `holdfast --help` and the README). */
export const EXIT = {
  OK: 0,
  /** The operation failed: a broker error, a lost connection, a timeout. */
  FAILED: 1,
  /** The command line is wrong. */
  USAGE: 2,
  /** The named topic or group does not exist. */
  NOT_FOUND: 3,
  /** produce: some messages were not acknowledged (the others were). */
  PARTIAL: 4,
  /** verify: a checker found an anomaly (lost, duplicated, reordered, …). */
  ANOMALIES: 5,
} as const;

export const EXIT_CODES_HELP = `Exit codes: 0 ok, 1 failed (broker or connection error), 2 bad command line,
3 topic or group not found, 4 produce: some messages not acknowledged, 5 verify: anomalies found.`;

/** A command-line mistake: printed with the command's usage, exit code 2. */
export class UsageError extends HoldfastError {
  override name = 'UsageError';
  constructor(message: string) {
    super('USAGE', message);
  }
}

export const BROKERS_OPTION = { type: 'string', default: process.env.HOLDFAST_BROKERS ?? '127.0.0.1:9092' } as const;
export const BROKERS_HELP = `--brokers HOST:PORT[,HOST:PORT]  (default $HOLDFAST_BROKERS or 127.0.0.1:9092)`;

export function brokerList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError('--brokers is empty');
  return list;
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof Error && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true) return EXIT.USAGE;
  if (err instanceof KafkaProtocolError && (err.code === 'UNKNOWN_TOPIC_OR_PARTITION' || err.code === 'GROUP_ID_NOT_FOUND')) return EXIT.NOT_FOUND;
  return EXIT.FAILED;
}

/** A number for a table: thousands separators without decimals, else fixed decimals; null is "-". */
export function formatNumber(n: number | null, digits = 0): string {
  if (n === null) return '-';
  return digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
}

/** Columns padded to the widest cell; the first row is the header. */
export function table(rows: string[][]): string {
  // A loop, not Math.max(...): a table may have more rows than a call may have arguments.
  const widths = rows[0].map((_, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), 0));
  return rows.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** A non-negative integer option, or a usage error naming the option. */
export function intOption(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return Number(value);
}

/** An ISO 8601 date-time (2026-11-30T12:00:00Z; a date alone is midnight UTC) or milliseconds since the epoch. */
export function parseTime(name: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new UsageError(`--${name} must be an ISO 8601 date-time or milliseconds since the epoch, got "${value}"`);
  return ms;
}

/** A --duration value: a number with ms, s (the default), m or h, in milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) throw new UsageError(`--duration must look like 500ms, 90s, 5m or 1h, got "${value}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

/** key=value pairs of a repeated option. */
export function keyValues(name: string, values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const i = v.indexOf('=');
    if (i <= 0) throw new UsageError(`--${name} takes key=value, got "${v}"`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/** Writes to a stream and waits when it asks for it (so a slow pipe bounds memory). */
export function writeOut(stream: NodeJS.WritableStream, text: string): Promise<void> | void {
  if (stream.write(text)) return;
  return new Promise((resolve) => stream.once('drain', () => resolve()));
}
