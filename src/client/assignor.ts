// Consumer-group partition assignment: Kafka's "consumer" protocol encodings and the two classic
// assignors. The broker treats all of this as opaque bytes; members agree on it among themselves, so
// the byte layouts and the assignment algorithms follow Kafka's (ConsumerProtocolSubscription /
// ConsumerProtocolAssignment, RangeAssignor, RoundRobinAssignor) to share a group with Java and
// librdkafka members that use the same assignor name.
//
//   Subscription (v0; v1+ append owned partitions, generation, rack — read past, never needed):
//     version int16 | topics [string] | user_data nullable bytes
//   Assignment (v0; later versions add nothing before user_data):
//     version int16 | assigned [topic string | partitions [int32]] | user_data nullable bytes
import { HoldfastError } from '../util/index.ts';

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface ConsumerSubscription {
  version: number;
  topics: string[];
  userData: Buffer | null;
}

export interface ConsumerAssignment {
  version: number;
  assigned: TopicPartitions[];
  userData: Buffer | null;
}

/** What the group leader knows about each member when it assigns. */
export interface MemberSubscription {
  memberId: string;
  groupInstanceId: string | null;
  topics: readonly string[];
}

export interface Assignor {
  /** The protocol name sent in JoinGroup; members of one group must share one. */
  readonly name: AssignorName;
  /** Returns an entry (possibly empty) for every member. `partitionCounts` omits unknown topics. */
  assign(members: readonly MemberSubscription[], partitionCounts: ReadonlyMap<string, number>): Map<string, TopicPartitions[]>;
}

export type AssignorName = 'range' | 'roundrobin';

/** Bounds on what a member's metadata may declare; a subscription is one small message. */
const MAX_TOPICS = 10_000;
const MAX_TOPIC_NAME_BYTES = 32_767;

function protocolError(what: string): HoldfastError {
  return new HoldfastError('INVALID_CONSUMER_PROTOCOL', `consumer protocol ${what}`);
}

class Cursor {
  pos = 0;
  readonly buf: Buffer;
  readonly what: string;
  constructor(buf: Buffer, what: string) {
    this.buf = buf;
    this.what = what;
  }
  need(bytes: number, field: string): void {
    if (bytes < 0 || this.buf.length - this.pos < bytes) throw protocolError(`${this.what}: ${field} needs ${bytes} bytes at ${this.pos}, ${this.buf.length - this.pos} left`);
  }
  int16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  string(field: string): string {
    const len = this.int16(field);
    if (len < 0) throw protocolError(`${this.what}: ${field} is null`);
    this.need(len, field);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  nullableBytes(field: string): Buffer | null {
    if (this.pos === this.buf.length) return null; // absent user data: older encoders stop here
    const len = this.int32(field);
    if (len === -1) return null;
    this.need(len, field);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return b;
  }
  /** An array length, bounded by the bytes left at `minElementBytes` per element. */
  arrayLength(field: string, minElementBytes: number, max: number): number {
    const n = this.int32(field);
    if (n < 0 || n > max || n * minElementBytes > this.buf.length - this.pos) {
      throw protocolError(`${this.what}: ${field} declares ${n} entries (limit ${max}) in ${this.buf.length - this.pos} bytes`);
    }
    return n;
  }
}

function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > MAX_TOPIC_NAME_BYTES) throw protocolError(`topic name of ${bytes.length} bytes exceeds ${MAX_TOPIC_NAME_BYTES}`);
  return Buffer.concat([int16(bytes.length), bytes]);
}

function nullableBytes(b: Buffer | null): Buffer[] {
  return b === null ? [int32(-1)] : [int32(b.length), b];
}

export function encodeSubscription(topics: readonly string[], userData: Buffer | null = null): Buffer {
  const parts: Buffer[] = [int16(0), int32(topics.length)];
  for (const t of topics) parts.push(str(t));
  parts.push(...nullableBytes(userData));
  return Buffer.concat(parts);
}

export function decodeSubscription(buf: Buffer): ConsumerSubscription {
  const c = new Cursor(buf, 'subscription');
  const version = c.int16('version');
  if (version < 0) throw protocolError(`subscription version ${version} is negative`);
  const n = c.arrayLength('topics', 2, MAX_TOPICS);
  const topics: string[] = [];
  for (let i = 0; i < n; i++) topics.push(c.string(`topic ${i}`));
  return { version, topics, userData: c.nullableBytes('user_data') };
}

export function encodeAssignment(assigned: readonly TopicPartitions[], userData: Buffer | null = null): Buffer {
  const parts: Buffer[] = [int16(0), int32(assigned.length)];
  for (const a of assigned) {
    parts.push(str(a.topic), int32(a.partitions.length));
    for (const p of a.partitions) parts.push(int32(p));
  }
  parts.push(...nullableBytes(userData));
  return Buffer.concat(parts);
}

/** An empty buffer is an empty assignment (the broker sends one to members it gave nothing). */
export function decodeAssignment(buf: Buffer): ConsumerAssignment {
  if (buf.length === 0) return { version: 0, assigned: [], userData: null };
  const c = new Cursor(buf, 'assignment');
  const version = c.int16('version');
  if (version < 0) throw protocolError(`assignment version ${version} is negative`);
  const n = c.arrayLength('assigned partitions', 6, MAX_TOPICS);
  const assigned: TopicPartitions[] = [];
  for (let i = 0; i < n; i++) {
    const topic = c.string(`topic ${i}`);
    const count = c.arrayLength(`partitions of ${topic}`, 4, Number.MAX_SAFE_INTEGER);
    const partitions: number[] = [];
    for (let j = 0; j < count; j++) {
      const p = c.int32(`partition ${j} of ${topic}`);
      if (p < 0) throw protocolError(`assignment: partition ${p} of ${topic} is negative`);
      partitions.push(p);
    }
    assigned.push({ topic, partitions });
  }
  return { version, assigned, userData: c.nullableBytes('user_data') };
}

/** Kafka's member order: static members (by instance id) first, then dynamic ones by member id. */
function compareMembers(a: MemberSubscription, b: MemberSubscription): number {
  if (a.groupInstanceId !== null && b.groupInstanceId !== null) return a.groupInstanceId < b.groupInstanceId ? -1 : a.groupInstanceId > b.groupInstanceId ? 1 : 0;
  if (a.groupInstanceId !== null) return -1;
  if (b.groupInstanceId !== null) return 1;
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;
}

function emptyAssignment(members: readonly MemberSubscription[]): Map<string, Map<string, number[]>> {
  return new Map(members.map((m) => [m.memberId, new Map<string, number[]>()]));
}

function toLists(byMember: Map<string, Map<string, number[]>>): Map<string, TopicPartitions[]> {
  const out = new Map<string, TopicPartitions[]>();
  for (const [memberId, topics] of byMember) {
    out.set(memberId, [...topics].filter(([, ps]) => ps.length > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([topic, partitions]) => ({ topic, partitions })));
  }
  return out;
}

function push(byMember: Map<string, Map<string, number[]>>, memberId: string, topic: string, partition: number): void {
  const topics = byMember.get(memberId)!;
  const list = topics.get(topic);
  if (list === undefined) topics.set(topic, [partition]);
  else list.push(partition);
}

function subscribedTopics(members: readonly MemberSubscription[], partitionCounts: ReadonlyMap<string, number>): string[] {
  const topics = new Set<string>();
  for (const m of members) for (const t of m.topics) if ((partitionCounts.get(t) ?? 0) > 0) topics.add(t);
  return [...topics].sort();
}

/** Per topic, consecutive ranges of partitions; the first `count % members` members get one extra. */
export const rangeAssignor: Assignor = {
  name: 'range',
  assign(members, partitionCounts) {
    const out = emptyAssignment(members);
    for (const topic of subscribedTopics(members, partitionCounts)) {
      const consumers = members.filter((m) => m.topics.includes(topic)).sort(compareMembers);
      const count = partitionCounts.get(topic)!;
      const each = Math.floor(count / consumers.length);
      const extra = count % consumers.length;
      consumers.forEach((m, i) => {
        const start = each * i + Math.min(i, extra);
        const length = each + (i < extra ? 1 : 0);
        for (let p = start; p < start + length; p++) push(out, m.memberId, topic, p);
      });
    }
    return toLists(out);
  },
};

/** All partitions in (topic, partition) order dealt round the members, skipping unsubscribed ones. */
export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  assign(members, partitionCounts) {
    const out = emptyAssignment(members);
    const sorted = [...members].sort(compareMembers);
    let next = 0;
    for (const topic of subscribedTopics(members, partitionCounts)) {
      const count = partitionCounts.get(topic)!;
      for (let p = 0; p < count; p++) {
        // Some member subscribes to `topic` (subscribedTopics), so this loop ends within one lap.
        while (!sorted[next % sorted.length].topics.includes(topic)) next++;
        push(out, sorted[next % sorted.length].memberId, topic, p);
        next++;
      }
    }
    return toLists(out);
  },
};

export const ASSIGNORS: Readonly<Record<AssignorName, Assignor>> = { range: rangeAssignor, roundrobin: roundRobinAssignor };
