#!/usr/bin/env node
// Launcher: the published package (bin/ and dist/ only) runs the compiled dist/; a checkout runs
// the TypeScript sources directly (Node 24 strips types), even after `npm run build` has left a
// dist/ there, so that an edit to src/ is what `npx holdfast` runs.
//
// It first checks the Node version, so an older `node` gets a plain message instead of a failure
// deep inside. Then, when the V8 flags the broker wants (NODE_FLAGS in src/cli/node-flags.ts) are
// missing, it replaces itself (execve: same process id, so signals and supervisors see one process)
// with `node <flags> <this file>`. V8 takes those flags only at start-up, and a shebang cannot
// carry them portably (`env -S` is missing from some systems, and an older Node would stop at an
// unknown flag before any of this runs). Where execve is not available (Windows) it runs without
// them: they tune memory and CPU, not behaviour.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NEEDS_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (!(major >= NEEDS_MAJOR)) {
  process.stderr.write(`holdfast: needs Node.js ${NEEDS_MAJOR} or newer; this is Node.js ${process.version} (${process.execPath})\n`);
  process.exit(1);
}

const compiled = !existsSync(fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)));
const cliModule = (name) => new URL(compiled ? `../dist/cli/${name}.js` : `../src/cli/${name}.ts`, import.meta.url).href;

const { NODE_FLAGS } = await import(cliModule('node-flags'));
if (typeof process.execve === 'function' && process.platform !== 'win32' && !NODE_FLAGS.every((f) => process.execArgv.includes(f))) {
  // The caller's own node options come after ours, so they win (HOLDFAST_* profiling flags, or one undoing ours).
  const argv = [process.execPath, ...NODE_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  try {
    process.execve(process.execPath, argv, process.env); // does not return
  } catch (err) {
    process.stderr.write(`holdfast: could not restart with ${NODE_FLAGS.join(' ')} (${err && err.message ? err.message : err}); running without them\n`);
  }
}

const { main } = await import(cliModule('main'));
main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    process.stderr.write(`holdfast: ${err && err.code ? err.code + ': ' : ''}${err && err.message ? err.message : err}\n`);
    process.exit(1);
  },
);
