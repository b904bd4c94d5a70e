// `holdfast produce <topic>`: one message per line from stdin or a file.
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Producer, type ProducerMessage, type RecordMetadata } from '../client/index.ts';
import { BROKERS_HELP, BROKERS_OPTION, EXIT, UsageError, brokerList, intOption, keyValues, writeOut } from './common.ts';
import { Progress } from './progress.ts';

export const PRODUCE_USAGE = `Usage: holdfast produce <topic> [--file PATH] [--key-separator SEP] [--partition N]
                        [--header KEY=VALUE]... [--acks all|1|0] [--compression none|gzip|snappy|lz4|zstd]
                        [--offsets] [--json] [--quiet]

  ${BROKERS_HELP}

Sends one message per line of --file (or stdin), in order; an empty line is an empty message.
With --key-separator, the text before the first SEP is the key (a line without SEP has no key).
Default acks=all with an idempotent producer: a message counts as sent once the broker has
stored it (fsynced with flush.mode=sync). --acks 0 sends without any acknowledgement.
--offsets prints "partition offset" per message (a JSON line with --json); a summary goes to
stderr (JSON on stdout with --json and without --offsets). Exit code 4 when some messages were
not acknowledged (their line numbers are printed to stderr).`;

/** Sends in flight at once; the producer batches them. */
const WINDOW = 5000;

interface Sent {
  line: number;
  result: Promise<RecordMetadata | { topic: string; partition: number; offset?: undefined } | Error>;
}

export async function produce(argv: string[], io: { stdin?: NodeJS.ReadableStream; stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      brokers: BROKERS_OPTION,
      file: { type: 'string' },
      'key-separator': { type: 'string' },
      partition: { type: 'string' },
      header: { type: 'string', multiple: true },
      acks: { type: 'string', default: 'all' },
      compression: { type: 'string', default: 'none' },
      offsets: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('produce takes exactly one topic name');
  const topic = positionals[0];
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const acks = values.acks === 'all' || values.acks === '-1' ? -1 : values.acks === '1' ? 1 : values.acks === '0' ? 0 : null;
  if (acks === null) throw new UsageError(`--acks must be all, 1 or 0, got "${values.acks}"`);
  const compression = values.compression;
  if (!['none', 'gzip', 'snappy', 'lz4', 'zstd'].includes(compression)) throw new UsageError(`--compression must be none, gzip, snappy, lz4 or zstd, got "${compression}"`);
  const partition = intOption('partition', values.partition);
  const separator = values['key-separator'];
  if (separator === '') throw new UsageError('--key-separator must not be empty');
  const headers = keyValues('header', values.header);
  let input: NodeJS.ReadableStream;
  let totalBytes: number | null = null;
  if (values.file !== undefined) {
    try {
      totalBytes = statSync(values.file).size;
    } catch (err) {
      throw new UsageError(`--file ${values.file}: ${(err as Error).message}`);
    }
    input = createReadStream(values.file);
  } else {
    input = io.stdin ?? process.stdin;
  }

  const producer = new Producer({
    brokers: brokerList(values.brokers),
    clientId: 'holdfast-cli',
    acks: acks === 0 ? -1 : acks,
    idempotent: acks === -1,
    compression: compression as 'none',
  });
  const progress = new Progress(`produce ${topic}`, totalBytes === null ? null : Math.round(totalBytes / 1024), { disabled: values.quiet || (values.offsets && (stdout as NodeJS.WriteStream).isTTY === true) });
  const started = performance.now();
  const queue: Sent[] = [];
  let lines = 0;
  let acknowledged = 0;
  let bytesRead = 0;
  const failures: Array<{ line: number; error: string }> = [];
  const partitions = new Set<number>();

  const settleHead = async (): Promise<void> => {
    const head = queue.shift() as Sent;
    const r = await head.result;
    if (r instanceof Error) {
      failures.push({ line: head.line, error: r.message });
      if (failures.length <= 20) stderr.write(`line ${head.line}: not sent: ${r.message}\n`);
      return;
    }
    acknowledged++;
    partitions.add(r.partition);
    if (values.offsets) await writeOut(stdout, values.json ? JSON.stringify({ line: head.line, partition: r.partition, offset: r.offset ?? null }) + '\n' : `${r.partition} ${r.offset ?? '-'}\n`);
    if (totalBytes !== null) progress.update(Math.round(bytesRead / 1024), ' KiB');
    else progress.update(acknowledged, ' msgs');
  };

  try {
    const rl = createInterface({ input, crlfDelay: Infinity });
    for await (const text of rl) {
      lines++;
      bytesRead += Buffer.byteLength(text) + 1;
      const message: ProducerMessage = { topic, value: text, headers: Object.keys(headers).length > 0 ? headers : undefined, partition };
      if (separator !== undefined) {
        const i = text.indexOf(separator);
        if (i >= 0) {
          message.key = text.slice(0, i);
          message.value = text.slice(i + separator.length);
        }
      }
      const result = (acks === 0 ? producer.sendOneway(message) : producer.send(message)).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      queue.push({ line: lines, result });
      if (queue.length >= WINDOW) await settleHead();
    }
    while (queue.length > 0) await settleHead();
  } finally {
    progress.done();
    await producer.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = { topic, messages: lines, acknowledged, failed: failures.length, partitions: [...partitions].sort((a, b) => a - b), seconds: Number(seconds.toFixed(3)) };
  if (values.json && !values.offsets) stdout.write(JSON.stringify(summary) + '\n');
  else if (!values.quiet) {
    stderr.write(`${acks === 0 ? 'sent (acks=0, unconfirmed)' : 'produced'} ${acknowledged} of ${lines} message(s) to ${topic} in ${seconds.toFixed(2)} s${failures.length > 0 ? `; ${failures.length} failed` : ''}\n`);
  }
  if (failures.length > 20) stderr.write(`(${failures.length - 20} more failures not listed)\n`);
  return failures.length > 0 ? EXIT.PARTIAL : EXIT.OK;
}
