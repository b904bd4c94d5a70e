// The README's "Use it from TypeScript" program is type-checked and run as it is written (only its
// `from 'holdfast'` is pointed at this checkout's src/index.ts), so the guide cannot rot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, tempDir } from './helpers/broker.ts';

const run = promisify(execFile);

function readmeProgram(): string {
  const readme = readFileSync(resolve('README.md'), 'utf8');
  const start = readme.indexOf('## Use it from TypeScript');
  assert.ok(start >= 0, 'README has a "Use it from TypeScript" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m !== null, 'the section has a ```ts block');
  return m[1];
}

test('README "Use it from TypeScript": the program type-checks and prints what the README says', { timeout: 120_000 }, async () => {
  const program = readmeProgram();
  assert.match(program, /from 'holdfast';/);
  const dir = tempDir('holdfast-readme-');
  try {
    const file = join(dir, 'example.ts');
    writeFileSync(file, program.replace("from 'holdfast';", `from '${resolve('src/index.ts')}';`));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: resolve('tsconfig.json'), compilerOptions: { typeRoots: [resolve('node_modules/@types')], skipLibCheck: true, rewriteRelativeImportExtensions: false }, include: ['example.ts'] }),
    );
    const tsc = resolve('node_modules/typescript/bin/tsc');
    const checked = await run(process.execPath, [tsc, '--noEmit', '-p', join(dir, 'tsconfig.json')]).catch((err: { stdout: string; stderr: string }) => err);
    assert.equal(checked.stdout + checked.stderr, '', 'tsc reports no error in the README program');

    const { stdout } = await run(process.execPath, [file], { cwd: dir, timeout: 90_000 });
    assert.match(stdout, /^stored at orders-[0-2]@0$/m);
    assert.match(stdout, /^handled 10 messages$/m);
    assert.match(stdout, /^lag after commit: 0$/m);
  } finally {
    removeDir(dir);
  }
});
