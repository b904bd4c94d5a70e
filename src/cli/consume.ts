// `holdfast consume <topic>`: print messages, from a consumer group (committing what was printed)
// or from a position without a group.
import { parseArgs } from 'node:util';
import { Consumer, TopicReader, type ConsumerMessage, type ReadPosition } from '../client/index.ts';
import { BROKERS_HELP, BROKERS_OPTION, EXIT, UsageError, brokerList, intOption, parseTime, writeOut } from './common.ts';
import { Progress } from './progress.ts';

export const CONSUME_USAGE = `Usage: holdfast consume <topic> [--group GROUP] [--from earliest|latest|OFFSET] [--from-time TIME]
                        [--partition N]... [--max N] [--timeout-ms MS] [--format plain|json]
                        [--print-key] [--key-separator SEP]

  ${BROKERS_HELP}

With --group, the group's committed offsets decide where each partition starts (--from earliest or
latest, default earliest, applies only where the group has none), and each message is committed
after it has been printed (at-least-once); the group is left cleanly on exit.
Without --group, reads start at --from (default earliest; an offset applies to every partition
read) or at the first message at or after --from-time (ISO 8601 or ms since the epoch), and
nothing is committed. --partition limits the partitions read (without --group).
Stops after --max messages, or after --timeout-ms without a new message, or on Ctrl-C.
--format json prints one JSON object per line: topic, partition, offset, timestamp, key, value,
headers (key, value and header values as UTF-8 text).`;

function render(m: ConsumerMessage, format: 'plain' | 'json', printKey: boolean, separator: string): string {
  if (format === 'json') {
    const headers: Record<string, string | null> = {};
    for (const h of m.headers) headers[h.key.toString()] = h.value === null ? null : h.value.toString();
    return JSON.stringify({ topic: m.topic, partition: m.partition, offset: m.offset, timestamp: m.timestamp, key: m.key === null ? null : m.key.toString(), value: m.value === null ? null : m.value.toString(), headers }) + '\n';
  }
  const value = m.value === null ? '' : m.value.toString();
  return printKey ? `${m.key === null ? '' : m.key.toString()}${separator}${value}\n` : `${value}\n`;
}

export async function consume(argv: string[], io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream; signal?: AbortSignal } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      brokers: BROKERS_OPTION,
      group: { type: 'string' },
      from: { type: 'string' },
      'from-time': { type: 'string' },
      partition: { type: 'string', multiple: true },
      max: { type: 'string' },
      'timeout-ms': { type: 'string' },
      format: { type: 'string', default: 'plain' },
      'print-key': { type: 'boolean', default: false },
      'key-separator': { type: 'string', default: '\t' },
      quiet: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('consume takes exactly one topic name');
  const topic = positionals[0];
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const format = values.format;
  if (format !== 'plain' && format !== 'json') throw new UsageError(`--format must be plain or json, got "${format}"`);
  const max = intOption('max', values.max, 1);
  const timeoutMs = intOption('timeout-ms', values['timeout-ms'], 1);
  const partitions = values.partition?.map((p) => intOption('partition', p) as number);
  if (values.from !== undefined && values['from-time'] !== undefined) throw new UsageError('--from and --from-time exclude each other');
  let from: ReadPosition = 'earliest';
  if (values['from-time'] !== undefined) from = { timestamp: parseTime('from-time', values['from-time']) };
  else if (values.from === 'earliest' || values.from === 'latest') from = values.from;
  else if (values.from !== undefined) from = { offset: intOption('from', values.from) as number };
  if (values.group !== undefined) {
    if (typeof from === 'object') throw new UsageError('with --group, --from takes only earliest or latest (the group decides positions); use groups reset-offsets to move it');
    if (partitions !== undefined) throw new UsageError('--partition cannot be used with --group (the group assigns partitions)');
  }

  const progress = new Progress(`consume ${topic}`, max ?? null, { disabled: values.quiet || (stdout as NodeJS.WriteStream).isTTY === true });
  let count = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const armIdle = (): void => {
    if (timeoutMs === undefined) return;
    if (idleTimer !== null) clearTimeout(idleTimer);
    idleTimer = setTimeout(stop, timeoutMs);
  };
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  io.signal?.addEventListener('abort', onSignal, { once: true });
  armIdle();
  const started = performance.now();
  try {
    if (values.group !== undefined) {
      const consumer = new Consumer({ brokers: brokerList(values.brokers), groupId: values.group, topics: [topic], autoOffsetReset: from as 'earliest' | 'latest', clientId: 'holdfast-cli', concurrency: 1 });
      let closing: Promise<void> | null = null;
      const close = (): Promise<void> => (closing ??= consumer.close());
      void stopped.then(close);
      const running = consumer.run(async (m) => {
        if (max !== undefined && count >= max) return;
        await writeOut(stdout, render(m, format, values['print-key'], values['key-separator']));
        count++;
        progress.update(count);
        armIdle();
        // Not awaited: close() waits for this handler, then commits through this message.
        if (max !== undefined && count >= max) void close();
      });
      await running;
      await close();
    } else {
      const reader = new TopicReader({ brokers: brokerList(values.brokers), topic, partitions, from, clientId: 'holdfast-cli' });
      void stopped.then(() => reader.close());
      try {
        for await (const m of reader) {
          await writeOut(stdout, render(m, format, values['print-key'], values['key-separator']));
          count++;
          progress.update(count);
          armIdle();
          if (max !== undefined && count >= max) break;
        }
      } finally {
        await reader.close();
      }
    }
  } finally {
    if (idleTimer !== null) clearTimeout(idleTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.done();
  }
  if (!values.quiet) stderr.write(`consumed ${count} message(s) from ${topic} in ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
  return EXIT.OK;
}
