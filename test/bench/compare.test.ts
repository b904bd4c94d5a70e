// bench:compare joins Holdfast's results and the peers' by workload and mode; the ratios are
// Holdfast/peer. (Running the peers needs RabbitMQ, NATS and Redis: `npm run bench:compare`.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ratioRows, ratioTable } from '../../bench/compare.ts';
import type { BenchResult } from '../../src/cli/bench/index.ts';
import type { PeerResult } from '../../bench/peers/run.ts';

function holdfast(workload: 'W1' | 'W2', mode: 'durable' | 'fast', e2e: number, p99: number, cpu: number | null): BenchResult {
  return { workload, mode, e2eMsgPerSec: e2e, produceMsgPerSec: e2e * 2, latencyMs: { p50: 1, p99, p999: 1, max: 1, mean: 1 }, brokerCpuUsPerMessage: cpu } as BenchResult;
}

function peer(system: 'rabbitmq' | 'redis', workload: 'W1' | 'W2', mode: 'durable' | 'fast', e2e: number, p99: number | null, cpu: number | null, fsync: boolean): PeerResult {
  return { system, version: '9.9', workload, mode, e2eMsgPerSec: e2e, produceMsgPerSec: e2e, latencyMs: { p50: 1, p99, p999: 1, max: 1 }, brokerCpuUsPerMessage: cpu, fsyncBeforeAck: fsync } as PeerResult;
}

test('rows pair each Holdfast result with the peers of the same workload and mode', () => {
  const rows = ratioRows(
    [holdfast('W1', 'durable', 200_000, 10, 2), holdfast('W1', 'fast', 300_000, 5, null)],
    [peer('rabbitmq', 'W1', 'durable', 20_000, 40, 20, true), peer('redis', 'W1', 'durable', 50_000, null, 10, true), peer('redis', 'W1', 'fast', 100_000, 2, 4, false), peer('redis', 'W2', 'fast', 1, 1, 1, false)],
  );
  assert.deepEqual(
    rows.map((r) => [r.workload, r.mode, r.peer, r.ratio.e2e, r.ratio.produce, r.ratio.p99, r.ratio.brokerCpu, r.peerFsyncsBeforeAck]),
    [
      ['W1', 'durable', 'rabbitmq 9.9', 10, 20, 0.25, 0.1, true],
      ['W1', 'durable', 'redis 9.9', 4, 8, null, 0.2, true],
      ['W1', 'fast', 'redis 9.9', 3, 6, 2.5, null, false],
    ],
  );
  const tiny = ratioRows([holdfast('W2', 'fast', 1, 3, 1)], [peer('redis', 'W2', 'fast', 1, 1500, 1, false)]);
  assert.equal(tiny[0].ratio.p99, 0.002, 'small ratios keep 3 significant digits');
  assert.match(ratioTable(tiny), /0\.002×/);
  const table = ratioTable(rows).split('\n');
  assert.equal(table.length, 4);
  assert.match(table[1], /^W1\s+durable\s+rabbitmq 9\.9\s+yes\s+200,000\s+20,000\s+10\.00×\s+20\.00×/);
  assert.match(table[2], /\s-\s/, 'an unknown figure prints as -');
});
