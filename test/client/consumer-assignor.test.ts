// The consumer protocol encodings and the range / roundrobin assignors: byte compatibility with an
// independent encoder (test/groups/wire.ts) and with later subscription versions, bounds on
// malformed input, Kafka's documented assignment examples, and a seeded property check that every
// subscribed partition goes to exactly one subscribed member, balanced as each algorithm promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  rangeAssignor,
  roundRobinAssignor,
  type Assignor,
  type MemberSubscription,
  type TopicPartitions,
} from '../../src/client/index.ts';
import { HoldfastError, Rng } from '../../src/util/index.ts';
import { assignment as wireAssignment, decodeAssignment as wireDecodeAssignment, subscription as wireSubscription } from '../groups/wire.ts';

const member = (memberId: string, topics: string[], groupInstanceId: string | null = null): MemberSubscription => ({ memberId, groupInstanceId, topics });

function flat(assigned: TopicPartitions[] | undefined): string[] {
  return (assigned ?? []).flatMap((a) => a.partitions.map((p) => `${a.topic}-${p}`));
}

test('subscriptions and assignments round-trip and match an independent encoder byte for byte', () => {
  const topics = ['orders', 'payments', 'ünïcode'];
  assert.deepEqual(encodeSubscription(topics), wireSubscription(topics));
  assert.deepEqual(decodeSubscription(wireSubscription(topics)), { version: 0, topics, userData: null });
  const assigned = [{ topic: 'orders', partitions: [0, 2] }, { topic: 'payments', partitions: [1] }];
  assert.deepEqual(encodeAssignment(assigned), wireAssignment({ orders: [0, 2], payments: [1] }));
  assert.deepEqual(wireDecodeAssignment(encodeAssignment(assigned)), { orders: [0, 2], payments: [1] });
  assert.deepEqual(decodeAssignment(encodeAssignment(assigned, Buffer.from('ud'))), { version: 0, assigned, userData: Buffer.from('ud') });
  assert.deepEqual(decodeAssignment(Buffer.alloc(0)), { version: 0, assigned: [], userData: null }, 'an empty assignment from the broker');
});

test('a v1+ subscription (owned partitions, generation, rack after user data) decodes to its topics', () => {
  const parts: Buffer[] = [];
  const i16 = (v: number) => { const b = Buffer.alloc(2); b.writeInt16BE(v); parts.push(b); };
  const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); parts.push(b); };
  const str = (s: string) => { i16(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  i16(3); // version 3
  i32(2); str('a'); str('b'); // topics
  i32(3); parts.push(Buffer.from('xyz')); // user data
  i32(1); str('a'); i32(2); i32(0); i32(1); // owned partitions
  i32(7); // generation
  str('rack-1'); // rack id
  assert.deepEqual(decodeSubscription(Buffer.concat(parts)), { version: 3, topics: ['a', 'b'], userData: Buffer.from('xyz') });
});

test('malformed protocol bytes fail with INVALID_CONSUMER_PROTOCOL before allocating', () => {
  const bad = (buf: Buffer, decode: (b: Buffer) => unknown) =>
    assert.throws(() => decode(buf), (e: unknown) => e instanceof HoldfastError && e.code === 'INVALID_CONSUMER_PROTOCOL', `decoding ${buf.toString('hex')}`);
  const sub = encodeSubscription(['topic']);
  for (let cut = 1; cut < sub.length - 4; cut++) bad(sub.subarray(0, cut), decodeSubscription);
  bad(Buffer.from('0000' + '7fffffff', 'hex'), decodeSubscription); // 2^31-1 topics in 0 bytes
  bad(Buffer.from('0000' + 'ffffffff', 'hex'), decodeSubscription); // negative count
  bad(Buffer.from('ffff' + '00000000', 'hex'), decodeSubscription); // negative version
  const asg = encodeAssignment([{ topic: 't', partitions: [1, 2, 3] }]);
  for (let cut = 1; cut < asg.length - 4; cut++) bad(asg.subarray(0, cut), decodeAssignment);
  bad(Buffer.from('0000' + '00000001' + '000174' + '10000000', 'hex'), decodeAssignment); // 2^28 partitions in 0 bytes
  bad(Buffer.from('0000' + '00000001' + '000174' + '00000001' + 'ffffffff', 'hex'), decodeAssignment); // partition -1
});

test("range: Kafka's documented example — consecutive ranges per topic, the first members get the extra", () => {
  const members = [member('C1', ['t0', 't1']), member('C0', ['t0', 't1'])];
  const out = rangeAssignor.assign(members, new Map([['t0', 3], ['t1', 3]]));
  assert.deepEqual(flat(out.get('C0')), ['t0-0', 't0-1', 't1-0', 't1-1']);
  assert.deepEqual(flat(out.get('C1')), ['t0-2', 't1-2']);
});

test("roundrobin: Kafka's documented examples, with equal and with different subscriptions", () => {
  const same = roundRobinAssignor.assign([member('C0', ['t0', 't1']), member('C1', ['t0', 't1'])], new Map([['t0', 3], ['t1', 3]]));
  assert.deepEqual(flat(same.get('C0')), ['t0-0', 't0-2', 't1-1']);
  assert.deepEqual(flat(same.get('C1')), ['t0-1', 't1-0', 't1-2']);
  const mixed = roundRobinAssignor.assign([member('C2', ['t0', 't1', 't2']), member('C0', ['t0']), member('C1', ['t0', 't1'])], new Map([['t0', 1], ['t1', 2], ['t2', 3]]));
  assert.deepEqual(flat(mixed.get('C0')), ['t0-0']);
  assert.deepEqual(flat(mixed.get('C1')), ['t1-0']);
  assert.deepEqual(flat(mixed.get('C2')), ['t1-1', 't2-0', 't2-1', 't2-2']);
});

test('members are ordered static-first (by instance id), then by member id; unknown topics and idle members get nothing', () => {
  const members = [member('a', ['t']), member('z', ['t'], 'instance-1'), member('b', ['t', 'missing'])];
  const out = rangeAssignor.assign(members, new Map([['t', 4]]));
  assert.deepEqual(flat(out.get('z')), ['t-0', 't-1'], 'the static member sorts first');
  assert.deepEqual(flat(out.get('a')), ['t-2']);
  assert.deepEqual(flat(out.get('b')), ['t-3']);
  const idle = roundRobinAssignor.assign([member('a', ['t']), member('b', ['t']), member('c', ['t'])], new Map([['t', 2]]));
  assert.deepEqual(idle.get('c'), [], 'more members than partitions: the last gets an empty assignment');
});

function checkAssignor(assignor: Assignor, rng: Rng, round: number): void {
  const topics = Array.from({ length: rng.int(1, 5) }, (_, i) => `topic-${i}`);
  const counts = new Map(topics.filter(() => rng.chance(0.9)).map((t) => [t, rng.int(1, 24)] as const));
  const everyoneSame = rng.chance(0.5);
  const members = Array.from({ length: rng.int(1, 7) }, (_, i) =>
    member(`m-${rng.int(0, 1_000_000)}-${i}`, everyoneSame ? topics : topics.filter(() => rng.chance(0.6)), rng.chance(0.2) ? `inst-${i}` : null),
  );
  const out = assignor.assign(members, counts);
  const what = `${assignor.name} round ${round}`;
  assert.deepEqual([...out.keys()].sort(), members.map((m) => m.memberId).sort(), `${what}: every member has an entry`);
  const owner = new Map<string, string>();
  for (const [memberId, assigned] of out) {
    const m = members.find((x) => x.memberId === memberId)!;
    for (const a of assigned) {
      assert.ok(m.topics.includes(a.topic), `${what}: ${memberId} got ${a.topic} without subscribing`);
      for (const p of a.partitions) {
        const key = `${a.topic}-${p}`;
        assert.ok(!owner.has(key), `${what}: ${key} assigned twice`);
        owner.set(key, memberId);
      }
    }
  }
  for (const [t, n] of counts) {
    const subscribers = members.filter((m) => m.topics.includes(t));
    for (let p = 0; p < n; p++) assert.equal(owner.has(`${t}-${p}`), subscribers.length > 0, `${what}: ${t}-${p} assigned iff someone subscribes`);
    if (assignor.name === 'range' && subscribers.length > 0) {
      const sizes = subscribers.map((m) => (out.get(m.memberId)!.find((a) => a.topic === t)?.partitions.length ?? 0));
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${what}: range balances ${t} within one partition: ${sizes}`);
    }
  }
  if (assignor.name === 'roundrobin' && everyoneSame) {
    const sizes = members.map((m) => flat(out.get(m.memberId)).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${what}: roundrobin balances everything within one partition: ${sizes}`);
  }
}

test('property: every subscribed partition goes to exactly one subscriber, balanced as promised', () => {
  const seed = Number(process.env.HOLDFAST_ASSIGNOR_SEED ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  for (let round = 0; round < 500; round++) {
    try {
      checkAssignor(rangeAssignor, rng, round);
      checkAssignor(roundRobinAssignor, rng, round);
    } catch (err) {
      (err as Error).message = `seed ${seed}: ${(err as Error).message}`;
      throw err;
    }
  }
});
