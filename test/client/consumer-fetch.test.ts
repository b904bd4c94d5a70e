// What the consumer makes of one partition's Fetch data: whole batches from the one containing the
// fetch offset (records below it dropped), control batches skipped, aborted transactions dropped
// under read_committed, a trailing partial batch left for the next fetch, corruption refused; and the
// consumer's per-partition buffer, which decodes each batch only when its messages are reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH_HEADER_BYTES, buildBatch, buildControlBatch, RecordError, RecordErrorCode } from '../../src/record/index.ts';
import { ReceiveSlabs, Rng } from '../../src/util/index.ts';
import { FetchedMessages, messagesFromFetch, scanFetch } from '../../src/client/consumer-fetch.ts';
import { fixBatch, randomRecords } from '../record/helpers.ts';

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
  assert.deepEqual(got.messages.map((m) => [m.offset, m.value!.toString()]), [[3, 'p3'], [4, 'p4'], [6, 'c6'], [7, 'c7'], [9, 'p9']]);
  assert.equal(got.nextOffset, 10);
  const m = got.messages[0];
  assert.deepEqual([m.topic, m.partition, m.key!.toString(), m.timestamp, m.headers[0].key, m.headers[0].value!.toString()], ['t', 0, 'k-p3', NOW, 'h', 'p3']);
  // What counts against the prefetch bound: the delivered batches' bytes (offsets 3-4, 6-7, 9).
  assert.equal(got.bytes, batch(3, ['p3', 'p4']).length + batch(6, ['c6', 'c7'], { producerId: 7 }).length + batch(9, ['p9']).length);
});

test('without aborted transactions listed, transactional data is delivered (the broker said it committed)', () => {
  const got = messagesFromFetch('t', 0, log, 0, [], 1 << 20);
  assert.deepEqual(got.messages.map((m) => m.offset), [0, 1, 2, 3, 4, 6, 7, 9]);
});

test('records below the fetch offset in the first batch are dropped', () => {
  const got = messagesFromFetch('t', 0, log, 4, [{ producerId: 7, firstOffset: 0 }], 1 << 20);
  assert.deepEqual(got.messages.map((m) => m.offset), [4, 6, 7, 9]);
});

test('a trailing partial batch is left for the next fetch; no complete batch means no progress', () => {
  const cut = log.subarray(0, log.length - 10);
  const got = messagesFromFetch('t', 0, cut, 0, [], 1 << 20);
  assert.equal(got.nextOffset, 9, 'resume at the partial batch');
  assert.deepEqual(got.messages.map((m) => m.offset).at(-1), 7);
  const none = messagesFromFetch('t', 0, log.subarray(0, 40), 0, [], 1 << 20);
  assert.deepEqual([none.messages.length, none.nextOffset], [0, null]);
  assert.deepEqual(messagesFromFetch('t', 0, null, 0, null, 1 << 20), { messages: [], nextOffset: null, bytes: 0 });
});

test('a corrupt batch is refused with a RecordError, not delivered', () => {
  const bad = Buffer.from(log);
  bad[bad.length - 3] ^= 0xff; // inside the last batch's records: its CRC no longer matches
  assert.throws(() => messagesFromFetch('t', 0, bad, 0, [], 1 << 20), (e: unknown) => e instanceof RecordError);
});

// ---- FetchedMessages: the consumer's per-partition buffer, decoded as it is reached ------------

/** A batch whose CRC is good but whose records are not (a producer bug): its first record's length is patched. */
function badRecordsBatch(baseOffset: number): Buffer {
  const b = batch(baseOffset, ['x0', 'x1']);
  b[BATCH_HEADER_BYTES] = 0x7f; // the first record's Length varint: -64, which no record has
  return fixBatch(b);
}

test('a fetch is scanned, not decoded: a batch with bad records is found only when the consumer reaches it', () => {
  const data = Buffer.concat([batch(0, ['a', 'b']), badRecordsBatch(2), batch(4, ['e'])]);
  const scanned = scanFetch(data, 0, [], 1 << 20);
  assert.deepEqual([scanned.count, scanned.nextOffset, scanned.batches.length], [5, 5, 3]);
  const q = new FetchedMessages('t', 0, 1 << 20);
  q.add(scanned);
  assert.deepEqual([q.shift().offset, q.shift().offset], [0, 1], 'the messages before the bad batch are delivered');
  assert.throws(() => q.shift(), (e: unknown) => e instanceof RecordError && e.kafkaErrorCode === RecordErrorCode.INVALID_RECORD);
  assert.throws(() => q.peek(0), (e: unknown) => e instanceof RecordError, 'the bad batch stays in place: it is never skipped');
  assert.equal(q.count, 3);
  // The whole-fetch decoder refuses the same data at once.
  assert.throws(() => messagesFromFetch('t', 0, data, 0, [], 1 << 20), (e: unknown) => e instanceof RecordError);
});

test('FetchedMessages: order across fetches and batches, peek ahead, bytes given back message by message, clear', () => {
  const b0 = batch(0, ['m0', 'm1', 'm2']);
  const b1 = batch(3, ['m3']);
  const b2 = batch(4, ['m4', 'm5']);
  const q = new FetchedMessages('t', 3, 1 << 20);
  q.add(scanFetch(Buffer.concat([b0, b1]), 1, [], 1 << 20)); // from offset 1: m0 is dropped
  q.add(scanFetch(b2, 4, [], 1 << 20));
  assert.deepEqual([q.count, q.bytes], [5, b0.length + b1.length + b2.length]);
  assert.equal(q.peek(3).value!.toString(), 'm4', 'peek decodes ahead across batches');
  const seen: string[] = [];
  const bytes: number[] = [];
  while (q.count > 0) {
    const m = q.shift();
    assert.deepEqual([m.topic, m.partition], ['t', 3]);
    seen.push(`${m.offset}:${m.value!.toString()}`);
    bytes.push(q.bytes);
  }
  assert.deepEqual(seen, ['1:m1', '2:m2', '3:m3', '4:m4', '5:m5']);
  // A batch's bytes are given back a share per message taken, the rest with its last message.
  const b0Half = Math.floor(b0.length / 2); // b0 yields two messages (m1, m2)
  const b2Half = Math.floor(b2.length / 2);
  assert.deepEqual(bytes, [b0.length - b0Half + b1.length + b2.length, b1.length + b2.length, b2.length, b2.length - b2Half, 0]);
  q.add(scanFetch(Buffer.concat([b1, b2]), 3, [], 1 << 20));
  q.shift();
  q.shift();
  assert.deepEqual([q.clear(), q.count, q.bytes], [b2.length - b2Half, 0, 0], 'clear gives back what was not yet given back');
  q.add(scanFetch(b2, 4, [], 1 << 20));
  assert.equal(q.shift().value!.toString(), 'm4', 'usable after clear');
});

test('FetchedMessages matches the whole-fetch decoder on random fetches, taken in random steps', () => {
  const rng = new Rng(20261202);
  for (let round = 0; round < 200; round++) {
    const parts: Buffer[] = [];
    let offset = 0;
    for (let i = rng.int(1, 6); i > 0; i--) {
      const records = randomRecords(rng, rng.int(1, 8), 40);
      parts.push(buildBatch({ baseOffset: offset, records, nowMs: NOW, compression: rng.pick(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) }));
      offset += records.length;
    }
    const data = Buffer.concat(parts);
    const from = rng.int(0, offset - 1);
    const expected = messagesFromFetch('t', 1, data, from, [], 1 << 20).messages;
    const q = new FetchedMessages('t', 1, 1 << 20);
    q.add(scanFetch(data, from, [], 1 << 20));
    assert.equal(q.count, expected.length);
    const got = [];
    let bytes = q.bytes;
    while (q.count > 0) {
      if (rng.chance(0.3)) assert.deepEqual(q.peek(rng.int(0, q.count - 1)).topic, 't');
      got.push(q.shift());
      assert.ok(q.bytes <= bytes && q.bytes >= 0, `bytes only go down: ${bytes} then ${q.bytes}`);
      bytes = q.bytes;
    }
    assert.deepEqual(got, expected, `round ${round}`);
    assert.equal(q.bytes, 0);
  }
});

test('FetchedMessages with a pool: each batch holds its frame from add until decoded or cleared, and is decoded into copies', () => {
  const pool = new ReceiveSlabs({ slabBytes: 64 * 1024, largeStepBytes: 16 * 1024, poison: true });
  const data = Buffer.concat([batch(0, ['v0', 'v1']), batch(2, ['v2']), batch(3, ['v3', 'v4'])]);
  const frame = pool.take(100 * 1024)!; // a frame of its own, as a large Fetch response gets
  data.copy(frame);
  const records = frame.subarray(0, data.length);
  const fm = new FetchedMessages('t', 0, 1 << 20, pool);
  fm.add(scanFetch(records, 0, null, 1 << 20));
  pool.release(frame); // the connection's reference: the batches hold theirs
  assert.equal(pool.freeListBytes, 0);
  const first = fm.shift();
  assert.equal(pool.freeListBytes, 0, 'two batches not yet decoded still hold the frame');
  assert.equal(fm.shift().value!.toString(), 'v1');
  assert.equal(fm.peek(0).value!.toString(), 'v2');
  // Clear drops the last batch undecoded: its reference goes back, and so does the frame.
  fm.clear();
  assert.equal(pool.freeListBytes, 112 * 1024, 'back in the pool');
  assert.deepEqual([...new Set(frame)], [0xdb], 'and poisoned');
  // What was handed out was copied: it survives the frame's reuse.
  assert.equal(first.value!.toString(), 'v0');
  assert.equal(first.key!.toString(), 'k-v0');
  assert.equal(first.headers[0].value!.toString(), 'v0');
  assert.notEqual(first.value!.buffer, frame.buffer);
  // Without a pool, or from memory not the pool's (a small response), values stay views.
  const plain = new FetchedMessages('t', 0, 1 << 20);
  plain.add(scanFetch(data, 0, null, 1 << 20));
  assert.equal(plain.shift().value!.buffer, data.buffer);
  const unpooled = new FetchedMessages('t', 0, 1 << 20, pool);
  unpooled.add(scanFetch(data, 0, null, 1 << 20));
  assert.equal(unpooled.shift().value!.buffer, data.buffer);
});
