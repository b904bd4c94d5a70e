// `holdfast groups list | describe | reset-offsets | delete`: consumer groups, their members,
// their lag, and moving or deleting their committed offsets.
import { parseArgs } from 'node:util';
import { Admin, ErrorCode, KafkaProtocolError, type OffsetResetTarget } from '../client/index.ts';
import { BROKERS_HELP, BROKERS_OPTION, EXIT, UsageError, brokerList, parseTime, table } from './common.ts';

export const GROUPS_USAGE = `Usage: holdfast groups list [--json]
       holdfast groups describe <group> [--json]
       holdfast groups reset-offsets <group> (--to-earliest | --to-latest | --to-datetime TIME)
                                     [--topic TOPIC]... [--dry-run] [--json]
       holdfast groups delete <group>...

  ${BROKERS_HELP}

describe shows the group's state and members, and per partition the committed offset, the high
watermark and the lag (messages not yet committed).
reset-offsets moves the group's committed offsets on every partition of each --topic (default:
every partition the group has committed) to the first offset, the end, or the first message at
or after TIME (ISO 8601 such as 2026-11-30T12:00:00Z, or ms since the epoch; the end when there
is none). The group must have no running consumers. --dry-run shows the offsets without moving.
delete removes groups without members and their committed offsets.`;

export async function groups(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      brokers: BROKERS_OPTION,
      json: { type: 'boolean', default: false },
      'to-earliest': { type: 'boolean', default: false },
      'to-latest': { type: 'boolean', default: false },
      'to-datetime': { type: 'string' },
      topic: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [sub, ...names] = positionals;
  const admin = new Admin({ brokers: brokerList(values.brokers), clientId: 'holdfast-cli' });
  try {
    switch (sub) {
      case 'list': {
        const list = await admin.listGroups();
        if (values.json) out(JSON.stringify(list) + '\n');
        else out(table([['GROUP', 'STATE', 'PROTOCOL TYPE'], ...list.map((g) => [g.groupId, g.state || '-', g.protocolType || '-'])]) + '\n');
        return EXIT.OK;
      }
      case 'describe': {
        if (names.length !== 1) throw new UsageError('groups describe takes exactly one group id');
        const group = names[0];
        const description = await admin.describeGroup(group);
        const lag = await admin.groupLag(group);
        // Kafka describes an unknown group as Dead with no members; with no offsets either, it does not exist.
        if (description.state === 'Dead' && description.members.length === 0 && lag.length === 0) {
          throw new KafkaProtocolError(ErrorCode.GROUP_ID_NOT_FOUND, `group ${group} does not exist`);
        }
        if (values.json) {
          out(JSON.stringify({ ...description, partitions: lag, totalLag: lag.reduce((n, p) => n + p.lag, 0) }) + '\n');
          return EXIT.OK;
        }
        const owner = new Map<string, string>();
        for (const m of description.members) for (const a of m.assignment) for (const p of a.partitions) owner.set(`${a.topic}:${p}`, m.memberId);
        out(`group ${group}: ${description.state}, ${description.members.length} member(s), protocol ${description.protocol || '-'}\n\n`);
        const rows = [['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH-WATERMARK', 'LAG', 'MEMBER']];
        for (const p of lag) rows.push([p.topic, String(p.partition), p.committedOffset < 0 ? '-' : String(p.committedOffset), String(p.highWatermark), String(p.lag), owner.get(`${p.topic}:${p.partition}`) ?? '-']);
        out(table(rows) + '\n');
        out(`\ntotal lag: ${lag.reduce((n, p) => n + p.lag, 0)}\n`);
        return EXIT.OK;
      }
      case 'reset-offsets': {
        if (names.length !== 1) throw new UsageError('groups reset-offsets takes exactly one group id');
        const chosen = [values['to-earliest'], values['to-latest'], values['to-datetime'] !== undefined].filter(Boolean).length;
        if (chosen !== 1) throw new UsageError('groups reset-offsets needs exactly one of --to-earliest, --to-latest, --to-datetime TIME');
        const target: OffsetResetTarget = values['to-earliest'] ? 'earliest' : values['to-latest'] ? 'latest' : { timestamp: parseTime('to-datetime', values['to-datetime'] as string) };
        const result = await admin.resetOffsets(names[0], target, { topics: values.topic, dryRun: values['dry-run'] });
        if (values.json) out(JSON.stringify({ group: names[0], dryRun: values['dry-run'], offsets: result }) + '\n');
        else {
          out(table([['TOPIC', 'PARTITION', 'NEW-OFFSET'], ...result.map((r) => [r.topic, String(r.partition), String(r.offset)])]) + '\n');
          out(values['dry-run'] ? `\ndry run: group ${names[0]} not changed\n` : `\ngroup ${names[0]}: ${result.length} partition(s) reset\n`);
        }
        return EXIT.OK;
      }
      case 'delete': {
        if (names.length === 0) throw new UsageError('groups delete takes one or more group ids');
        await admin.deleteGroups(names);
        if (values.json) out(JSON.stringify({ deleted: names }) + '\n');
        else for (const g of names) out(`deleted group ${g}\n`);
        return EXIT.OK;
      }
      default:
        throw new UsageError(sub === undefined ? 'groups needs a subcommand' : `unknown groups subcommand "${sub}"`);
    }
  } finally {
    admin.close();
  }
}
