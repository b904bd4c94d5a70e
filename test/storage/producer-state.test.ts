// Idempotent-producer rules (KAFKA-PROTOCOL.md §2.4), the snapshot format, and rebuilding the
// state from the log after a reopen with and without a snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '../../src/util/index.ts';
import { incrementSequence, NodeFileSystem, type PartitionLog, ProducerStateManager } from '../../src/storage/index.ts';
import { config, makeBatch, openLog, withTempDir } from './helpers.ts';

const INT32_MAX = 0x7fffffff;

function header(producerId: number, producerEpoch: number, baseSequence: number, lastOffsetDelta = 0) {
  return { producerId, producerEpoch, baseSequence, lastOffsetDelta, attributes: 0, maxTimestamp: 0 };
}

test('non-idempotent and unknown producers always append', () => {
  const p = new ProducerStateManager();
  assert.deepEqual(p.check(header(-1, -1, -1)), { kind: 'append' });
  assert.deepEqual(p.check(header(7, 3, 42)), { kind: 'append' }, 'unknown producer: any sequence');
});

test('duplicates of the last five batches return their original offsets', () => {
  const p = new ProducerStateManager();
  let offset = 100;
  for (let i = 0; i < 6; i++) {
    p.update(header(1, 0, i * 2, 1), offset, offset + 1);
    offset += 2;
  }
  assert.equal(p.get(1)?.batches.length, 5);
  assert.deepEqual(p.check(header(1, 0, 10, 1)), { kind: 'duplicate', baseOffset: 110, lastOffset: 111 });
  assert.deepEqual(p.check(header(1, 0, 2, 1)), { kind: 'duplicate', baseOffset: 102, lastOffset: 103 });
  const evicted = p.check(header(1, 0, 0, 1));
  assert.equal(evicted.kind, 'error', 'the sixth-oldest batch is no longer remembered');
  assert.deepEqual(p.check(header(1, 0, 12, 0)), { kind: 'append' });
});

test('sequence and epoch errors', () => {
  const p = new ProducerStateManager();
  p.update(header(1, 5, 0, 4), 0, 4);
  const stale = p.check(header(1, 4, 5));
  assert.equal(stale.kind === 'error' && stale.errorCode, 47, 'older epoch: INVALID_PRODUCER_EPOCH');
  const gap = p.check(header(1, 5, 6));
  assert.equal(gap.kind === 'error' && gap.errorCode, 45, 'gap: OUT_OF_ORDER_SEQUENCE_NUMBER');
  const newEpochBadSeq = p.check(header(1, 6, 3));
  assert.equal(newEpochBadSeq.kind === 'error' && newEpochBadSeq.errorCode, 45, 'new epoch must start at 0');
  assert.deepEqual(p.check(header(1, 6, 0)), { kind: 'append' });
  assert.deepEqual(p.check(header(1, 5, 5)), { kind: 'append' });
  const partialDup = p.check(header(1, 5, 0, 2));
  assert.equal(partialDup.kind, 'error', 'same first sequence but a different last sequence is not a duplicate');
});

test('sequences wrap from INT32_MAX to 0', () => {
  assert.equal(incrementSequence(INT32_MAX, 1), 0);
  assert.equal(incrementSequence(INT32_MAX - 1, 3), 1);
  const p = new ProducerStateManager();
  p.update(header(9, 0, INT32_MAX - 1, 1), 0, 1);
  assert.equal(p.get(9)?.batches[0].lastSeq, INT32_MAX);
  assert.deepEqual(p.check(header(9, 0, 0)), { kind: 'append' });
  assert.equal(p.check(header(9, 0, INT32_MAX)).kind, 'error');
});

test('producers beyond the limit evict the least recently used', () => {
  const p = new ProducerStateManager(3);
  for (let pid = 1; pid <= 3; pid++) p.update(header(pid, 0, 0), pid, pid);
  p.update(header(1, 0, 1), 10, 10); // pid 1 is now the most recent
  p.update(header(4, 0, 0), 11, 11);
  assert.equal(p.size, 3);
  assert.equal(p.get(2), undefined);
  assert.ok(p.get(1) !== undefined && p.get(3) !== undefined && p.get(4) !== undefined);
});

test('snapshots round-trip and reject damaged bytes', () => {
  const p = new ProducerStateManager();
  p.update(header(1, 2, 0, 3), 0, 3);
  p.update(header(1, 2, 4, 0), 4, 4);
  p.update({ ...header(2, 0, 0), attributes: 0x10 }, 5, 5); // transactional: opens a transaction
  const snap = p.snapshot(6);
  const q = new ProducerStateManager();
  assert.equal(q.loadSnapshot(snap), 6);
  assert.deepEqual(q.entries(), p.entries());
  assert.equal(q.firstUnstableOffset(), 5);
  for (const at of [0, 7, 20, snap.length - 1]) {
    const bad = Buffer.from(snap);
    bad[at] ^= 0x40;
    assert.equal(new ProducerStateManager().loadSnapshot(bad), null, `flip at ${at}`);
  }
  assert.equal(new ProducerStateManager().loadSnapshot(snap.subarray(0, snap.length - 3)), null);
});

async function produce(log: PartitionLog, pid: number, epoch: number, seq: number, records: number): Promise<void> {
  const batch = makeBatch({ producerId: pid, producerEpoch: epoch, baseSequence: seq, records });
  const check = log.producers.check({ producerId: pid, producerEpoch: epoch, baseSequence: seq, lastOffsetDelta: records - 1 });
  assert.equal(check.kind, 'append');
  await log.append(batch, { leaderEpoch: 0 }).durable;
}

test('producer state is rebuilt after reopen, from the snapshot or from the log', async () => {
  await withTempDir(async (dir) => {
    const fs = new NodeFileSystem();
    const clock = new ManualClock();
    const log = await openLog(fs, dir, clock, { config: config({ segmentBytes: 400 }) });
    for (let i = 0; i < 12; i++) await produce(log, 1, 0, i * 2, 2);
    await produce(log, 2, 3, 0, 1);
    await produce(log, 2, 4, 0, 5);
    const expected = log.producers.entries();
    await log.close();

    const withSnapshot = await openLog(fs, dir, clock, { cleanShutdown: true, recoveryPoint: log.logEndOffset });
    assert.deepEqual(withSnapshot.producers.entries().sort((a, b) => a.producerId - b.producerId), [...expected].sort((a, b) => a.producerId - b.producerId));
    assert.deepEqual(withSnapshot.producers.check({ producerId: 1, producerEpoch: 0, baseSequence: 20, lastOffsetDelta: 1 }), { kind: 'duplicate', baseOffset: 20, lastOffset: 21 });
    await produce(withSnapshot, 1, 0, 24, 1);
    await withSnapshot.close();

    await rm(join(dir, 'producer-state.snapshot'));
    const rebuilt = await openLog(fs, dir, clock, {});
    assert.equal(rebuilt.producers.get(1)?.batches.at(-1)?.lastSeq, 24);
    assert.deepEqual(rebuilt.producers.get(2)?.epoch, 4);
    assert.deepEqual(rebuilt.producers.check({ producerId: 2, producerEpoch: 4, baseSequence: 0, lastOffsetDelta: 4 }).kind, 'duplicate');
    await rebuilt.close();

    await writeFile(join(dir, 'producer-state.snapshot'), Buffer.from('garbage'));
    const ignored = await openLog(fs, dir, clock, { cleanShutdown: true, recoveryPoint: rebuilt.logEndOffset });
    assert.equal(ignored.producers.get(1)?.batches.at(-1)?.lastSeq, 24, 'an invalid snapshot is ignored and the state rebuilt');
    await ignored.close();
  });
});
