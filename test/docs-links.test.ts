// Links in the README and docs/ point at files that exist and at headings those files have, with
// anchors made as GitHub makes them (lower case; punctuation other than - and _ dropped; spaces to
// hyphens; a repeated heading gets -1, -2, ...). Figures move between these pages, and a link to a
// renamed section fails silently on GitHub.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The lines of a Markdown text outside fenced code blocks. */
function proseLines(text: string): string[] {
  const lines: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced) lines.push(line);
  }
  return lines;
}

/** The anchors of a Markdown file's headings. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(text)) {
    const m = /^#{1,6} (.*)$/.exec(line);
    if (m === null) continue;
    const base = githubAnchor(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Relative links `[text](path#anchor)`, outside code blocks and inline code. */
function linksOf(text: string): string[] {
  const links: string[] = [];
  for (const line of proseLines(text)) {
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z]+:/i.test(m[1])) links.push(m[1]);
    }
  }
  return links;
}

test('githubAnchor drops punctuation and keeps hyphens', () => {
  assert.equal(githubAnchor('W2 durable ≥ 1M msg/s'), 'w2-durable--1m-msgs');
  assert.equal(githubAnchor("Issue 5's targets: where the time goes"), 'issue-5s-targets-where-the-time-goes');
  assert.equal(githubAnchor('Beside the floor (2026-12-04, ~00:19–01:52)'), 'beside-the-floor-2026-12-04-00190152');
});

test('links in README.md and docs/ reach existing files and headings', () => {
  const files = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  const anchors = new Map<string, Set<string>>();
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const link of linksOf(readFileSync(file, 'utf8'))) {
      const [path, anchor] = link.split('#', 2);
      const target = path === '' ? resolve(file) : resolve(dirname(file), path);
      checked++;
      if (!existsSync(target)) {
        broken.push(`${file}: ${link} (no such file)`);
        continue;
      }
      if (anchor === undefined || !target.endsWith('.md')) continue;
      let known = anchors.get(target);
      if (known === undefined) anchors.set(target, (known = anchorsOf(readFileSync(target, 'utf8'))));
      if (!known.has(anchor)) broken.push(`${file}: ${link} (no such heading)`);
    }
  }
  assert.ok(checked >= 10, `expected the README and docs to have links to check, found ${checked}`);
  assert.deepEqual(broken, []);
});
