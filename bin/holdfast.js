#!/usr/bin/env -S node --initial-old-space-size=128 --external-memory-accounted-in-global-limit
// The flags: see NODE_FLAGS in src/cli/node-flags.ts (harmless for the other commands).
// Launcher: the published package runs the compiled dist/; a checkout runs the TypeScript sources
// directly (Node 24 strips types).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const entry = existsSync(fileURLToPath(compiled)) ? compiled : new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(entry.href);
main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    process.stderr.write(`holdfast: ${err && err.code ? err.code + ': ' : ''}${err && err.message ? err.message : err}\n`);
    process.exit(1);
  },
);
