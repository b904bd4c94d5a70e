// What the broker keeps for long holds its own bytes, not a slice of Node's shared 64 KiB buffer
// pool: a kept slice pins its whole pool chunk, long enough to be promoted, and the chunk then waits
// for a full collection (a W1 broker's ArrayBuffer memory climbed ~0.24 MB/s that way through the
// offsets log's tail cache; docs/performance.md).
// - __consumer_offsets keeps no tail cache (commits are small batches built in the pool). Group state
//   is served from memory; a client that fetches the topic itself is answered from the files.
// - Group members' metadata and assignments, and small produced batches the tail cache keeps, are
//   copies of their own size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/index.ts';
import { OFFSETS_TOPIC } from '../../src/broker/groups/offset-store.ts';
import { withBroker } from '../helpers/broker.ts';
import { fetchAll } from '../helpers/fetch-all.ts';
import { commit, assertAll, soloMember } from '../groups/wire.ts';

const CONFIG = { 'group.initial.rebalance.delay.ms': 0 };

test('__consumer_offsets is not tail-cached, and fetching it still returns every commit', { timeout: 60_000 }, async () => {
  await withBroker(CONFIG, async ({ broker, bootstrap }, client) => {
    const producer = new Producer({ brokers: [bootstrap] });
    await producer.send({ topic: 'orders', value: 'x' });
    await producer.close();
    const COMMITS = 30;
    for (let i = 1; i <= COMMITS; i++) assertAll(await commit(client, { groupId: 'g', offsets: [{ topic: 'orders', partition: 0, offset: i }] }), 0, `commit ${i}`);

    const offsets = broker.logs.getLog(OFFSETS_TOPIC, 0);
    const orders = broker.logs.getLog('orders', 0);
    assert.ok(offsets !== undefined && orders !== undefined);
    assert.ok(offsets.highWatermark - offsets.logStartOffset >= COMMITS, `offsets log holds ${offsets.highWatermark - offsets.logStartOffset} records`);
    assert.equal(offsets.readCached(offsets.logStartOffset, 1 << 20), undefined, 'the offsets log answers reads from its files');
    const cached = orders.readCached(0, 1 << 20);
    assert.ok(cached !== undefined && cached.bytes > 0, 'a produced partition is still served from its tail cache');

    const { records } = await fetchAll(client, OFFSETS_TOPIC, 0, offsets.logStartOffset);
    assert.equal(records.length, offsets.highWatermark - offsets.logStartOffset, 'a fetch of the offsets topic returns every record');
    assert.ok(records.filter((r) => r.key?.includes(Buffer.from('orders'))).length >= COMMITS, 'the commits are among them');
  });
});

test('group metadata, assignments and small cached batches are kept in memory of their own size', { timeout: 60_000 }, async () => {
  const ownSize = (b: Buffer, what: string): void => assert.equal(b.buffer.byteLength, b.length, `${what}: ${b.length} bytes in an ArrayBuffer of ${b.buffer.byteLength}`);
  await withBroker(CONFIG, async ({ broker, bootstrap }, client) => {
    const producer = new Producer({ brokers: [bootstrap] });
    for (let i = 0; i < 5; i++) await producer.send({ topic: 't', value: `small message ${i}` });
    await producer.close();
    const cached = broker.logs.getLog('t', 0)?.readCached(0, 1 << 20);
    assert.ok(cached !== undefined && cached.chunks.length === 5, 'the five batches are cached');
    for (const [i, c] of cached.chunks.entries()) ownSize(c, `cached batch ${i}`);

    await soloMember(client, 'kept', { t: [0] });
    const described = broker.groups.describeGroup('kept');
    assert.ok(described !== null && described.members.length === 1);
    const [member] = described.members;
    assert.ok(member.metadata.length > 0 && member.assignment.length > 0);
    ownSize(member.metadata, 'member metadata');
    ownSize(member.assignment, 'member assignment');
  });
});
