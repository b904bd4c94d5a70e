// Enforces the layering in ../shared/design/ARCHITECTURE.md: each module imports only the modules to
// its right, and only through their index.ts. node:fs is allowed in storage only in its adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, dirname, resolve, sep } from 'node:path';

const SRC = resolve('src');

const ALLOWED: Record<string, string[]> = {
  util: [],
  record: ['util'],
  storage: ['util', 'record'],
  'protocol/kafka': ['util', 'record'],
  cluster: ['util'],
  broker: ['util', 'record', 'storage', 'protocol/kafka', 'cluster'],
  client: ['util', 'record', 'protocol/kafka'],
  cli: ['util', 'client', 'broker'],
};
const MODULES = Object.keys(ALLOWED).sort((a, b) => b.length - a.length);

function moduleOf(file: string): string | undefined {
  const rel = relative(SRC, file).split(sep).join('/');
  return MODULES.find((m) => rel === m || rel.startsWith(m + '/'));
}

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = re.exec(source); m; m = re.exec(source)) specs.push(m[1] ?? m[2]);
  return specs;
}

test('every source file belongs to a known module', () => {
  const stray = files(SRC).filter((f) => moduleOf(f) === undefined && relative(SRC, f) !== 'index.ts');
  assert.deepEqual(stray, []);
});

test('imports follow the layer direction and go through index.ts', () => {
  const problems: string[] = [];
  for (const file of files(SRC)) {
    const from = moduleOf(file);
    const source = readFileSync(file, 'utf8');
    for (const spec of importsOf(source)) {
      if (!spec.startsWith('.')) {
        if (spec === 'node:fs' || spec === 'node:fs/promises' || spec === 'fs') {
          const rel = relative(SRC, file).split(sep).join('/');
          if (from === 'storage' && rel !== 'storage/node-fs.ts') problems.push(`${rel}: storage must use the FileSystem seam, not ${spec}`);
        }
        continue;
      }
      const target = resolve(dirname(file), spec);
      const to = moduleOf(target);
      const relFile = relative(SRC, file).split(sep).join('/');
      if (from === undefined) continue; // src/index.ts, the package root, may import any module's index
      if (to === undefined) {
        problems.push(`${relFile}: imports ${spec}, outside any module`);
        continue;
      }
      if (to === from) continue;
      if (!ALLOWED[from].includes(to)) problems.push(`${relFile}: ${from} may not import ${to}`);
      const expectedIndex = join(SRC, to, 'index.ts');
      if (target !== expectedIndex) problems.push(`${relFile}: reaches into ${relative(SRC, target)} instead of ${to}/index.ts`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every module has an index.ts without export-star barrels', () => {
  for (const m of Object.keys(ALLOWED)) {
    const index = join(SRC, m, 'index.ts');
    if (!existsSync(join(SRC, m))) continue;
    assert.ok(existsSync(index), `${m} has no index.ts`);
    assert.doesNotMatch(readFileSync(index, 'utf8'), /export \*/, `${m}/index.ts uses export *`);
  }
});

test('the checker itself catches a violation', () => {
  // A check that cannot fail is a defect: prove the import parser sees both forms.
  assert.deepEqual(importsOf(`import { a } from '../storage/log.ts';\nexport { b } from "./x.ts";`), ['../storage/log.ts', './x.ts']);
  assert.equal(moduleOf(join(SRC, 'protocol', 'kafka', 'x.ts')), 'protocol/kafka');
});
