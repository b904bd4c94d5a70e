// Runs every test file under test/ with node:test. Arguments narrow the run to files whose path
// contains one of them: `npm test -- storage protocol`.
//
// The tests run with TMPDIR set to a directory of their own, and a run fails if they leave
// anything in it: every temporary data directory, config file or socket a test makes is its to
// remove, also when the test fails (t.after / finally), so that running the suite again and again
// does not fill the disk.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function collect(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
}

const filters = process.argv.slice(2);
const files: string[] = [];
collect('test', files);
const selected = filters.length === 0 ? files : files.filter((f) => filters.some((x) => f.includes(x)));
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(1);
}
const testTmp = mkdtempSync(join(tmpdir(), 'holdfast-tests-'));
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', `--test-concurrency=${process.env.HOLDFAST_TEST_CONCURRENCY ?? '2'}`, ...selected],
  // Pooled request buffers are filled with garbage when they go back, so that a view read after
  // its reference was given back fails its CRC in any test (src/util/receive-slabs.ts).
  { stdio: 'inherit', env: { ...process.env, TMPDIR: testTmp, HOLDFAST_POISON_RECYCLED: process.env.HOLDFAST_POISON_RECYCLED ?? '1' } },
);
// TypeScript's tsc (run by test/readme.test.ts) keeps Node's compile cache there on purpose.
const left = readdirSync(testTmp).filter((name) => name !== 'node-compile-cache').sort();
// A leftover's first entries name the test that made it (its topics, files).
const described = left.map((name) => {
  const path = join(testTmp, name);
  return statSync(path).isDirectory() ? `${name} (${readdirSync(path).sort().slice(0, 6).join(', ') || 'empty'})` : name;
});
rmSync(testTmp, { recursive: true, force: true });
if (left.length > 0) {
  console.error(`the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in their TMPDIR (removed now): ${described.join('; ')}`);
  process.exit(result.status === 0 ? 1 : (result.status ?? 1));
}
process.exit(result.status ?? 1);
