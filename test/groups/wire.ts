// Wire-level helpers for the group tests: typed wrappers around the group APIs of TestKafkaClient,
// and the consumer protocol's subscription and assignment encodings (which the broker treats as
// opaque bytes, except OffsetDelete's look at subscribed topics).
import assert from 'node:assert/strict';
import type { TestKafkaClient } from '../helpers/kafka-client.ts';

export const API = {
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  DeleteGroups: 42,
  OffsetDelete: 47,
} as const;

/** ConsumerProtocolSubscription v0: version int16, topics [string], user data bytes (null). */
export function subscription(topics: string[]): Buffer {
  const parts: Buffer[] = [int16(0), int32(topics.length)];
  for (const t of topics) parts.push(str(t));
  parts.push(int32(-1));
  return Buffer.concat(parts);
}

/** ConsumerProtocolAssignment v0: version int16, [topic string, [partition int32]], user data bytes (null). */
export function assignment(partitions: Record<string, number[]>): Buffer {
  const entries = Object.entries(partitions);
  const parts: Buffer[] = [int16(0), int32(entries.length)];
  for (const [topic, ps] of entries) {
    parts.push(str(topic), int32(ps.length));
    for (const p of ps) parts.push(int32(p));
  }
  parts.push(int32(-1));
  return Buffer.concat(parts);
}

/** Decodes a ConsumerProtocolAssignment into topic → partitions. */
export function decodeAssignment(buf: Buffer): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (buf.length === 0) return out;
  let pos = 2;
  const topics = buf.readInt32BE(pos);
  pos += 4;
  for (let i = 0; i < topics; i++) {
    const len = buf.readInt16BE(pos);
    pos += 2;
    const topic = buf.toString('utf8', pos, pos + len);
    pos += len;
    const n = buf.readInt32BE(pos);
    pos += 4;
    const ps: number[] = [];
    for (let j = 0; j < n; j++, pos += 4) ps.push(buf.readInt32BE(pos));
    out[topic] = ps;
  }
  return out;
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function str(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  return Buffer.concat([int16(body.length), body]);
}

export interface JoinOptions {
  groupId: string;
  memberId?: string;
  groupInstanceId?: string | null;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  protocolType?: string;
  protocols?: Array<{ name: string; metadata: Buffer }>;
  version?: number;
}

export interface JoinResponse {
  errorCode: number;
  generationId: number;
  protocolName: string | null;
  leader: string;
  memberId: string;
  members: Array<{ memberId: string; groupInstanceId?: string | null; metadata: Buffer }>;
}

export function join(c: TestKafkaClient, o: JoinOptions): Promise<JoinResponse> {
  return c.request(API.JoinGroup, o.version ?? 5, {
    groupId: o.groupId,
    sessionTimeoutMs: o.sessionTimeoutMs ?? 10_000,
    rebalanceTimeoutMs: o.rebalanceTimeoutMs ?? 10_000,
    memberId: o.memberId ?? '',
    groupInstanceId: o.groupInstanceId ?? null,
    protocolType: o.protocolType ?? 'consumer',
    protocols: o.protocols ?? [{ name: 'range', metadata: subscription(['t']) }],
  });
}

/** JoinGroup v4+ round trip: MEMBER_ID_REQUIRED first, then the join with the handed-out id. */
export async function joinDynamic(c: TestKafkaClient, o: JoinOptions): Promise<JoinResponse> {
  const first = await join(c, { ...o, memberId: '' });
  assert.equal(first.errorCode, 79, 'first JoinGroup v4+ without a member id gets MEMBER_ID_REQUIRED');
  assert.ok(first.memberId.length > 0, 'MEMBER_ID_REQUIRED carries the member id to use');
  return join(c, { ...o, memberId: first.memberId });
}

export function sync(
  c: TestKafkaClient,
  o: { groupId: string; generationId: number; memberId: string; groupInstanceId?: string | null; assignments?: Array<{ memberId: string; assignment: Buffer }>; version?: number; protocolType?: string | null; protocolName?: string | null },
): Promise<{ errorCode: number; assignment: Buffer; protocolType?: string | null; protocolName?: string | null }> {
  return c.request(API.SyncGroup, o.version ?? 3, {
    groupId: o.groupId,
    generationId: o.generationId,
    memberId: o.memberId,
    groupInstanceId: o.groupInstanceId ?? null,
    protocolType: o.protocolType ?? null,
    protocolName: o.protocolName ?? null,
    assignments: o.assignments ?? [],
  });
}

export async function heartbeat(c: TestKafkaClient, o: { groupId: string; generationId: number; memberId: string; groupInstanceId?: string | null; version?: number }): Promise<number> {
  const r = await c.request(API.Heartbeat, o.version ?? 3, { groupId: o.groupId, generationId: o.generationId, memberId: o.memberId, groupInstanceId: o.groupInstanceId ?? null });
  return r.errorCode as number;
}

export interface CommitOffset {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string | null;
}

/** OffsetCommit; returns "topic/partition" → error code. */
export async function commit(
  c: TestKafkaClient,
  o: { groupId: string; generationId?: number; memberId?: string; groupInstanceId?: string | null; offsets: CommitOffset[]; version?: number },
): Promise<Map<string, number>> {
  const byTopic = new Map<string, Array<{ partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; commitTimestamp: number; committedMetadata: string | null }>>();
  for (const off of o.offsets) {
    let ps = byTopic.get(off.topic);
    if (ps === undefined) byTopic.set(off.topic, (ps = []));
    ps.push({ partitionIndex: off.partition, committedOffset: off.offset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: off.metadata === undefined ? '' : off.metadata });
  }
  const r = await c.request(API.OffsetCommit, o.version ?? 7, {
    groupId: o.groupId,
    generationIdOrMemberEpoch: o.generationId ?? -1,
    memberId: o.memberId ?? '',
    groupInstanceId: o.groupInstanceId ?? null,
    retentionTimeMs: -1,
    topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
  });
  const out = new Map<string, number>();
  for (const t of r.topics) for (const p of t.partitions) out.set(`${t.name}/${p.partitionIndex}`, p.errorCode);
  return out;
}

/** Asserts every partition of a commit got `expected`. */
export function assertAll(codes: Map<string, number>, expected: number, what: string): void {
  assert.ok(codes.size > 0, `${what}: the response names the partitions`);
  for (const [tp, code] of codes) assert.equal(code, expected, `${what}: ${tp} got error ${code}, expected ${expected}`);
}

/** OffsetFetch; `topics` null asks for all (v2+). Returns "topic/partition" → {offset, metadata, errorCode}. */
export async function fetchOffsets(
  c: TestKafkaClient,
  groupId: string,
  topics: Array<{ name: string; partitions: number[] }> | null,
  version = 5,
): Promise<{ errorCode: number; offsets: Map<string, { offset: number; metadata: string | null; errorCode: number }> }> {
  const r = await c.request(API.OffsetFetch, version, {
    groupId,
    topics: topics === null ? null : topics.map((t) => ({ name: t.name, partitionIndexes: t.partitions })),
    requireStable: false,
  });
  const offsets = new Map<string, { offset: number; metadata: string | null; errorCode: number }>();
  for (const t of r.topics) for (const p of t.partitions) offsets.set(`${t.name}/${p.partitionIndex}`, { offset: p.committedOffset, metadata: p.metadata, errorCode: p.errorCode });
  return { errorCode: r.errorCode ?? 0, offsets };
}

/** A dynamic member that joined, synced (as the only member, assigning itself `parts`) and is Stable. */
export async function soloMember(
  c: TestKafkaClient,
  groupId: string,
  parts: Record<string, number[]> = { t: [0] },
  extra: Partial<JoinOptions> = {},
): Promise<{ memberId: string; generationId: number }> {
  const j = await joinDynamic(c, { groupId, protocols: [{ name: 'range', metadata: subscription(Object.keys(parts)) }], ...extra });
  assert.equal(j.errorCode, 0, `join of ${groupId}`);
  assert.equal(j.leader, j.memberId, 'the only member leads');
  const s = await sync(c, { groupId, generationId: j.generationId, memberId: j.memberId, assignments: [{ memberId: j.memberId, assignment: assignment(parts) }] });
  assert.equal(s.errorCode, 0, `sync of ${groupId}`);
  return { memberId: j.memberId, generationId: j.generationId };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves after `ms` without keeping the process alive (for races against a hung call). */
export function timeout(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it succeeded. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}
