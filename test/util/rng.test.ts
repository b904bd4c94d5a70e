import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/index.ts';

test('one seed replays the same sequence; another seed does not', () => {
  const draw = (seed: number): number[] => {
    const rng = new Rng(seed);
    return Array.from({ length: 20 }, () => rng.int(0, 1_000_000));
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

test('shuffled returns a permutation, leaves its input alone, and reaches every order', () => {
  const rng = new Rng(1);
  const items = ['a', 'b', 'c', 'd'] as const;
  const seen = new Map<string, number>();
  const firsts = new Map<string, number>();
  const rounds = 24_000;
  for (let i = 0; i < rounds; i++) {
    const s = rng.shuffled(items);
    assert.deepEqual([...s].sort(), [...items]);
    seen.set(s.join(''), (seen.get(s.join('')) ?? 0) + 1);
    firsts.set(s[0], (firsts.get(s[0]) ?? 0) + 1);
  }
  assert.deepEqual(items, ['a', 'b', 'c', 'd']);
  assert.equal(seen.size, 24, 'all 4! orders occur');
  // Uniform: each of the 24 orders ~1,000 times; each item first ~6,000 times.
  for (const [order, n] of seen) assert.ok(n > 800 && n < 1200, `${order} drawn ${n} times of ${rounds}`);
  for (const [item, n] of firsts) assert.ok(n > 5600 && n < 6400, `${item} first ${n} times of ${rounds}`);
  assert.deepEqual(rng.shuffled([]), []);
});
