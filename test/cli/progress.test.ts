// The progress line: drawn on a terminal (a bar with a total, a count without), cleared at the end,
// and nothing at all when the stream is not a terminal or the command turned it off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from '../../src/cli/progress.ts';

function stream(isTTY: boolean): { s: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const s = { isTTY, columns: 80, write: (chunk: string) => written.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
  return { s, written };
}

test('on a terminal: a bar with percentage, count and rate; done() clears the line', () => {
  const { s, written } = stream(true);
  const p = new Progress('produce t', 200, { stream: s });
  assert.equal(p.enabled, true);
  p.update(50, ' KiB');
  assert.equal(written.length, 1);
  assert.match(written[0], /^\rproduce t \[######------------------\] 25% 50 KiB\/200 KiB \d+ KiB\/s\x1b\[K$/);
  p.update(60, ' KiB'); // within the redraw interval: not drawn
  assert.equal(written.length, 1);
  p.done();
  assert.equal(written.at(-1), '\r\x1b[K');
});

test('without a total: a count; not a terminal or disabled: silent', () => {
  const tty = stream(true);
  new Progress('consume t', null, { stream: tty.s }).update(7);
  assert.match(tty.written[0], /^\rconsume t 7 \d+\/s/);
  for (const [isTTY, disabled] of [[false, false], [true, true]] as const) {
    const { s, written } = stream(isTTY);
    const p = new Progress('x', 10, { stream: s, disabled });
    p.update(5);
    p.done();
    assert.deepEqual(written, []);
  }
});
