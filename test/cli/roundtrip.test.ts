// The CLI as a user runs it (child processes against a broker in this process): topics create,
// produce 1,000 lines from a file, consume them through a group, reset the group to the earliest
// offsets and read them again; --to-datetime; reading without a group; exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedBroker, holdfastCli as holdfast, removeDir, tempDir } from '../helpers/broker.ts';

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('holdfast topics / produce / consume / groups reset-offsets round trip', { timeout: 120_000 }, async () => {
  const b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0 });
  const dir = tempDir();
  const brokers = ['--brokers', b.bootstrap];
  try {
    let r = await holdfast(['topics', 'create', 'lines', '--partitions', '3', '--config', 'retention.ms=3600000', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /topic lines ready with 3 partition\(s\)/);

    // 1,000 keyed lines; the key spreads them over the partitions.
    const lines = Array.from({ length: 1000 }, (_, i) => `key-${i % 37}|value ${i}`);
    const file = join(dir, 'lines.txt');
    writeFileSync(file, lines.join('\n') + '\n');
    r = await holdfast(['produce', 'lines', '--file', file, '--key-separator', '|', '--offsets', '--json', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    const acks = jsonLines(r.stdout);
    assert.equal(acks.length, 1000);
    assert.deepEqual(acks.map((a) => a.line), lines.map((_, i) => i + 1), 'one acknowledgement per line, in input order');
    assert.equal(new Set(acks.map((a) => `${String(a.partition)}:${String(a.offset)}`)).size, 1000, 'every line has its own partition and offset');
    assert.ok(new Set(acks.map((a) => a.partition)).size > 1, 'keys spread over partitions');
    assert.match(r.stderr, /produced 1000 of 1000 message\(s\) to lines/);

    // Listing and describing.
    r = await holdfast(['topics', 'list', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^lines\s+3$/m);
    assert.doesNotMatch(r.stdout, /__consumer_offsets/, 'internal topics only with --internal');
    r = await holdfast(['topics', 'describe', 'lines', '--json', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    const described = JSON.parse(r.stdout) as { partitions: Array<{ partition: number; highWatermark: number; logStartOffset: number; sizeBytes: number }>; configs: Array<{ name: string; value: string; source: string }> };
    assert.equal(described.partitions.reduce((n, p) => n + p.highWatermark - p.logStartOffset, 0), 1000);
    assert.deepEqual(described.partitions.map((p) => p.sizeBytes), described.partitions.map((p) => b.broker.partitionLog('lines', p.partition)?.sizeBytes), 'each partition\'s size on disk');
    r = await holdfast(['topics', 'describe', 'lines', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /PARTITION\s+LEADER\s+LOG-START\s+HIGH-WATERMARK\s+MESSAGES\s+BYTES/);
    assert.match(r.stdout, new RegExp(`^0\\s+1\\s+0\\s+${described.partitions[0].highWatermark}\\s+${described.partitions[0].highWatermark}\\s+${described.partitions[0].sizeBytes}$`, 'm'));
    assert.deepEqual(described.configs.find((c) => c.name === 'retention.ms'), { name: 'retention.ms', value: '3600000', source: 'topic', readOnly: false, sensitive: false });

    // A group reads all 1,000 (keys and values as sent).
    const expected = lines.map((l) => l.split('|')).map(([k, v]) => `${k}=${v}`).sort();
    const readAll = async (): Promise<string[]> => {
      const c = await holdfast(['consume', 'lines', '--group', 'readers', '--max', '1000', '--format', 'json', ...brokers]);
      assert.equal(c.code, 0, c.stderr);
      return jsonLines(c.stdout).map((m) => `${String(m.key)}=${String(m.value)}`);
    };
    assert.deepEqual((await readAll()).sort(), expected);

    // Everything is committed: no lag, and a further read finds nothing new.
    r = await holdfast(['groups', 'describe', 'readers', '--json', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).totalLag, 0);

    // --dry-run moves nothing; the real reset makes the group read them all again.
    r = await holdfast(['groups', 'reset-offsets', 'readers', '--to-earliest', '--dry-run', '--json', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).offsets.every((o: { offset: number }) => o.offset === 0), true);
    r = await holdfast(['groups', 'describe', 'readers', '--json', ...brokers]);
    assert.equal(JSON.parse(r.stdout).totalLag, 0, 'dry run changed nothing');
    r = await holdfast(['groups', 'reset-offsets', 'readers', '--to-earliest', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /3 partition\(s\) reset/);
    r = await holdfast(['groups', 'describe', 'readers', '--json', ...brokers]);
    assert.equal(JSON.parse(r.stdout).totalLag, 1000);
    assert.deepEqual((await readAll()).sort(), expected);

    // --max commits exactly what was printed: two reads of 5 after a reset give 10 distinct messages.
    await holdfast(['groups', 'reset-offsets', 'readers', '--to-earliest', ...brokers]);
    const five = async (): Promise<string[]> => {
      const c = await holdfast(['consume', 'lines', '--group', 'readers', '--max', '5', '--format', 'json', ...brokers]);
      assert.equal(c.code, 0, c.stderr);
      return jsonLines(c.stdout).map((m) => `${String(m.partition)}:${String(m.offset)}`);
    };
    const first = await five();
    const second = await five();
    assert.equal(first.length + second.length, 10);
    assert.equal(new Set([...first, ...second]).size, 10, 'the second read starts after the first');
    r = await holdfast(['groups', 'describe', 'readers', '--json', ...brokers]);
    assert.equal(JSON.parse(r.stdout).totalLag, 990);

    // --to-datetime: only messages at or after the time are read again.
    await new Promise((res) => setTimeout(res, 20));
    const since = Date.now();
    await new Promise((res) => setTimeout(res, 20));
    writeFileSync(file, 'late 1\nlate 2\n');
    r = await holdfast(['produce', 'lines', '--file', file, '--partition', '1', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    r = await holdfast(['groups', 'reset-offsets', 'readers', '--to-datetime', new Date(since).toISOString(), '--topic', 'lines', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    r = await holdfast(['consume', 'lines', '--group', 'readers', '--max', '2', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), ['late 1', 'late 2']);

    // Without a group: from an offset of one partition, and from a time; nothing is committed.
    r = await holdfast(['consume', 'lines', '--partition', '1', '--from-time', String(since), '--max', '2', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), ['late 1', 'late 2']);
    const p1 = acks.filter((a) => a.partition === 1);
    r = await holdfast(['consume', 'lines', '--partition', '1', '--from', String(p1[3].offset), '--max', '1', '--format', 'json', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonLines(r.stdout)[0].value, lines[Number(p1[3].line) - 1].split('|')[1]);
    r = await holdfast(['consume', 'lines', '--from', 'latest', '--timeout-ms', '300', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'nothing after the end');

    // Deleting.
    r = await holdfast(['topics', 'delete', 'lines', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    r = await holdfast(['topics', 'describe', 'lines', ...brokers]);
    assert.equal(r.code, 3, 'a deleted topic is not found');
  } finally {
    await b.close();
    removeDir(b.dataDir);
    removeDir(dir);
  }
});

test('holdfast exit codes: usage 2, not found 3, failed 1, partial produce 4', { timeout: 60_000 }, async () => {
  const b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0 });
  const dir = tempDir();
  const brokers = ['--brokers', b.bootstrap];
  try {
    let r = await holdfast(['consume', 'x', '--bogus', ...brokers]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown option '--bogus'/);
    assert.match(r.stderr, /Usage: holdfast consume/);
    r = await holdfast(['topics', 'create', 'x', '--partitions', 'many', ...brokers]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--partitions must be an integer >= 1, got "many"/);
    r = await holdfast(['groups', 'reset-offsets', 'g', ...brokers]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exactly one of --to-earliest, --to-latest, --to-datetime/);
    r = await holdfast(['groups', 'reset-offsets', 'g', '--to-datetime', 'yesterday', ...brokers]);
    assert.equal(r.code, 2);
    r = await holdfast(['nonsense']);
    assert.equal(r.code, 2);

    r = await holdfast(['topics', 'describe', 'missing', ...brokers]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /UNKNOWN_TOPIC_OR_PARTITION/);
    r = await holdfast(['consume', 'missing', '--max', '1', ...brokers]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /topic missing does not exist/);
    r = await holdfast(['groups', 'describe', 'no-such-group', ...brokers]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /group no-such-group does not exist/);

    r = await holdfast(['topics', 'create', 'twice', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    r = await holdfast(['topics', 'create', 'twice', ...brokers]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TOPIC_ALREADY_EXISTS/);
    r = await holdfast(['topics', 'create', 'twice', '--if-not-exists', ...brokers]);
    assert.equal(r.code, 0, r.stderr);
    r = await holdfast(['topics', 'create', 'bad', '--config', 'flush.mode=sometimes', ...brokers]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /flush\.mode/);

    // Lines to a partition that does not exist fail one by one; the exit code says some failed.
    const file = join(dir, 'in.txt');
    writeFileSync(file, 'a\nb\n');
    r = await holdfast(['produce', 'twice', '--file', file, '--partition', '7', ...brokers]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /line 1: not sent: .*partition 7/);
    assert.match(r.stderr, /produced 0 of 2 message\(s\)/);

    // No broker there: a connection error, exit 1.
    r = await holdfast(['topics', 'list', '--brokers', '127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /127\.0\.0\.1:1/);
  } finally {
    await b.close();
    removeDir(b.dataDir);
    removeDir(dir);
  }
});
