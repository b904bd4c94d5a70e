// The group coordinator at the wire level: every error path of Kafka's classic group protocol
// (KAFKA-PROTOCOL.md §3), each request version the broker advertises, and the admin APIs around
// groups (ListGroups, DescribeGroups, DeleteGroups, OffsetDelete) and offset retention.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../../src/broker/index.ts';
import { ManualClock, silentLogger } from '../../src/util/index.ts';
import { ErrorCode } from '../../src/protocol/kafka/index.ts';
import { embeddedBroker, removeDir, tempDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import {
  API,
  assertAll,
  assignment,
  commit,
  decodeAssignment,
  fetchOffsets,
  heartbeat,
  join,
  joinDynamic,
  sleep,
  soloMember,
  subscription,
  sync,
  waitFor,
  type JoinResponse,
} from './wire.ts';

const MIN_SESSION_MS = 1000;
const MAX_SESSION_MS = 60_000;
const MAX_GROUP_SIZE = 3;
const MAX_METADATA_BYTES = 64;

let b: EmbeddedBroker;
const clients: TestKafkaClient[] = [];

before(async () => {
  b = await embeddedBroker({
    'group.initial.rebalance.delay.ms': 0,
    'group.min.session.timeout.ms': MIN_SESSION_MS,
    'group.max.session.timeout.ms': MAX_SESSION_MS,
    'group.max.size': MAX_GROUP_SIZE,
    'offset.metadata.max.bytes': MAX_METADATA_BYTES,
  });
  await b.broker.createTopic('t', 4, {});
  await b.broker.createTopic('u', 2, {});
});

after(async () => {
  for (const c of clients) c.close();
  await b.close();
  removeDir(b.dataDir);
});

async function client(): Promise<TestKafkaClient> {
  const c = await TestKafkaClient.connect(b.bootstrap);
  clients.push(c);
  return c;
}

async function describe(c: TestKafkaClient, groupId: string, version = 4) {
  const r = await c.request(API.DescribeGroups, version, { groups: [groupId], includeAuthorizedOperations: false });
  assert.equal(r.groups.length, 1);
  return r.groups[0] as {
    errorCode: number;
    groupId: string;
    groupState: string;
    protocolType: string;
    protocolData: string;
    members: Array<{ memberId: string; groupInstanceId?: string | null; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer }>;
  };
}

interface Formed {
  generationId: number;
  leader: string;
  members: Array<{ c: TestKafkaClient; memberId: string; join: JoinResponse; assignment: Buffer }>;
}

/**
 * Forms a Stable group of `n` dynamic members (JoinGroup v5 with the MEMBER_ID_REQUIRED round trip):
 * the first joins alone, the others join while it is in the group, then it rejoins, which completes
 * the barrier with everyone; the leader assigns partition i of `t` to the i-th member.
 */
async function formGroup(groupId: string, n: number, opts: { sessionTimeoutMs?: number; rebalanceTimeoutMs?: number; topics?: string[] } = {}): Promise<Formed> {
  const cs = await Promise.all(Array.from({ length: n }, () => client()));
  const base = { groupId, sessionTimeoutMs: opts.sessionTimeoutMs, rebalanceTimeoutMs: opts.rebalanceTimeoutMs, protocols: [{ name: 'range', metadata: subscription(opts.topics ?? ['t']) }] };
  const ids: string[] = [];
  for (const c of cs) {
    const r = await join(c, base);
    assert.equal(r.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
    ids.push(r.memberId);
  }
  const first = await join(cs[0], { ...base, memberId: ids[0] });
  assert.equal(first.errorCode, ErrorCode.NONE);
  let joins: JoinResponse[] = [first];
  if (n > 1) {
    const others = cs.slice(1).map((c, i) => join(c, { ...base, memberId: ids[i + 1] }));
    assert.ok(await waitFor(async () => (await describe(cs[0], groupId)).members.length === n, 10_000), 'all members are in the group');
    joins = await Promise.all([join(cs[0], { ...base, memberId: ids[0] }), ...others]);
  }
  for (const j of joins) assert.equal(j.errorCode, ErrorCode.NONE, 'join completes');
  const generationId = joins[0].generationId;
  const leader = joins[0].leader;
  for (const j of joins) {
    assert.equal(j.generationId, generationId, 'every member gets the same generation');
    assert.equal(j.leader, leader, 'every member names the same leader');
    assert.equal(j.protocolName, 'range');
    assert.equal(j.members.length, j.memberId === leader ? n : 0, 'only the leader gets the member list');
  }
  const assignments = ids.map((memberId, i) => ({ memberId, assignment: assignment({ t: [i] }) }));
  const syncs = await Promise.all(
    cs.map((c, i) => sync(c, { groupId, generationId, memberId: ids[i], assignments: ids[i] === leader ? assignments : [] })),
  );
  for (let i = 0; i < n; i++) {
    assert.equal(syncs[i].errorCode, ErrorCode.NONE, `member ${i} syncs`);
    assert.deepEqual(decodeAssignment(syncs[i].assignment), { t: [i] }, `member ${i} gets the assignment the leader gave it`);
  }
  return { generationId, leader, members: cs.map((c, i) => ({ c, memberId: ids[i], join: joins[i], assignment: syncs[i].assignment })) };
}

// ---------------------------------------------------------------------------------------------

test('FindCoordinator v0-2 answers this node for key type 0 (group) and 1 (transaction)', async () => {
  const c = await client();
  for (let v = 0; v <= 2; v++) {
    for (const keyType of v === 0 ? [0] : [0, 1]) {
      const r = await c.request(API.FindCoordinator, v, { key: 'some-group', keyType });
      assert.equal(r.errorCode, ErrorCode.NONE, `v${v} key type ${keyType}`);
      assert.equal(r.nodeId, 1);
      assert.equal(r.host, '127.0.0.1');
      assert.equal(r.port, b.broker.port);
    }
  }
  const bad = await c.request(API.FindCoordinator, 2, { key: 'g', keyType: 7 });
  assert.equal(bad.errorCode, ErrorCode.INVALID_REQUEST, 'an unknown key type is refused');
});

test('every JoinGroup/SyncGroup/Heartbeat/LeaveGroup version forms and leaves a one-member group', async () => {
  const c = await client();
  for (let v = 0; v <= 5; v++) {
    const groupId = `versions-${v}`;
    const meta = subscription(['t']);
    let j = await join(c, { groupId, version: v, protocols: [{ name: 'range', metadata: meta }] });
    if (v >= 4) {
      assert.equal(j.errorCode, ErrorCode.MEMBER_ID_REQUIRED, `v${v}: a dynamic member first gets an id`);
      assert.ok(j.memberId.length > 0);
      const id = j.memberId;
      j = await join(c, { groupId, version: v, memberId: id, protocols: [{ name: 'range', metadata: meta }] });
      assert.equal(j.memberId, id, `v${v}: the member keeps the id it was handed`);
    }
    assert.equal(j.errorCode, ErrorCode.NONE, `v${v} join`);
    assert.equal(j.generationId, 1, 'the first generation is 1');
    assert.equal(j.leader, j.memberId);
    assert.equal(j.protocolName, 'range');
    assert.equal(j.members.length, 1);
    assert.deepEqual(j.members[0].metadata, meta, 'the leader sees the member metadata byte for byte');
    const sv = Math.min(v, 3);
    const mine = assignment({ t: [0, 1, 2, 3] });
    const s = await sync(c, { groupId, version: sv, generationId: j.generationId, memberId: j.memberId, assignments: [{ memberId: j.memberId, assignment: mine }] });
    assert.equal(s.errorCode, ErrorCode.NONE, `SyncGroup v${sv}`);
    assert.deepEqual(s.assignment, mine);
    assert.equal(await heartbeat(c, { groupId, version: sv, generationId: j.generationId, memberId: j.memberId }), ErrorCode.NONE, `Heartbeat v${sv}`);
    assert.equal((await describe(c, groupId)).groupState, 'Stable');
    const leave =
      sv >= 3
        ? await c.request(API.LeaveGroup, sv, { groupId, members: [{ memberId: j.memberId, groupInstanceId: null }] })
        : await c.request(API.LeaveGroup, sv, { groupId, memberId: j.memberId });
    assert.equal(leave.errorCode, ErrorCode.NONE, `LeaveGroup v${sv}`);
    if (sv >= 3) assert.deepEqual(leave.members.map((m: { errorCode: number }) => m.errorCode), [ErrorCode.NONE]);
    const d = await describe(c, groupId);
    assert.equal(d.groupState, 'Empty', 'the group is empty once its only member left');
    assert.equal(d.members.length, 0);
    assert.equal(await heartbeat(c, { groupId, generationId: j.generationId, memberId: j.memberId }), ErrorCode.UNKNOWN_MEMBER_ID, 'a member that left is unknown');
  }
});

test('MEMBER_ID_REQUIRED hands out an id; joining with it works, an unknown id does not', async () => {
  const c = await client();
  const groupId = 'member-id-required';
  const first = await join(c, { groupId });
  assert.equal(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  assert.ok(first.memberId.startsWith('holdfast-test-'), `the id starts with the client id: ${first.memberId}`);
  assert.equal((await describe(c, groupId)).members.length, 0, 'a pending member is not a member yet');
  const j = await join(c, { groupId, memberId: first.memberId });
  assert.equal(j.errorCode, ErrorCode.NONE);
  assert.equal(j.memberId, first.memberId);
  const other = await join(c, { groupId, memberId: 'never-handed-out' });
  assert.equal(other.errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'a made-up member id is refused');
  const nogroup = await join(c, { groupId: 'no-such-group', memberId: 'never-handed-out' });
  assert.equal(nogroup.errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'a member id for a group that does not exist is refused');
  const empty = await join(c, { groupId: '' });
  assert.equal(empty.errorCode, ErrorCode.INVALID_GROUP_ID);
});

test('a session timeout outside the broker bounds gets INVALID_SESSION_TIMEOUT; the bounds themselves are accepted', async () => {
  const c = await client();
  for (const sessionTimeoutMs of [MIN_SESSION_MS - 1, MAX_SESSION_MS + 1, 0]) {
    for (const version of [0, 5]) {
      const r = await join(c, { groupId: 'session-bounds', sessionTimeoutMs, version });
      assert.equal(r.errorCode, ErrorCode.INVALID_SESSION_TIMEOUT, `session ${sessionTimeoutMs} ms v${version}`);
    }
  }
  for (const sessionTimeoutMs of [MIN_SESSION_MS, MAX_SESSION_MS]) {
    const r = await join(c, { groupId: 'session-bounds', sessionTimeoutMs });
    assert.equal(r.errorCode, ErrorCode.MEMBER_ID_REQUIRED, `session ${sessionTimeoutMs} ms passes validation`);
  }
});

test('INCONSISTENT_GROUP_PROTOCOL: a kafkajs-style member and a librdkafka-style member cannot share a group', async () => {
  const kjs = await client();
  const rdk = await client();
  const groupId = 'mixed-clients';
  const kjsMeta = subscription(['t']);
  const a = await joinDynamic(kjs, { groupId, protocols: [{ name: 'RoundRobinAssigner', metadata: kjsMeta }] });
  assert.equal(a.errorCode, ErrorCode.NONE);
  const s = await sync(kjs, { groupId, generationId: a.generationId, memberId: a.memberId, assignments: [{ memberId: a.memberId, assignment: assignment({ t: [0] }) }] });
  assert.equal(s.errorCode, ErrorCode.NONE);
  for (const version of [0, 3, 5]) {
    const r = await join(rdk, { groupId, version, protocols: [{ name: 'range', metadata: kjsMeta }, { name: 'roundrobin', metadata: kjsMeta }] });
    assert.equal(r.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, `librdkafka-style join v${version}`);
  }
  const otherType = await join(rdk, { groupId, protocolType: 'connect', protocols: [{ name: 'RoundRobinAssigner', metadata: kjsMeta }] });
  assert.equal(otherType.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'another protocol type is refused too');
  assert.equal(await heartbeat(kjs, { groupId, generationId: a.generationId, memberId: a.memberId }), ErrorCode.NONE, 'the refused joins did not disturb the group');
  assert.equal((await describe(kjs, groupId)).members.length, 1);

  const none = await join(rdk, { groupId: 'no-protocols', protocols: [] });
  assert.equal(none.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'an empty protocol list is refused');
  const noType = await join(rdk, { groupId: 'no-protocols', protocolType: '' });
  assert.equal(noType.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'an empty protocol type is refused');
});

test('a member offering several protocols joins on the one every member supports', async () => {
  const groupId = 'protocol-vote';
  const a = await client();
  const bb = await client();
  const meta = subscription(['t']);
  const ida = (await join(a, { groupId })).memberId;
  const idb = (await join(bb, { groupId })).memberId;
  const ja = await join(a, { groupId, memberId: ida, protocols: [{ name: 'roundrobin', metadata: meta }, { name: 'range', metadata: meta }] });
  assert.equal(ja.protocolName, 'roundrobin', 'a lone member gets its first choice');
  const pending = join(bb, { groupId, memberId: idb, protocols: [{ name: 'range', metadata: meta }] });
  assert.ok(await waitFor(async () => (await heartbeat(a, { groupId, generationId: ja.generationId, memberId: ida })) === ErrorCode.REBALANCE_IN_PROGRESS, 5000));
  const [ja2, jb] = await Promise.all([join(a, { groupId, memberId: ida, protocols: [{ name: 'roundrobin', metadata: meta }, { name: 'range', metadata: meta }] }), pending]);
  assert.equal(ja2.errorCode, ErrorCode.NONE);
  assert.equal(jb.errorCode, ErrorCode.NONE);
  assert.equal(ja2.protocolName, 'range', 'the group switches to the protocol both support');
  assert.equal(jb.protocolName, 'range');
  assert.equal(ja2.generationId, ja.generationId + 1);
});

test('ILLEGAL_GENERATION for SyncGroup, Heartbeat and OffsetCommit with a wrong generation', async () => {
  const c = await client();
  const groupId = 'wrong-generation';
  const m = await soloMember(c, groupId);
  for (const generationId of [m.generationId + 1, m.generationId - 1]) {
    const s = await sync(c, { groupId, generationId, memberId: m.memberId });
    assert.equal(s.errorCode, ErrorCode.ILLEGAL_GENERATION, `sync at generation ${generationId}`);
    assert.equal(await heartbeat(c, { groupId, generationId, memberId: m.memberId }), ErrorCode.ILLEGAL_GENERATION, `heartbeat at generation ${generationId}`);
    for (const version of [1, 2, 5, 7]) {
      assertAll(await commit(c, { groupId, version, generationId, memberId: m.memberId, offsets: [{ topic: 't', partition: 0, offset: 5 }] }), ErrorCode.ILLEGAL_GENERATION, `commit v${version} at generation ${generationId}`);
    }
  }
  const good = await commit(c, { groupId, generationId: m.generationId, memberId: m.memberId, offsets: [{ topic: 't', partition: 0, offset: 5 }] });
  assertAll(good, ErrorCode.NONE, 'commit at the right generation');
  assertAll(
    await commit(c, { groupId: 'never-seen-group', generationId: 3, memberId: 'x', offsets: [{ topic: 't', partition: 0, offset: 1 }] }),
    ErrorCode.ILLEGAL_GENERATION,
    'a generation-bearing commit to a group that does not exist',
  );
  assert.equal((await fetchOffsets(c, groupId, [{ name: 't', partitions: [0] }])).offsets.get('t/0')?.offset, 5, 'refused commits changed nothing');
});

test('UNKNOWN_MEMBER_ID for requests from a member the group does not know', async () => {
  const c = await client();
  const groupId = 'unknown-member';
  const m = await soloMember(c, groupId);
  const ghost = 'ghost-member';
  assert.equal((await join(c, { groupId, memberId: ghost })).errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'join');
  assert.equal((await sync(c, { groupId, generationId: m.generationId, memberId: ghost })).errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'sync');
  assert.equal(await heartbeat(c, { groupId, generationId: m.generationId, memberId: ghost }), ErrorCode.UNKNOWN_MEMBER_ID, 'heartbeat');
  assertAll(await commit(c, { groupId, generationId: m.generationId, memberId: ghost, offsets: [{ topic: 't', partition: 0, offset: 1 }] }), ErrorCode.UNKNOWN_MEMBER_ID, 'commit');
  assert.equal((await c.request(API.LeaveGroup, 0, { groupId, memberId: ghost })).errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'leave');
  assert.equal(await heartbeat(c, { groupId: 'no-such-group', generationId: 1, memberId: ghost }), ErrorCode.UNKNOWN_MEMBER_ID, 'heartbeat to a group that does not exist');
  assert.equal((await sync(c, { groupId: 'no-such-group', generationId: 1, memberId: ghost })).errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'sync to a group that does not exist');
  assert.equal(await heartbeat(c, { groupId, generationId: m.generationId, memberId: m.memberId }), ErrorCode.NONE, 'the real member is unaffected');
});

test('static membership: a new instance with the same group.instance.id (and a new subscription) fences the old member id', async () => {
  const oldC = await client();
  const newC = await client();
  const groupId = 'static-group';
  const inst = 'instance-1';
  const first = await join(oldC, { groupId, groupInstanceId: inst });
  assert.equal(first.errorCode, ErrorCode.NONE, 'a static member skips MEMBER_ID_REQUIRED');
  const s = await sync(oldC, { groupId, generationId: first.generationId, memberId: first.memberId, groupInstanceId: inst, assignments: [{ memberId: first.memberId, assignment: assignment({ t: [0, 1] }) }] });
  assert.equal(s.errorCode, ErrorCode.NONE);
  assertAll(await commit(oldC, { groupId, generationId: first.generationId, memberId: first.memberId, groupInstanceId: inst, offsets: [{ topic: 't', partition: 0, offset: 3 }] }), ErrorCode.NONE, 'commit by the static member');

  // A changed subscription: the group rebalances (the unchanged case is the no-rebalance test below).
  const second = await join(newC, { groupId, groupInstanceId: inst, protocols: [{ name: 'range', metadata: subscription(['t', 'u']) }] });
  assert.equal(second.errorCode, ErrorCode.NONE);
  assert.notEqual(second.memberId, first.memberId, 'the replacement gets a new member id');
  assert.equal(second.generationId, first.generationId + 1, 'a new generation');
  assert.equal(second.leader, second.memberId, 'the replacement takes over leadership');

  const old = { groupId, generationId: first.generationId, memberId: first.memberId, groupInstanceId: inst };
  assert.equal(await heartbeat(oldC, old), ErrorCode.FENCED_INSTANCE_ID, 'heartbeat from the replaced member id');
  assertAll(await commit(oldC, { ...old, offsets: [{ topic: 't', partition: 0, offset: 99 }] }), ErrorCode.FENCED_INSTANCE_ID, 'commit from the replaced member id');
  assert.equal((await sync(oldC, old)).errorCode, ErrorCode.FENCED_INSTANCE_ID, 'sync from the replaced member id');
  assert.equal((await join(oldC, { groupId, memberId: first.memberId, groupInstanceId: inst })).errorCode, ErrorCode.FENCED_INSTANCE_ID, 'rejoin from the replaced member id');
  assert.equal((await fetchOffsets(oldC, groupId, [{ name: 't', partitions: [0] }])).offsets.get('t/0')?.offset, 3, 'the fenced commit was not applied');

  const mine = { groupId, generationId: second.generationId, memberId: second.memberId, groupInstanceId: inst };
  const s2 = await sync(newC, { ...mine, assignments: [{ memberId: second.memberId, assignment: assignment({ t: [0, 1] }) }] });
  assert.equal(s2.errorCode, ErrorCode.NONE);
  assert.equal(await heartbeat(newC, mine), ErrorCode.NONE);
  const d = await describe(newC, groupId);
  assert.deepEqual(d.members.map((m) => [m.memberId, m.groupInstanceId]), [[second.memberId, inst]]);

  const wrong = await newC.request(API.LeaveGroup, 3, { groupId, members: [{ memberId: first.memberId, groupInstanceId: inst }] });
  assert.deepEqual(wrong.members.map((m: { errorCode: number }) => m.errorCode), [ErrorCode.FENCED_INSTANCE_ID], 'leave naming the instance with the old id');
  const right = await newC.request(API.LeaveGroup, 3, { groupId, members: [{ memberId: '', groupInstanceId: inst }] });
  assert.deepEqual(right.members.map((m: { errorCode: number }) => m.errorCode), [ErrorCode.NONE], 'leave by instance id alone');
  assert.equal((await describe(newC, groupId)).groupState, 'Empty');
});

test('static membership: a static leader that does not rejoin stays a member but another member leads the new generation', async () => {
  const sc = await client();
  const dc = await client();
  const groupId = 'static-leader';
  const inst = 'static-leader-1';
  const opts = { groupId, sessionTimeoutMs: 20_000, rebalanceTimeoutMs: 1000 };
  const a = await join(sc, { ...opts, groupInstanceId: inst });
  assert.equal(a.errorCode, ErrorCode.NONE);
  assert.equal((await sync(sc, { groupId, generationId: a.generationId, memberId: a.memberId, groupInstanceId: inst, assignments: [{ memberId: a.memberId, assignment: assignment({ t: [0, 1, 2, 3] }) }] })).errorCode, ErrorCode.NONE);
  // A dynamic member joins; the static leader (restarting, say) does not rejoin within the rebalance timeout.
  const jb = await joinDynamic(dc, opts);
  assert.equal(jb.errorCode, ErrorCode.NONE);
  assert.equal(jb.generationId, a.generationId + 1);
  assert.equal(jb.leader, jb.memberId, 'a member that rejoined leads: a leader that did not rejoin cannot assign');
  assert.deepEqual(jb.members.map((m) => m.memberId).sort(), [a.memberId, jb.memberId].sort(), 'the static member is kept in the group');
  const sb = await sync(dc, {
    groupId,
    generationId: jb.generationId,
    memberId: jb.memberId,
    assignments: [
      { memberId: jb.memberId, assignment: assignment({ t: [0, 1] }) },
      { memberId: a.memberId, assignment: assignment({ t: [2, 3] }) },
    ],
  });
  assert.equal(sb.errorCode, ErrorCode.NONE, 'the new leader completes the rebalance');
  assert.deepEqual(decodeAssignment(sb.assignment), { t: [0, 1] });
  // The static member comes back with its member id and old generation.
  assert.equal(await heartbeat(sc, { groupId, generationId: a.generationId, memberId: a.memberId, groupInstanceId: inst }), ErrorCode.ILLEGAL_GENERATION, 'the stale static member learns it must rejoin');
});

test('static membership: a restarted static member with unchanged protocols takes its place in a Stable group without a rebalance, durably', async () => {
  const dataDir = tempDir();
  let own = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0 }, dataDir);
  const cs: TestKafkaClient[] = [];
  const connect = async (): Promise<TestKafkaClient> => {
    const c = await TestKafkaClient.connect(own.bootstrap);
    cs.push(c);
    return c;
  };
  try {
    await own.broker.createTopic('t', 4, {});
    const groupId = 'static-no-rebalance';
    const inst = 'keeper';
    const sc = await connect();
    const dc = await connect();
    // A static member and a dynamic one, Stable, the static one leading.
    const s1 = await join(sc, { groupId, groupInstanceId: inst });
    assert.equal((await sync(sc, { groupId, generationId: s1.generationId, memberId: s1.memberId, groupInstanceId: inst, assignments: [{ memberId: s1.memberId, assignment: assignment({ t: [0, 1, 2, 3] }) }] })).errorCode, ErrorCode.NONE);
    const idD = (await join(dc, { groupId })).memberId;
    const pendingD = join(dc, { groupId, memberId: idD });
    assert.ok(await waitFor(async () => (await heartbeat(sc, { groupId, generationId: s1.generationId, memberId: s1.memberId, groupInstanceId: inst })) === ErrorCode.REBALANCE_IN_PROGRESS, 5000));
    const [s2, d2] = await Promise.all([join(sc, { groupId, memberId: s1.memberId, groupInstanceId: inst }), pendingD]);
    assert.equal(s2.leader, s1.memberId);
    const gen = s2.generationId;
    const mine = assignment({ t: [0, 1] });
    const syncD = sync(dc, { groupId, generationId: gen, memberId: idD });
    assert.equal((await sync(sc, { groupId, generationId: gen, memberId: s1.memberId, groupInstanceId: inst, assignments: [{ memberId: s1.memberId, assignment: mine }, { memberId: idD, assignment: assignment({ t: [2, 3] }) }] })).errorCode, ErrorCode.NONE);
    assert.equal((await syncD).errorCode, ErrorCode.NONE);
    assert.equal(d2.generationId, gen);

    // The static instance restarts: same instance id, no member id, same protocols.
    const restarted = await connect();
    const again = await join(restarted, { groupId, groupInstanceId: inst });
    assert.equal(again.errorCode, ErrorCode.NONE);
    assert.notEqual(again.memberId, s1.memberId, 'a new member id');
    assert.equal(again.generationId, gen, 'answered at once, in the current generation');
    assert.equal(again.leader, s1.memberId, 'the answer names the old leader id, so the restarted leader does not reassign');
    assert.deepEqual(again.members, []);
    assert.equal(await heartbeat(dc, { groupId, generationId: gen, memberId: idD }), ErrorCode.NONE, 'the other member is not disturbed');
    const s3 = await sync(restarted, { groupId, generationId: gen, memberId: again.memberId, groupInstanceId: inst });
    assert.equal(s3.errorCode, ErrorCode.NONE);
    assert.deepEqual(s3.assignment, mine, 'the restarted instance gets its previous assignment');
    assert.equal(await heartbeat(sc, { groupId, generationId: gen, memberId: s1.memberId, groupInstanceId: inst }), ErrorCode.FENCED_INSTANCE_ID, 'the old id is fenced');
    const d = await describe(dc, groupId);
    assert.equal(d.groupState, 'Stable');
    assert.deepEqual(d.members.map((m) => m.memberId).sort(), [idD, again.memberId].sort());

    // The replacement is durable: after a restart the new id is the member.
    for (const c of cs.splice(0)) c.close();
    await own.close();
    own = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0 }, dataDir);
    const after1 = await connect();
    assert.equal(await heartbeat(after1, { groupId, generationId: gen, memberId: again.memberId, groupInstanceId: inst }), ErrorCode.NONE, 'the new id is a member after a restart');
    assert.equal(await heartbeat(after1, { groupId, generationId: gen, memberId: s1.memberId, groupInstanceId: inst }), ErrorCode.FENCED_INSTANCE_ID, 'the old id stays fenced after a restart');

  } finally {
    for (const c of cs) c.close();
    await own.close();
    removeDir(dataDir);
  }
});

test('heartbeat and sync during PreparingRebalance get REBALANCE_IN_PROGRESS; commits then are accepted, during CompletingRebalance refused', async () => {
  const a = await client();
  const c2 = await client();
  const groupId = 'rebalance-states';
  const m = await soloMember(a, groupId, { t: [0, 1, 2, 3] });
  const idB = (await join(c2, { groupId })).memberId;
  const pendingB = join(c2, { groupId, memberId: idB });
  assert.ok(await waitFor(async () => (await describe(a, groupId)).groupState === 'PreparingRebalance', 5000));
  const preparing = await describe(a, groupId);
  assert.equal(preparing.protocolData, '', 'no protocol is reported while rebalancing');
  assert.equal(preparing.members.length, 2);
  for (const dm of preparing.members) assert.deepEqual([dm.memberMetadata.length, dm.memberAssignment.length], [0, 0], 'no metadata or assignment while rebalancing (Kafka summaryNoMetadata)');
  assert.equal(await heartbeat(a, { groupId, generationId: m.generationId, memberId: m.memberId }), ErrorCode.REBALANCE_IN_PROGRESS, 'heartbeat while preparing');
  assert.equal((await sync(a, { groupId, generationId: m.generationId, memberId: m.memberId })).errorCode, ErrorCode.REBALANCE_IN_PROGRESS, 'sync while preparing');
  assertAll(await commit(a, { groupId, generationId: m.generationId, memberId: m.memberId, offsets: [{ topic: 't', partition: 0, offset: 10 }] }), ErrorCode.NONE, 'commit while preparing (the old generation still owns its partitions)');
  const [ja, jb] = await Promise.all([join(a, { groupId, memberId: m.memberId }), pendingB]);
  assert.equal(ja.errorCode, ErrorCode.NONE);
  assert.equal(jb.errorCode, ErrorCode.NONE);
  assert.equal(ja.generationId, m.generationId + 1);
  assert.equal(ja.leader, m.memberId, 'the existing leader keeps leading');
  assert.equal((await describe(a, groupId)).groupState, 'CompletingRebalance');
  assert.equal(await heartbeat(c2, { groupId, generationId: jb.generationId, memberId: idB }), ErrorCode.NONE, 'heartbeat while completing is fine');
  assertAll(await commit(c2, { groupId, generationId: jb.generationId, memberId: idB, offsets: [{ topic: 't', partition: 2, offset: 1 }] }), ErrorCode.REBALANCE_IN_PROGRESS, 'commit while completing');
  const syncB = sync(c2, { groupId, generationId: jb.generationId, memberId: idB });
  const syncA = await sync(a, {
    groupId,
    generationId: ja.generationId,
    memberId: m.memberId,
    assignments: [
      { memberId: m.memberId, assignment: assignment({ t: [0, 1] }) },
      { memberId: idB, assignment: assignment({ t: [2, 3] }) },
    ],
  });
  assert.equal(syncA.errorCode, ErrorCode.NONE);
  assert.deepEqual(decodeAssignment(syncA.assignment), { t: [0, 1] });
  const sB = await syncB;
  assert.equal(sB.errorCode, ErrorCode.NONE, 'the follower waiting in SyncGroup gets its assignment');
  assert.deepEqual(decodeAssignment(sB.assignment), { t: [2, 3] });
  assertAll(await commit(c2, { groupId, generationId: jb.generationId, memberId: idB, offsets: [{ topic: 't', partition: 2, offset: 1 }] }), ErrorCode.NONE, 'commit once Stable');
});

test('the join barrier ends at the rebalance timeout: a member that heartbeats but never rejoins is removed', async () => {
  const a = await client();
  const c2 = await client();
  const groupId = 'barrier-timeout';
  const opts = { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 1000 };
  const m = await soloMember(a, groupId, { t: [0] }, opts);
  const idB = (await join(c2, opts)).memberId;
  const pendingB = join(c2, { ...opts, memberId: idB });
  // A keeps its session alive but ignores the rebalance.
  let keepBeating = true;
  const beats: number[] = [];
  const beater = (async () => {
    while (keepBeating) {
      beats.push(await heartbeat(a, { groupId, generationId: m.generationId, memberId: m.memberId }));
      await sleep(100);
    }
  })();
  const jb = await pendingB;
  keepBeating = false;
  await beater;
  assert.equal(jb.errorCode, ErrorCode.NONE);
  assert.equal(jb.leader, idB, 'the member that rejoined leads');
  assert.deepEqual(jb.members.map((x) => x.memberId), [idB], 'the member that did not rejoin is gone');
  assert.ok(beats.includes(ErrorCode.REBALANCE_IN_PROGRESS), 'the ignoring member was told to rejoin');
  assert.equal(await heartbeat(a, { groupId, generationId: m.generationId, memberId: m.memberId }), ErrorCode.UNKNOWN_MEMBER_ID);
});

test('a leader that never sends SyncGroup: the waiting members are told to rejoin and the leader is removed', async () => {
  const groupId = 'leader-never-syncs';
  const cs = [await client(), await client()];
  const opts = { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 1000 };
  const ids = [(await join(cs[0], opts)).memberId, (await join(cs[1], opts)).memberId];
  const first = await join(cs[0], { ...opts, memberId: ids[0] });
  const pending = join(cs[1], { ...opts, memberId: ids[1] });
  assert.ok(await waitFor(async () => (await heartbeat(cs[0], { groupId, generationId: first.generationId, memberId: ids[0] })) === ErrorCode.REBALANCE_IN_PROGRESS, 5000));
  const [ja, jb] = await Promise.all([join(cs[0], { ...opts, memberId: ids[0] }), pending]);
  assert.equal(ja.leader, ids[0]);
  assert.equal(jb.errorCode, ErrorCode.NONE);
  // The follower syncs and waits; the leader never does.
  const s = await sync(cs[1], { groupId, generationId: jb.generationId, memberId: ids[1] });
  assert.equal(s.errorCode, ErrorCode.REBALANCE_IN_PROGRESS, 'the waiting follower is released to rejoin');
  const again = await join(cs[1], { ...opts, memberId: ids[1] });
  assert.equal(again.errorCode, ErrorCode.NONE);
  assert.deepEqual(again.members.map((x) => x.memberId), [ids[1]], 'the silent leader was removed');
  assert.equal(again.leader, ids[1]);
});

test('simple commits (generation -1): accepted for an empty group, UNKNOWN_MEMBER_ID for a group with members', async () => {
  const c = await client();
  for (const version of [0, 1, 2, 3, 4, 5, 6, 7]) {
    const groupId = `simple-${version}`;
    assertAll(await commit(c, { groupId, version, offsets: [{ topic: 't', partition: 1, offset: 40 + version }] }), ErrorCode.NONE, `simple commit v${version}`);
    const f = await fetchOffsets(c, groupId, [{ name: 't', partitions: [1] }]);
    assert.equal(f.offsets.get('t/1')?.offset, 40 + version);
  }
  const groupId = 'simple-live';
  const m = await soloMember(c, groupId);
  assertAll(await commit(c, { groupId, offsets: [{ topic: 't', partition: 0, offset: 1 }] }), ErrorCode.UNKNOWN_MEMBER_ID, 'simple commit into a live group');
  assertAll(await commit(c, { groupId, version: 0, offsets: [{ topic: 't', partition: 0, offset: 1 }] }), ErrorCode.UNKNOWN_MEMBER_ID, 'v0 commit (no generation) into a live group');
  await c.request(API.LeaveGroup, 1, { groupId, memberId: m.memberId });
  assertAll(await commit(c, { groupId, offsets: [{ topic: 't', partition: 0, offset: 1 }] }), ErrorCode.NONE, 'simple commit once the group is empty again');
});

test('commit metadata round-trips through OffsetFetch v0-5; uncommitted partitions read -1; topics null returns all', async () => {
  const c = await client();
  const groupId = 'metadata-roundtrip';
  const meta = 'ünïcødé ✓ {"k":1}';
  assertAll(
    await commit(c, {
      groupId,
      offsets: [
        { topic: 't', partition: 0, offset: 100, metadata: meta },
        { topic: 't', partition: 1, offset: 0, metadata: null },
        { topic: 'u', partition: 1, offset: 7, metadata: '' },
      ],
    }),
    ErrorCode.NONE,
    'commit',
  );
  for (let v = 0; v <= 5; v++) {
    const f = await fetchOffsets(c, groupId, [{ name: 't', partitions: [0, 1, 2] }, { name: 'u', partitions: [0, 1] }], v);
    assert.equal(f.errorCode, ErrorCode.NONE);
    assert.deepEqual(f.offsets.get('t/0'), { offset: 100, metadata: meta, errorCode: 0 }, `v${v} t/0`);
    assert.deepEqual(f.offsets.get('t/1'), { offset: 0, metadata: '', errorCode: 0 }, `v${v} t/1 (null metadata reads as empty, as in Kafka)`);
    assert.deepEqual(f.offsets.get('t/2'), { offset: -1, metadata: '', errorCode: 0 }, `v${v} t/2 never committed`);
    assert.deepEqual(f.offsets.get('u/0'), { offset: -1, metadata: '', errorCode: 0 }, `v${v} u/0 never committed`);
    assert.deepEqual(f.offsets.get('u/1'), { offset: 7, metadata: '', errorCode: 0 }, `v${v} u/1`);
    if (v >= 2) {
      const all = await fetchOffsets(c, groupId, null, v);
      assert.deepEqual([...all.offsets.keys()].sort(), ['t/0', 't/1', 'u/1'], `v${v} topics=null lists every committed partition`);
      assert.equal(all.offsets.get('t/0')?.metadata, meta);
    }
  }
  const unknownGroup = await fetchOffsets(c, 'nobody-committed', [{ name: 't', partitions: [0] }]);
  assert.deepEqual(unknownGroup.offsets.get('t/0'), { offset: -1, metadata: '', errorCode: 0 });
  assert.equal((await fetchOffsets(c, 'nobody-committed', null)).offsets.size, 0);
  // A later commit replaces the earlier one, metadata included.
  assertAll(await commit(c, { groupId, offsets: [{ topic: 't', partition: 0, offset: 101, metadata: 'second' }] }), ErrorCode.NONE, 'recommit');
  assert.deepEqual((await fetchOffsets(c, groupId, [{ name: 't', partitions: [0] }])).offsets.get('t/0'), { offset: 101, metadata: 'second', errorCode: 0 });
});

test('OFFSET_METADATA_TOO_LARGE and UNKNOWN_TOPIC_OR_PARTITION are per partition', async () => {
  const c = await client();
  const groupId = 'per-partition-errors';
  const codes = await commit(c, {
    groupId,
    offsets: [
      { topic: 't', partition: 0, offset: 1, metadata: 'x'.repeat(MAX_METADATA_BYTES) },
      { topic: 't', partition: 1, offset: 1, metadata: 'x'.repeat(MAX_METADATA_BYTES + 1) },
      // 22 three-byte characters: 66 bytes, under the limit in characters but over it in bytes.
      { topic: 't', partition: 2, offset: 1, metadata: '✓'.repeat(22) },
      { topic: 't', partition: 99, offset: 1 },
      { topic: 'no-such-topic', partition: 0, offset: 1 },
    ],
  });
  assert.equal(codes.get('t/0'), ErrorCode.NONE, 'metadata exactly at the limit');
  assert.equal(codes.get('t/1'), ErrorCode.OFFSET_METADATA_TOO_LARGE);
  assert.equal(codes.get('t/2'), ErrorCode.OFFSET_METADATA_TOO_LARGE, 'the limit counts bytes');
  assert.equal(codes.get('t/99'), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  assert.equal(codes.get('no-such-topic/0'), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const f = await fetchOffsets(c, groupId, null);
  assert.deepEqual([...f.offsets.keys()], ['t/0'], 'only the accepted partition was stored');
});

test('session expiry removes a silent member and the others are told to rebalance', async () => {
  const groupId = 'session-expiry';
  const g = await formGroup(groupId, 2, { sessionTimeoutMs: MIN_SESSION_MS, rebalanceTimeoutMs: 10_000 });
  const [silent, alive] = g.members;
  let code: number = ErrorCode.NONE;
  let beats = 0;
  while (code === ErrorCode.NONE && beats < 200) {
    await sleep(150);
    code = await heartbeat(alive.c, { groupId, generationId: g.generationId, memberId: alive.memberId });
    beats++;
  }
  assert.equal(code, ErrorCode.REBALANCE_IN_PROGRESS, 'the live member is told to rejoin once the silent one expires');
  assert.ok(beats > 1, 'the live member heartbeat successfully while the silent member was still within its session');
  const rejoin = await join(alive.c, { groupId, memberId: alive.memberId, sessionTimeoutMs: MIN_SESSION_MS });
  assert.equal(rejoin.errorCode, ErrorCode.NONE);
  assert.equal(rejoin.generationId, g.generationId + 1);
  assert.equal(rejoin.leader, alive.memberId, 'the remaining member leads');
  assert.deepEqual(rejoin.members.map((m) => m.memberId), [alive.memberId], 'the silent member is gone');
  assert.equal(await heartbeat(silent.c, { groupId, generationId: g.generationId, memberId: silent.memberId }), ErrorCode.UNKNOWN_MEMBER_ID, 'the expired member is unknown');
  await alive.c.request(API.LeaveGroup, 3, { groupId, members: [{ memberId: alive.memberId, groupInstanceId: null }] });
});

test('LeaveGroup v3 removes a batch of members with one error per member', async () => {
  const groupId = 'batched-leave';
  const g = await formGroup(groupId, 3);
  const [a, bm, cm] = g.members;
  const r = await a.c.request(API.LeaveGroup, 3, {
    groupId,
    members: [
      { memberId: bm.memberId, groupInstanceId: null },
      { memberId: 'nobody', groupInstanceId: null },
      { memberId: cm.memberId, groupInstanceId: null },
    ],
  });
  assert.equal(r.errorCode, ErrorCode.NONE);
  assert.deepEqual(
    r.members.map((m: { memberId: string; errorCode: number }) => [m.memberId, m.errorCode]),
    [
      [bm.memberId, ErrorCode.NONE],
      ['nobody', ErrorCode.UNKNOWN_MEMBER_ID],
      [cm.memberId, ErrorCode.NONE],
    ],
  );
  assert.equal(await heartbeat(a.c, { groupId, generationId: g.generationId, memberId: a.memberId }), ErrorCode.REBALANCE_IN_PROGRESS, 'the leaves started a rebalance');
  const j = await join(a.c, { groupId, memberId: a.memberId });
  assert.deepEqual(j.members.map((m) => m.memberId), [a.memberId], 'only the remaining member is in the next generation');
  const unknownGroup = await a.c.request(API.LeaveGroup, 3, { groupId: 'no-such-group', members: [{ memberId: 'x', groupInstanceId: null }] });
  assert.equal(unknownGroup.errorCode, ErrorCode.NONE, 'v3: leaving a group that does not exist is a per-member error (as in Kafka)');
  assert.deepEqual(unknownGroup.members.map((m: { errorCode: number }) => m.errorCode), [ErrorCode.UNKNOWN_MEMBER_ID]);
  const unknownV1 = await a.c.request(API.LeaveGroup, 1, { groupId: 'no-such-group', memberId: 'x' });
  assert.equal(unknownV1.errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'v0-2 carry the member error at the top level');
});

test('group.max.size: a member beyond the limit gets GROUP_MAX_SIZE_REACHED', async () => {
  const groupId = 'full-group';
  const g = await formGroup(groupId, MAX_GROUP_SIZE);
  const extra = await client();
  for (const version of [0, 3, 5]) {
    const r = await join(extra, { groupId, version });
    assert.equal(r.errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED, `join v${version} into a full group`);
  }
  for (const m of g.members) assert.equal(await heartbeat(m.c, { groupId, generationId: g.generationId, memberId: m.memberId }), ErrorCode.NONE, 'the group is undisturbed');
  // Pending member ids (KIP-394) count towards the limit too.
  const groupId2 = 'full-with-pending';
  const c = await client();
  const ids: string[] = [];
  for (let i = 0; i < MAX_GROUP_SIZE; i++) {
    const r = await join(c, { groupId: groupId2 });
    assert.equal(r.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
    ids.push(r.memberId);
  }
  assert.equal((await join(c, { groupId: groupId2 })).errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED, 'no more ids handed out once pending ids fill the group');
});

test('ListGroups v0-2, DescribeGroups v0-4: state, members, metadata and assignment bytes round-trip', async () => {
  const groupId = 'described';
  const g = await formGroup(groupId, 2, { topics: ['t', 'u'] });
  const c = g.members[0].c;
  for (let v = 0; v <= 2; v++) {
    const r = await c.request(API.ListGroups, v, {});
    assert.equal(r.errorCode, ErrorCode.NONE);
    const mine = r.groups.find((x: { groupId: string }) => x.groupId === groupId);
    assert.ok(mine, `ListGroups v${v} lists the group`);
    assert.equal(mine.protocolType, 'consumer');
  }
  for (let v = 0; v <= 4; v++) {
    const d = await describe(c, groupId, v);
    assert.equal(d.errorCode, ErrorCode.NONE);
    assert.equal(d.groupState, 'Stable', `v${v}`);
    assert.equal(d.protocolType, 'consumer');
    assert.equal(d.protocolData, 'range', 'the protocol name of a Stable group');
    assert.equal(d.members.length, 2);
    for (const m of g.members) {
      const dm = d.members.find((x) => x.memberId === m.memberId);
      assert.ok(dm, `v${v} describes member ${m.memberId}`);
      assert.equal(dm.clientId, 'holdfast-test');
      assert.equal(dm.clientHost, '127.0.0.1');
      assert.deepEqual(dm.memberMetadata, subscription(['t', 'u']), 'metadata bytes round-trip');
      assert.deepEqual(dm.memberAssignment, m.assignment, 'assignment bytes round-trip');
      if (v >= 4) assert.equal(dm.groupInstanceId, null);
    }
  }
  const dead = await describe(c, 'never-existed');
  assert.equal(dead.errorCode, ErrorCode.NONE);
  assert.equal(dead.groupState, 'Dead', 'an unknown group describes as Dead');
  assert.equal(dead.members.length, 0);
});

test('DeleteGroups v0-1: NON_EMPTY_GROUP for a live group, GROUP_ID_NOT_FOUND for an unknown one, deletes an empty group and its offsets', async () => {
  const groupId = 'deletable';
  const g = await formGroup(groupId, 1);
  const m = g.members[0];
  assertAll(await commit(m.c, { groupId, generationId: g.generationId, memberId: m.memberId, offsets: [{ topic: 't', partition: 0, offset: 12 }] }), ErrorCode.NONE, 'commit');
  assertAll(await commit(m.c, { groupId: 'simple-deletable', offsets: [{ topic: 't', partition: 0, offset: 3 }] }), ErrorCode.NONE, 'simple commit');
  for (const v of [0, 1]) {
    const r = await m.c.request(API.DeleteGroups, v, { groupsNames: [groupId, 'no-such-group'] });
    assert.deepEqual(
      r.results.map((x: { groupId: string; errorCode: number }) => [x.groupId, x.errorCode]),
      [
        [groupId, ErrorCode.NON_EMPTY_GROUP],
        ['no-such-group', ErrorCode.GROUP_ID_NOT_FOUND],
      ],
      `DeleteGroups v${v}`,
    );
  }
  assert.equal((await fetchOffsets(m.c, groupId, [{ name: 't', partitions: [0] }])).offsets.get('t/0')?.offset, 12, 'a refused delete keeps the offsets');
  await m.c.request(API.LeaveGroup, 3, { groupId, members: [{ memberId: m.memberId, groupInstanceId: null }] });
  const r = await m.c.request(API.DeleteGroups, 1, { groupsNames: [groupId, 'simple-deletable'] });
  assert.deepEqual(r.results.map((x: { errorCode: number }) => x.errorCode), [ErrorCode.NONE, ErrorCode.NONE]);
  for (const id of [groupId, 'simple-deletable']) {
    assert.equal((await fetchOffsets(m.c, id, [{ name: 't', partitions: [0] }])).offsets.get('t/0')?.offset, -1, `${id}: offsets are gone`);
    assert.equal((await describe(m.c, id)).groupState, 'Dead', `${id}: the group is gone`);
  }
  const listed = await m.c.request(API.ListGroups, 2, {});
  assert.ok(!listed.groups.some((x: { groupId: string }) => x.groupId === groupId || x.groupId === 'simple-deletable'), 'deleted groups are not listed');
  const again = await m.c.request(API.DeleteGroups, 1, { groupsNames: [groupId] });
  assert.equal(again.results[0].errorCode, ErrorCode.GROUP_ID_NOT_FOUND, 'a deleted group is not found');
  // The deleted group id can be used afresh.
  const fresh = await soloMember(m.c, groupId);
  assert.equal(fresh.generationId, 1, 'a recreated group starts over at generation 1');
});

test('OffsetDelete v0: deletes offsets of an empty group; GROUP_SUBSCRIBED_TO_TOPIC while a live group subscribes to the topic', async () => {
  const c = await client();
  const groupId = 'offset-delete';
  assertAll(
    await commit(c, {
      groupId,
      offsets: [
        { topic: 't', partition: 0, offset: 1 },
        { topic: 't', partition: 1, offset: 2 },
        { topic: 'u', partition: 0, offset: 3 },
      ],
    }),
    ErrorCode.NONE,
    'commit',
  );
  const del = await c.request(API.OffsetDelete, 0, { groupId, topics: [{ name: 't', partitions: [{ partitionIndex: 0 }] }] });
  assert.equal(del.errorCode, ErrorCode.NONE);
  assert.deepEqual(del.topics[0].partitions, [{ partitionIndex: 0, errorCode: ErrorCode.NONE }]);
  const after1 = await fetchOffsets(c, groupId, null);
  assert.deepEqual([...after1.offsets.keys()].sort(), ['t/1', 'u/0'], 'only t/0 was deleted');

  // A live consumer group subscribed to t: t's offsets are protected, u's are not.
  const m = await soloMember(c, groupId, { t: [0, 1] });
  const del2 = await c.request(API.OffsetDelete, 0, { groupId, topics: [{ name: 't', partitions: [{ partitionIndex: 1 }] }, { name: 'u', partitions: [{ partitionIndex: 0 }] }] });
  assert.equal(del2.errorCode, ErrorCode.NONE);
  const codes = Object.fromEntries(del2.topics.map((t: { name: string; partitions: Array<{ errorCode: number }> }) => [t.name, t.partitions[0].errorCode]));
  assert.deepEqual(codes, { t: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, u: ErrorCode.NONE });
  const after2 = await fetchOffsets(c, groupId, null);
  assert.deepEqual([...after2.offsets.keys()], ['t/1'], 'u/0 deleted, t/1 kept');
  assert.ok(m.generationId > 0);

  const unknown = await c.request(API.OffsetDelete, 0, { groupId: 'no-such-group', topics: [{ name: 't', partitions: [{ partitionIndex: 0 }] }] });
  assert.equal(unknown.errorCode, ErrorCode.GROUP_ID_NOT_FOUND);
});

test('offsets retention: offsets of a group empty longer than offsets.retention.minutes expire; a live group keeps them', async () => {
  // A manual clock stands in for the minute-granularity retention; expiry still runs on the broker's timer.
  const clock = new ManualClock(Date.now());
  const dataDir = tempDir();
  const broker = await startBroker({
    dataDir,
    port: 0,
    clock,
    logger: process.env.HOLDFAST_TEST_LOG ? undefined : silentLogger,
    config: { 'group.initial.rebalance.delay.ms': 0, 'offsets.retention.minutes': 1, 'offsets.retention.check.interval.ms': 100 },
  });
  const c = await TestKafkaClient.connect(`127.0.0.1:${broker.port}`);
  try {
    await broker.createTopic('t', 2, {});
    assertAll(await commit(c, { groupId: 'idle', offsets: [{ topic: 't', partition: 0, offset: 5 }] }), ErrorCode.NONE, 'idle commit');
    const live = await soloMember(c, 'live', { t: [0, 1] });
    assertAll(await commit(c, { groupId: 'live', generationId: live.generationId, memberId: live.memberId, offsets: [{ topic: 't', partition: 1, offset: 6 }] }), ErrorCode.NONE, 'live commit');
    await sleep(500);
    assert.equal((await fetchOffsets(c, 'idle', [{ name: 't', partitions: [0] }])).offsets.get('t/0')?.offset, 5, 'nothing expires before the retention');

    clock.advance(61_000);
    const expired = await waitFor(async () => (await fetchOffsets(c, 'idle', [{ name: 't', partitions: [0] }])).offsets.get('t/0')?.offset === -1, 10_000);
    assert.ok(expired, 'the empty group offsets expired');
    // The group itself goes right after its offsets (one more durable write).
    const listed = async (): Promise<boolean> => (await c.request(API.ListGroups, 2, {})).groups.some((x: { groupId: string }) => x.groupId === 'idle');
    assert.ok(await waitFor(async () => !(await listed()), 5000), 'an expired empty group is gone');
    assert.equal(await heartbeat(c, { groupId: 'live', generationId: live.generationId, memberId: live.memberId }), ErrorCode.NONE);
    assert.equal((await fetchOffsets(c, 'live', [{ name: 't', partitions: [1] }])).offsets.get('t/1')?.offset, 6, 'a group with members keeps its offsets');
  } finally {
    c.close();
    await broker.close();
    removeDir(dataDir);
  }
});

test('max.groups: a join or a simple commit that would create a group beyond the limit is refused', async () => {
  const small = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0, 'max.groups': 2 });
  const c = await TestKafkaClient.connect(small.bootstrap);
  try {
    await small.broker.createTopic('t', 1, {});
    const m = await soloMember(c, 'g1');
    assertAll(await commit(c, { groupId: 'g2', offsets: [{ topic: 't', partition: 0, offset: 1 }] }), ErrorCode.NONE, 'second group by a simple commit');
    assert.equal((await join(c, { groupId: 'g3', version: 3 })).errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED, 'a third group by JoinGroup');
    assertAll(await commit(c, { groupId: 'g3', offsets: [{ topic: 't', partition: 0, offset: 1 }] }), ErrorCode.GROUP_MAX_SIZE_REACHED, 'a third group by a simple commit');
    assertAll(await commit(c, { groupId: 'g2', offsets: [{ topic: 't', partition: 0, offset: 2 }] }), ErrorCode.NONE, 'existing groups still work');
    assert.equal(await heartbeat(c, { groupId: 'g1', generationId: m.generationId, memberId: m.memberId }), ErrorCode.NONE);
  } finally {
    c.close();
    await small.close();
    removeDir(small.dataDir);
  }
});

test('group.max.member.metadata.bytes: a join whose protocols carry more is refused with INVALID_REQUEST and creates no group; one within the limit joins', async () => {
  const small = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0, 'group.max.member.metadata.bytes': 1024 });
  const c = await TestKafkaClient.connect(small.bootstrap);
  try {
    // Names count too: 'range' (5 bytes) + 1,020 bytes of metadata is 1,025.
    const big = await join(c, { groupId: 'big', version: 3, protocols: [{ name: 'range', metadata: Buffer.alloc(1020) }] });
    assert.equal(big.errorCode, ErrorCode.INVALID_REQUEST);
    const listed = await c.request(API.ListGroups, 0, {});
    assert.deepEqual(listed.groups.map((g: { groupId: string }) => g.groupId), [], 'the refused join created no group');
    const fits = await join(c, { groupId: 'big', version: 3, protocols: [{ name: 'range', metadata: Buffer.alloc(1019) }] });
    assert.equal(fits.errorCode, ErrorCode.NONE);
  } finally {
    c.close();
    await small.close();
    removeDir(small.dataDir);
  }
});
