// bench:producer-paths reports the Producer's per-record cost; its figures only mean something if
// every round really sent and settled its whole window.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bench/producer-paths.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('a short run reports both paths for each value size, over every measured record', () => {
  const r = run('--value-bytes', '100,4096', '--rounds', '20');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.valueBytes), [100, 4096]);
  for (const l of lines) {
    assert.equal(l.rounds, 16); // 20% of 20 rounds warm up
    assert.equal(l.records, l.rounds * l.window);
    // 4 KiB values: fewer per round, so that a round is one batch of at most 1 MiB.
    assert.ok(l.window >= 1 && l.window * (l.valueBytes + 32) <= 1 << 20, `window ${l.window}`);
    assert.ok(Number.isFinite(l.sendAsyncNsPerRecord) && l.sendAsyncNsPerRecord > 0, `sendAsync ${l.sendAsyncNsPerRecord}`);
    assert.ok(Number.isFinite(l.settleNsPerRecord) && l.settleNsPerRecord > 0, `settle ${l.settleNsPerRecord}`);
    assert.ok(Number.isFinite(l.sendAsyncNsPerRecordMedian) && l.sendAsyncNsPerRecordMedian > 0, `sendAsync median ${l.sendAsyncNsPerRecordMedian}`);
    assert.ok(Number.isFinite(l.settleNsPerRecordMedian) && l.settleNsPerRecordMedian > 0, `settle median ${l.settleNsPerRecordMedian}`);
    assert.equal(l.checkout, undefined, 'one checkout: no checkout field');
  }
  assert.equal(lines[0].window, 1000);
  assert.ok(lines[1].window < 1000);
});

test('--against runs a second checkout in the same process, every round for both', () => {
  // This checkout as the other one: the comparison's plumbing, not a difference, is under test.
  const r = run('--value-bytes', '100', '--rounds', '20', '--against', '.');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.checkout), ['this', '.']);
  for (const l of lines) {
    assert.equal(l.rounds, 16);
    assert.equal(l.records, 16 * 1000);
    assert.ok(l.sendAsyncNsPerRecordMedian > 0 && l.settleNsPerRecordMedian > 0);
  }
});

test('bad options are refused by name', () => {
  const size = run('--value-bytes', '100,x');
  assert.equal(size.status, 2);
  assert.match(size.stderr, /--value-bytes must be a comma list of integers 0\.\.524288, got 100,x/);
  const rounds = run('--rounds', '3');
  assert.equal(rounds.status, 2);
  assert.match(rounds.stderr, /--rounds must be an integer >= 10, got 3/);
  const against = run('--against', '/nonexistent-checkout');
  assert.equal(against.status, 2);
  assert.match(against.stderr, /--against \/nonexistent-checkout: cannot load \/nonexistent-checkout\/src\/client\/index\.ts/);
});
