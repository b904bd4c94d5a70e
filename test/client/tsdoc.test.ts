// Every option of the public API is documented, and every optional one states its @default
// (checked with the TypeScript compiler's parser on the sources of the exported options types).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const FILES = [
  ...readdirSync(resolve('src/client'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join('src/client', f)),
  'src/broker/broker.ts',
];

// Names the package exports (an options type of an internal class is not public API).
const PUBLIC = readFileSync(resolve('src/client/index.ts'), 'utf8') + readFileSync(resolve('src/broker/index.ts'), 'utf8');

test('public options interfaces: every property documented, every optional one with @default', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const file of FILES) {
    const source = ts.createSourceFile(file, readFileSync(resolve(file), 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isInterfaceDeclaration(node) && /(Options|Policy|Dependencies)$/.test(node.name.text) && new RegExp(`\\b${node.name.text}\\b`).test(PUBLIC) && node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
        for (const member of node.members) {
          if (!ts.isPropertySignature(member)) continue;
          checked++;
          const name = `${file} ${node.name.text}.${member.name.getText(source)}`;
          const docs = ts.getJSDocCommentsAndTags(member);
          if (docs.length === 0) {
            problems.push(`${name}: no TSDoc`);
            continue;
          }
          if (member.questionToken !== undefined && !ts.getJSDocTags(member).some((t) => t.tagName.text === 'default')) problems.push(`${name}: optional without @default`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.ok(checked > 50, `found ${checked} options (expected the client's and the broker's)`);
  assert.deepEqual(problems, []);
});
