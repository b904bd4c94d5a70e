import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedMonotonicMs, sharedWallMs } from '../../src/util/index.ts';

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('shared clock readings: one reading serves a synchronous run, for at most 32 uses', async () => {
  for (const [read, exact] of [[sharedMonotonicMs, () => performance.now()], [sharedWallMs, () => Date.now()]] as const) {
    await new Promise((r) => setTimeout(r, 2)); // start from a fresh reading
    const first = read();
    busyWait(3);
    // Within the run and the budget of uses, the same reading...
    const within = Array.from({ length: 30 }, () => read());
    assert.ok(within.every((v) => v === first), 'calls in one synchronous run share a reading');
    // ...and past the budget a new one, even in the same run.
    const later = [read(), read()];
    assert.ok(later.some((v) => v > first), `a new reading after 32 uses: ${later} vs ${first}`);
    assert.ok(later.every((v) => v <= exact()), 'a shared reading is never ahead of the clock');
    // Once the microtask queue runs, the next call reads the clock again.
    const before = read();
    await Promise.resolve();
    busyWait(3);
    assert.ok(read() >= before + 2, 'a new synchronous run gets a new reading');
  }
});
