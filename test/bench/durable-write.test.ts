// bench:durable-write compares ways to make an append durable; its O_DIRECT method rewrites each
// round's partial last block from memory, and checks the file afterwards, so a run that completes
// has written every byte where it belongs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bench/durable-write.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('a short run reports the three methods in turn, with time and CPU per round', () => {
  // 10,000 bytes a round: every round after the first starts inside a 4 KiB block.
  const r = run('--bytes', '10000', '--rounds', '30', '--repeats', '2');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.method), ['writev+fdatasync', 'o_dsync', 'o_direct', 'writev+fdatasync', 'o_dsync', 'o_direct']);
  for (const l of lines) {
    if (l.method === 'o_direct' && 'unsupported' in l) {
      // Only a file system that refuses O_DIRECT at open may skip it, and it says so.
      assert.match(l.unsupported, /^(EINVAL|EOPNOTSUPP): this file system refuses O_DIRECT$/);
      continue;
    }
    assert.equal(l.bytes, 10000);
    assert.equal(l.rounds, 30);
    assert.ok(Number.isFinite(l.msPerRound) && l.msPerRound > 0, `msPerRound ${l.msPerRound}`);
    assert.ok(Number.isSafeInteger(l.cpuUsPerRound) && l.cpuUsPerRound > 0, `cpuUsPerRound ${l.cpuUsPerRound}`);
  }
});

test('bad options are refused by name', () => {
  const bytes = run('--bytes', '0');
  assert.equal(bytes.status, 2);
  assert.match(bytes.stderr, /--bytes must be an integer 1\.\.67108864, got 0/);
  const rounds = run('--rounds', 'x');
  assert.equal(rounds.status, 2);
  assert.match(rounds.stderr, /--rounds must be an integer 1\.\.10000000, got x/);
});

test('--methods picks the methods; o_dsync_prezeroed runs its rounds over a file of fsynced zeros, o_dsync_prezeroed_inline on the event loop', () => {
  const r = run('--bytes', '10000', '--rounds', '30', '--repeats', '1', '--methods', 'o_dsync,o_dsync_prezeroed,o_dsync_prezeroed_inline');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.method), ['o_dsync', 'o_dsync_prezeroed', 'o_dsync_prezeroed_inline']);
  for (const l of lines) assert.ok(Number.isFinite(l.msPerRound) && l.msPerRound > 0 && l.rounds === 30, JSON.stringify(l));
  const bad = run('--methods', 'o_dsync,fsync');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--methods must be a comma list of .*o_dsync_prezeroed, o_dsync_prezeroed_inline, got o_dsync,fsync/);
});
