// Runs every test file under test/ with node:test. Arguments narrow the run to files whose path
// contains one of them: `npm test -- storage protocol`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', `--test-concurrency=${process.env.HOLDFAST_TEST_CONCURRENCY ?? '2'}`, ...selected],
  // Pooled request buffers are filled with garbage when they go back, so that a view read after
  // its reference was given back fails its CRC in any test (src/util/receive-slabs.ts).
  { stdio: 'inherit', env: { ...process.env, HOLDFAST_POISON_RECYCLED: process.env.HOLDFAST_POISON_RECYCLED ?? '1' } },
);
process.exit(result.status ?? 1);
