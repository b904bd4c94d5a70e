// What the consumer makes of one partition's Fetch data: whole batches from the one containing the
// fetch offset (records below it dropped), control batches skipped, aborted transactions dropped
// under read_committed, a trailing partial batch left for the next fetch, corruption refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBatch, buildControlBatch, RecordError } from '../../src/record/index.ts';
import { messagesFromFetch } from '../../src/client/consumer-fetch.ts';

const NOW = 1_700_000_000_000;

function batch(baseOffset: number, values: string[], txn?: { producerId: number }): Buffer {
  return buildBatch({
    baseOffset,
    records: values.map((value) => ({ value, key: `k-${value}`, headers: { h: value } })),
    nowMs: NOW,
    ...(txn ? { transactional: true, producerId: txn.producerId, producerEpoch: 0, baseSequence: 0 } : {}),
  });
}

function marker(baseOffset: number, producerId: number, commit: boolean): Buffer {
  return buildControlBatch({ baseOffset, producerId, producerEpoch: 0, commit, coordinatorEpoch: 0, timestampMs: NOW });
}

/** Offsets 0-2 aborted txn (producer 7), 3-4 plain, 5 ABORT marker, 6-7 txn of producer 7, 8 COMMIT marker, 9 plain. */
const log = Buffer.concat([
  batch(0, ['a0', 'a1', 'a2'], { producerId: 7 }),
  batch(3, ['p3', 'p4']),
  marker(5, 7, false),
  batch(6, ['c6', 'c7'], { producerId: 7 }),
  marker(8, 7, true),
  batch(9, ['p9']),
]);

test('read_committed: aborted transactional batches and control batches are skipped; the rest keeps its offsets', () => {
  const got = messagesFromFetch('t', 0, log, 0, [{ producerId: 7, firstOffset: 0 }], 1 << 20);
  assert.deepEqual(got.messages.map((m) => [m.message.offset, m.message.value!.toString()]), [[3, 'p3'], [4, 'p4'], [6, 'c6'], [7, 'c7'], [9, 'p9']]);
  assert.equal(got.nextOffset, 10);
  const m = got.messages[0].message;
  assert.deepEqual([m.topic, m.partition, m.key!.toString(), m.timestamp, m.headers[0].key, m.headers[0].value!.toString()], ['t', 0, 'k-p3', NOW, 'h', 'p3']);
  assert.equal(got.bytes, got.messages.reduce((n, x) => n + x.sizeBytes, 0));
});

test('without aborted transactions listed, transactional data is delivered (the broker said it committed)', () => {
  const got = messagesFromFetch('t', 0, log, 0, [], 1 << 20);
  assert.deepEqual(got.messages.map((m) => m.message.offset), [0, 1, 2, 3, 4, 6, 7, 9]);
});

test('records below the fetch offset in the first batch are dropped', () => {
  const got = messagesFromFetch('t', 0, log, 4, [{ producerId: 7, firstOffset: 0 }], 1 << 20);
  assert.deepEqual(got.messages.map((m) => m.message.offset), [4, 6, 7, 9]);
});

test('a trailing partial batch is left for the next fetch; no complete batch means no progress', () => {
  const cut = log.subarray(0, log.length - 10);
  const got = messagesFromFetch('t', 0, cut, 0, [], 1 << 20);
  assert.equal(got.nextOffset, 9, 'resume at the partial batch');
  assert.deepEqual(got.messages.map((m) => m.message.offset).at(-1), 7);
  const none = messagesFromFetch('t', 0, log.subarray(0, 40), 0, [], 1 << 20);
  assert.deepEqual([none.messages.length, none.nextOffset], [0, null]);
  assert.deepEqual(messagesFromFetch('t', 0, null, 0, null, 1 << 20), { messages: [], nextOffset: null, bytes: 0 });
});

test('a corrupt batch is refused with a RecordError, not delivered', () => {
  const bad = Buffer.from(log);
  bad[bad.length - 3] ^= 0xff; // inside the last batch's records: its CRC no longer matches
  assert.throws(() => messagesFromFetch('t', 0, bad, 0, [], 1 << 20), (e: unknown) => e instanceof RecordError);
});
