// bench:floor is the platform's share of the benchmarks' cost: its numbers are only worth comparing
// if its pipeline really moves every message producer → durable write → consumer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

function floor(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bench/floor.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('a short W2 run moves messages end to end and reports each process', () => {
  const run = floor('--workload', 'W2', '--duration', '3s');
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
  assert.equal(r.floor, true);
  assert.equal(r.workload, 'W2');
  assert.equal(r.messageBytes, 100);
  assert.ok(r.produced > 1000, `produced ${r.produced}`);
  // Counted in the same window at both ends: apart by what was in flight at its edges.
  assert.ok(Math.abs(r.produced - r.consumed) <= 0.05 * r.produced + 2 * r.inFlight, `produced ${r.produced}, consumed ${r.consumed}`);
  // A group commit holds what arrived while the previous write ran: never more than the window.
  assert.ok(r.messagesPerWrite >= 1 && r.messagesPerWrite <= r.inFlight, `messagesPerWrite ${r.messagesPerWrite}`);
  for (const role of ['broker', 'producer', 'consumer']) assert.ok(r.cpuUsPerMessage[role] > 0, `${role} CPU ${r.cpuUsPerMessage[role]}`);
  // Per second from the producer's start, warm-up included: they add up to at least the measured window's.
  const perSecond: number[] = r.perSecond.produced;
  assert.ok(perSecond.length >= 3 && perSecond.every((n) => Number.isInteger(n) && n >= 0), `perSecond ${JSON.stringify(perSecond)}`);
  assert.ok(perSecond.reduce((a, b) => a + b, 0) >= r.produced, `perSecond sums to less than the ${r.produced} produced`);
});

test('--frame-messages splits the window into frames that still move end to end', () => {
  const run = floor('--workload', 'W2', '--duration', '3s', '--frame-messages', '250');
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
  assert.equal(r.frameMessages, 250);
  assert.ok(r.produced > 1000, `produced ${r.produced}`);
  assert.ok(Math.abs(r.produced - r.consumed) <= 0.05 * r.produced + 2 * r.inFlight, `produced ${r.produced}, consumed ${r.consumed}`);
});

test('an unknown workload, a too short duration or a frame size out of range is refused by name', () => {
  const bad = floor('--workload', 'W9');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--workload must be one of W1, W2, L, got W9/);
  const short = floor('--duration', '1s');
  assert.equal(short.status, 2);
  assert.match(short.stderr, /--duration must be like 20s or 2m and at least 3s, got 1s/);
  for (const [value, workload, most] of [['0', 'W1', 1023], ['10486', 'W2', 10485], ['x', 'L', 1023]] as const) {
    const frames = floor('--workload', workload, '--frame-messages', value);
    assert.equal(frames.status, 2);
    assert.match(frames.stderr, new RegExp(`--frame-messages must be an integer from 1 to ${most} \\(what fits a 1 MiB frame for ${workload}\\), got ${value}`));
  }
});
