// `holdfast topics create|list|describe|alter|delete`.
import { parseArgs } from 'node:util';
import { Admin } from '../client/index.ts';
import { BROKERS_HELP, BROKERS_OPTION, EXIT, UsageError, brokerList, intOption, keyValues, table } from './common.ts';

export const TOPICS_USAGE = `Usage: holdfast topics create <topic> [--partitions N] [--config KEY=VALUE]... [--if-not-exists]
       holdfast topics list [--internal] [--json]
       holdfast topics describe <topic> [--json]
       holdfast topics alter <topic> [--partitions N] [--config KEY=VALUE]... [--delete-config KEY]...
       holdfast topics delete <topic>... [--if-exists]

  ${BROKERS_HELP}

create: --partitions defaults to the broker's num.partitions; --config sets topic configs such as
flush.mode=async or retention.ms=86400000 (see the README). describe shows partitions with their
leader, log start, high watermark and size on disk, and the topic's configs with where each value
comes from.
alter: grows the topic to N partitions (never fewer; keys may then map to other partitions), sets
topic configs, or puts them back to their default (--delete-config); the others keep their values.`;

export async function topics(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      brokers: BROKERS_OPTION,
      partitions: { type: 'string' },
      config: { type: 'string', multiple: true },
      'delete-config': { type: 'string', multiple: true },
      'if-not-exists': { type: 'boolean', default: false },
      'if-exists': { type: 'boolean', default: false },
      internal: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [sub, ...names] = positionals;
  const admin = new Admin({ brokers: brokerList(values.brokers), clientId: 'holdfast-cli' });
  try {
    switch (sub) {
      case 'create': {
        if (names.length !== 1) throw new UsageError('topics create takes exactly one topic name');
        const partitions = intOption('partitions', values.partitions, 1);
        await admin.createTopics([{ name: names[0], partitions, configs: keyValues('config', values.config) }], { ifNotExists: values['if-not-exists'] });
        const [d] = await admin.describeTopics([names[0]]);
        if (values.json) out(JSON.stringify({ topic: d.name, partitions: d.partitions.length }) + '\n');
        else out(`topic ${d.name} ready with ${d.partitions.length} partition(s)\n`);
        return EXIT.OK;
      }
      case 'list': {
        if (names.length !== 0) throw new UsageError('topics list takes no topic name');
        const list = (await admin.listTopics()).filter((t) => values.internal || !t.internal);
        if (values.json) out(JSON.stringify(list) + '\n');
        else out(table([['TOPIC', 'PARTITIONS'], ...list.map((t) => [t.name, String(t.partitions)])]) + '\n');
        return EXIT.OK;
      }
      case 'describe': {
        if (names.length !== 1) throw new UsageError('topics describe takes exactly one topic name');
        const [d] = await admin.describeTopics([names[0]]);
        const configs = await admin.describeTopicConfigs(names[0]);
        if (values.json) {
          out(JSON.stringify({ ...d, configs }) + '\n');
          return EXIT.OK;
        }
        const messages = d.partitions.reduce((n, p) => n + Math.max(0, p.highWatermark - p.logStartOffset), 0);
        out(`topic ${d.name}: ${d.partitions.length} partition(s), ${messages} message(s) retained${d.internal ? ', internal' : ''}\n\n`);
        out(table([['PARTITION', 'LEADER', 'LOG-START', 'HIGH-WATERMARK', 'MESSAGES', 'BYTES'], ...d.partitions.map((p) => [String(p.partition), String(p.leader), String(p.logStartOffset), String(p.highWatermark), String(Math.max(0, p.highWatermark - p.logStartOffset)), p.sizeBytes < 0 ? '-' : String(p.sizeBytes)])]) + '\n\n');
        out(table([['CONFIG', 'VALUE', 'SOURCE'], ...configs.map((c) => [c.name, c.sensitive ? '(sensitive)' : (c.value ?? '-'), c.source])]) + '\n');
        return EXIT.OK;
      }
      case 'alter': {
        if (names.length !== 1) throw new UsageError('topics alter takes exactly one topic name');
        const set = keyValues('config', values.config);
        const remove = values['delete-config'] ?? [];
        const partitions = intOption('partitions', values.partitions, 1);
        if (partitions === undefined && Object.keys(set).length === 0 && remove.length === 0) {
          throw new UsageError('topics alter needs --partitions N, --config KEY=VALUE or --delete-config KEY');
        }
        // Both checked before either is applied: a refused change leaves the topic as it was.
        if (partitions !== undefined) await admin.createPartitions(names[0], partitions, { validateOnly: true });
        await admin.alterTopicConfigs(names[0], { set, remove }, { validateOnly: true });
        await admin.alterTopicConfigs(names[0], { set, remove });
        if (partitions !== undefined) await admin.createPartitions(names[0], partitions);
        const [d] = await admin.describeTopics([names[0]]);
        const changed = [...Object.keys(set), ...remove];
        if (values.json) out(JSON.stringify({ topic: d.name, partitions: d.partitions.length, configsChanged: changed }) + '\n');
        else {
          if (partitions !== undefined) out(`topic ${d.name} now has ${d.partitions.length} partition(s)\n`);
          if (changed.length > 0) out(`topic ${d.name}: configs changed: ${changed.join(', ')}\n`);
        }
        return EXIT.OK;
      }
      case 'delete': {
        if (names.length === 0) throw new UsageError('topics delete takes one or more topic names');
        let targets = names;
        if (values['if-exists']) {
          const existing = new Set((await admin.listTopics()).map((t) => t.name));
          targets = names.filter((n) => existing.has(n));
        }
        await admin.deleteTopics(targets);
        if (values.json) out(JSON.stringify({ deleted: targets }) + '\n');
        else for (const n of targets) out(`deleted topic ${n}\n`);
        return EXIT.OK;
      }
      default:
        throw new UsageError(sub === undefined ? 'topics needs a subcommand' : `unknown topics subcommand "${sub}"`);
    }
  } finally {
    admin.close();
  }
}
