// bench:catch-up reports how fast a consumer reads a backlog; its figures only mean something if
// every round read every message once, in order, and it says so when one did not.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bench/catch-up.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
}

test('a short run reads the whole backlog in every round and reports its rates', { timeout: 150_000 }, () => {
  const r = run('--messages', '3000', '--message-bytes', '200', '--partitions', '4', '--rounds', '2', '--max-uncommitted', '500');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3, r.stdout);
  const [setup, ...rounds] = lines;
  assert.deepEqual({ ...setup, produceMsgPerSec: 0 }, { setup: true, messages: 3000, messageBytes: 200, partitions: 4, maxUncommittedMessages: 500, produceMsgPerSec: 0 });
  assert.ok(setup.produceMsgPerSec > 0, `produce ${setup.produceMsgPerSec}`);
  assert.deepEqual(rounds.map((l) => l.round), [0, 1]);
  for (const l of rounds) {
    assert.equal(l.consumed, 3000);
    assert.equal(l.complete, true, l.problem);
    assert.equal(l.problem, undefined);
    assert.ok(l.consumeMsgPerSec > 0 && Number.isFinite(l.consumeMsgPerSec), `msg/s ${l.consumeMsgPerSec}`);
    // 200-byte values: MB/s is msg/s times 200 bytes, within rounding and the first message's share.
    assert.ok(Math.abs(l.consumeMBPerSec - (l.consumeMsgPerSec * 200) / 1e6) <= 0.1 + l.consumeMBPerSec * 0.01, `MB/s ${l.consumeMBPerSec} for ${l.consumeMsgPerSec} msg/s`);
    assert.ok(l.consumerCpuUsPerMessage > 0, `consumer CPU ${l.consumerCpuUsPerMessage}`);
    assert.ok(Number.isInteger(l.consumerPageFaults) && l.consumerPageFaults >= 0, `consumer page faults ${l.consumerPageFaults}`);
    assert.ok(Number.isInteger(l.brokerPageFaults) && l.brokerPageFaults >= 0, `broker page faults ${l.brokerPageFaults}`);
    // From /proc on Linux (the only platform this suite runs on), in 10 ms ticks: a round this
    // short may read 0.
    assert.ok(typeof l.brokerCpuUsPerMessage === 'number' && l.brokerCpuUsPerMessage >= 0, `broker CPU ${l.brokerCpuUsPerMessage}`);
  }
});

test('bad options are refused by name', () => {
  const messages = run('--messages', '0');
  assert.equal(messages.status, 2);
  assert.match(messages.stderr, /--messages must be an integer 1\.\.100000000, got 0/);
  const uncommitted = run('--max-uncommitted', '0');
  assert.equal(uncommitted.status, 2);
  assert.match(uncommitted.stderr, /--max-uncommitted must be an integer 1\.\.10000000, got 0/);
  const partitions = run('--partitions', 'x');
  assert.equal(partitions.status, 2);
  assert.match(partitions.stderr, /--partitions must be an integer 1\.\.1000, got x/);
});
