// `holdfast groups list | describe <group>`: consumer groups, their members and their lag.
import { parseArgs } from 'node:util';
import { Admin } from '../client/index.ts';

export const GROUPS_USAGE = `Usage: holdfast groups list [--brokers HOST:PORT] [--json]
       holdfast groups describe <group> [--brokers HOST:PORT] [--json]

Describe shows the group's state and members, and per partition the committed offset, the high
watermark and the lag (messages not yet committed). Default broker: 127.0.0.1:9092.`;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export async function groups(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { brokers: { type: 'string', default: '127.0.0.1:9092' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const [sub, group] = positionals;
  const admin = new Admin({ brokers: values.brokers.split(','), clientId: 'holdfast-cli' });
  try {
    if (sub === 'list') {
      const list = await admin.listGroups();
      if (values.json) out(JSON.stringify(list) + '\n');
      else out(table([['GROUP', 'STATE', 'PROTOCOL TYPE'], ...list.map((g) => [g.groupId, g.state || '-', g.protocolType || '-'])]) + '\n');
      return 0;
    }
    if (sub === 'describe' && group !== undefined) {
      const description = await admin.describeGroup(group);
      const lag = await admin.groupLag(group);
      if (values.json) {
        out(JSON.stringify({ ...description, partitions: lag, totalLag: lag.reduce((n, p) => n + p.lag, 0) }) + '\n');
        return 0;
      }
      const owner = new Map<string, string>();
      for (const m of description.members) for (const a of m.assignment) for (const p of a.partitions) owner.set(`${a.topic}:${p}`, m.memberId);
      out(`group ${group}: ${description.state}, ${description.members.length} member(s), protocol ${description.protocol || '-'}\n\n`);
      const rows = [['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH-WATERMARK', 'LAG', 'MEMBER']];
      for (const p of lag) rows.push([p.topic, String(p.partition), p.committedOffset < 0 ? '-' : String(p.committedOffset), String(p.highWatermark), String(p.lag), owner.get(`${p.topic}:${p.partition}`) ?? '-']);
      out(table(rows) + '\n');
      out(`\ntotal lag: ${lag.reduce((n, p) => n + p.lag, 0)}\n`);
      return 0;
    }
    process.stderr.write(GROUPS_USAGE + '\n');
    return 2;
  } finally {
    admin.close();
  }
}
