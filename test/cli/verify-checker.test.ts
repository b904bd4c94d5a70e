// Each checker of `holdfast verify` on a hand-made history: a clean one passes, and each way of
// breaking it is caught by the right checker (a checker that cannot fail proves nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, type History, type AnomalyKind } from '../../src/cli/verify/checker.ts';

/** Producer a sends a:0..a:5 to partitions 0/1 alternately; all acked, in the log, handled, committed. */
function clean(): History {
  const h: History = { acked: new Map(), failed: new Set(), attempted: new Map([['a', 5]]), deliveries: [], log: new Map([[0, []], [1, []]]), logEnd: new Map(), committed: new Map(), corruption: [] };
  for (let seq = 0; seq <= 5; seq++) {
    const partition = seq % 2;
    const entries = h.log.get(partition) as Array<{ offset: number; value: string }>;
    const offset = entries.length;
    const value = `a:${seq}`;
    entries.push({ offset, value });
    h.acked.set(value, { partition, offset });
    h.deliveries.push({ partition, offset, value });
  }
  h.logEnd = new Map([[0, 3], [1, 3]]);
  h.committed = new Map([[0, 3], [1, 3]]);
  return h;
}

function only(h: History, kind: AnomalyKind): void {
  const r = check(h);
  assert.equal(r.valid, false, `${kind} must make the run invalid`);
  const found = Object.entries(r.anomalies).filter(([, n]) => n > 0).map(([k]) => k);
  assert.ok(found.includes(kind), `expected ${kind}, found ${found.join(', ')}: ${JSON.stringify(r.examples)}`);
}

test('a clean history is valid, with counts', () => {
  const r = check(clean());
  assert.equal(r.valid, true, JSON.stringify(r.examples));
  assert.deepEqual(r.counts, { acked: 6, failed: 0, failedButStored: 0, unconfirmedStored: 0, inLog: 6, delivered: 6, distinctDelivered: 6, redeliveries: 0, corruptionDetected: 0 });
});

test('redeliveries and indeterminate sends are allowed and counted', () => {
  const h = clean();
  h.deliveries.push({ ...h.deliveries[0] }); // handled twice (at-least-once)
  h.attempted.set('a', 7);
  h.log.get(0)?.push({ offset: 3, value: 'a:6' }); // failed with a timeout, but stored
  h.log.get(1)?.push({ offset: 3, value: 'a:7' }); // the process died before hearing back
  h.failed.add('a:6');
  h.logEnd = new Map([[0, 4], [1, 4]]);
  const r = check(h);
  assert.equal(r.valid, true, JSON.stringify(r.examples));
  assert.equal(r.counts.redeliveries, 1);
  assert.equal(r.counts.failedButStored, 1);
  assert.equal(r.counts.unconfirmedStored, 1);
});

test('lost: an acknowledged value missing from the log', () => {
  const h = clean();
  h.log.set(1, (h.log.get(1) ?? []).filter((e) => e.value !== 'a:3'));
  h.deliveries = h.deliveries.filter((d) => d.value !== 'a:3');
  h.committed.set(1, 1);
  only(h, 'lost');
});

test('moved: acknowledged at one offset, stored at another', () => {
  const h = clean();
  h.acked.set('a:2', { partition: 0, offset: 2 });
  only(h, 'moved');
});

test('duplicated: one value at two offsets', () => {
  const h = clean();
  h.log.get(0)?.push({ offset: 3, value: 'a:4' });
  h.logEnd.set(0, 4);
  only(h, 'duplicated');
});

test('unexpected: a value beyond what its producer attempted, or from no producer', () => {
  const h = clean();
  h.log.get(0)?.push({ offset: 3, value: 'a:9' });
  h.logEnd.set(0, 4);
  only(h, 'unexpected');
  const g = clean();
  g.log.get(0)?.push({ offset: 3, value: 'garbage' });
  g.logEnd.set(0, 4);
  only(g, 'unexpected');
});

test('reordered: a producer\'s later value before an earlier one in a partition', () => {
  const h = clean();
  const p0 = h.log.get(0) as Array<{ offset: number; value: string }>;
  [p0[1].value, p0[2].value] = [p0[2].value, p0[1].value];
  h.acked.set('a:2', { partition: 0, offset: 2 });
  h.acked.set('a:4', { partition: 0, offset: 1 });
  h.deliveries = h.deliveries.map((d) => (d.value === 'a:2' ? { ...d, offset: 2 } : d.value === 'a:4' ? { ...d, offset: 1 } : d));
  only(h, 'reordered');
});

test('offset-conflict: a consumer saw a different value at an offset than the log holds', () => {
  const h = clean();
  h.deliveries.push({ partition: 0, offset: 1, value: 'a:0' });
  only(h, 'offset-conflict');
});

test('undelivered: acknowledged but never handled by the group', () => {
  const h = clean();
  h.deliveries = h.deliveries.filter((d) => d.value !== 'a:5');
  h.committed.set(1, 2);
  only(h, 'undelivered');
});

test('committed-past-unprocessed and committed-past-end', () => {
  const h = clean();
  h.deliveries = h.deliveries.filter((d) => d.value !== 'a:1'); // partition 1 offset 0 never handled, yet committed 3
  only(h, 'committed-past-unprocessed');
  const g = clean();
  g.committed.set(0, 10);
  only(g, 'committed-past-end');
});

test('undetected-corruption: a bit flip served as data; detected flips are counted', () => {
  const h = clean();
  h.corruption.push({ detail: 'byte 40 of batch 0 in /data/t-0/00000000000000000000.log', detected: true });
  const r = check(h);
  assert.equal(r.valid, true, JSON.stringify(r.examples));
  assert.equal(r.counts.corruptionDetected, 1);
  h.corruption.push({ detail: 'byte 41 of batch 2 in /data/t-1/00000000000000000000.log', detected: false });
  only(h, 'undetected-corruption');
  assert.equal(check(h).anomalies['undetected-corruption'], 1);
});
