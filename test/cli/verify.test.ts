// `holdfast verify --brokers …` against a broker it does not run: client faults only, the
// others skipped and said so; JSON result and exit code 0 when every check passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { embeddedBroker, holdfastCli, removeDir } from '../helpers/broker.ts';
import { parseDuration } from '../../src/cli/common.ts';

test('holdfast verify against a running broker: client faults, checkers pass, JSON result', { timeout: 180_000 }, async () => {
  const b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0 });
  try {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      execFile(process.execPath, [resolve('src/cli/main.ts'), 'verify', '--brokers', b.bootstrap, '--duration', '8s', '--faults', 'all', '--seed', '42', '--json'], { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
        res({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.valid, true);
    assert.equal(result.seed, 42);
    assert.ok(result.counts.acked > 0);
    assert.ok(result.counts.distinctDelivered >= result.counts.acked);
    const skipped = result.faultsSkipped.map((s: { fault: string }) => s.fault).sort();
    assert.deepEqual(skipped, ['bit-flip', 'broker-kill', 'broker-pause', 'net-cut', 'net-delay', 'net-stall']);
    assert.match(r.stderr, /^VALID: seed 42/m);
    assert.match(r.stderr, /skipped broker-kill: the broker is not run by verify/);
  } finally {
    await b.close();
    removeDir(b.dataDir);
  }
});

test('verify --duration accepts ms, s, m, h', () => {
  assert.equal(parseDuration('1500ms'), 1500);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('30'), 30_000);
  assert.throws(() => parseDuration('soon'), /--duration must look like 500ms, 90s, 5m or 1h, got "soon"/);
});

test('verify --broker-log is refused with --brokers: there is no broker of its own to log', async () => {
  const r = await holdfastCli(['verify', '--brokers', '127.0.0.1:1', '--broker-log', 'x.log']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--broker-log needs the broker verify starts itself: it cannot be used with --brokers/);
});
