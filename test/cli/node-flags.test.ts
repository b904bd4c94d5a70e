// The Node flags (NODE_FLAGS) reach every way a broker is started: the `holdfast` launcher
// (which re-executes itself with them), `npm start`, and the brokers bench and verify spawn (which
// use the constant). An older Node gets a plain message from the launcher.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/index.ts';

test('npm start carries the broker flags; the launcher shebang is plain node', () => {
  const shebang = readFileSync('bin/holdfast.js', 'utf8').split('\n')[0];
  assert.equal(shebang, '#!/usr/bin/env node');
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  assert.equal(start, `node ${NODE_FLAGS.join(' ')} src/cli/main.ts serve`);
});

async function serveOutput(command: string, args: string[]): Promise<{ ready: boolean; log: string[]; exit: number | string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-flags-'));
  // The launcher's shebang runs `node` from PATH: put the Node running the tests (24) first, as npm does.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
  const child = spawn(command, [...args, 'serve', '--port', '0', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const log: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => log.push(l));
  let exit: number | string | null = null;
  try {
    const ready = await new Promise<boolean>((res) => {
      const timer = setTimeout(() => res(false), 30_000);
      createInterface({ input: child.stdout! }).on('line', (l) => {
        log.push(l);
        if (l.startsWith('holdfast ready')) {
          clearTimeout(timer);
          res(true);
        }
      });
      child.once('exit', () => res(false));
    });
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    exit = child.exitCode ?? child.signalCode;
    return { ready, log, exit };
  } finally {
    if (exit === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a broker run through the launcher has its flags; one without them says which are missing', async () => {
  const launched = await serveOutput(resolve('bin/holdfast.js'), []);
  assert.ok(launched.ready, launched.log.join('\n'));
  assert.ok(!launched.log.some((l) => l.includes('node flags missing')), launched.log.join('\n'));
  // The launcher replaced itself (execve), so the SIGTERM sent to the process it started reached the
  // broker, which shut down cleanly.
  assert.equal(launched.exit, 0, launched.log.join('\n'));
  const bare = await serveOutput(process.execPath, [resolve('src/cli/main.ts')]);
  assert.ok(bare.ready, bare.log.join('\n'));
  const line = bare.log.find((l) => l.includes('node flags missing'));
  assert.ok(line !== undefined && line.includes(NODE_FLAGS[0]), bare.log.join('\n'));
});

/** A `node` older than 24 on this machine (this one has Node 20 as /usr/bin/node), if any. */
function olderNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(/^v(\d+)/.exec(version)?.[1]) < 24) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

const OLD_NODE = olderNode();

test('an older Node gets a plain message from the launcher, not a failure inside', { skip: OLD_NODE === undefined ? 'no Node older than 24 on this machine' : false }, () => {
  const r = spawnSync(OLD_NODE as string, [resolve('bin/holdfast.js'), 'serve', '--port', '0'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^holdfast: needs Node\.js 24 or newer; this is Node\.js v\d+/);
});
