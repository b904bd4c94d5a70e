// One member of a consumer group, talking to the group coordinator with the classic protocol
// (KAFKA-PROTOCOL.md §3): JoinGroup (with the KIP-394 MEMBER_ID_REQUIRED round trip), the leader's
// assignment, SyncGroup, Heartbeat, OffsetCommit/OffsetFetch and LeaveGroup. It knows nothing about
// fetching or handlers; the Consumer drives it and learns through `onRejoinNeeded` when the
// coordinator wants the member back in a rebalance.
import { ConfigError, HoldfastError, type Logger } from '../util/index.ts';
import {
  API_KEYS,
  ErrorCode,
  errorName,
  type HeartbeatResponse,
  type JoinGroupResponse,
  type LeaveGroupResponse,
  type OffsetCommitResponse,
  type OffsetFetchResponse,
  type SyncGroupResponse,
} from '../protocol/kafka/index.ts';
import { ASSIGNORS, decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription, type Assignor, type AssignorName, type MemberSubscription, type TopicPartitions } from './assignor.ts';
import type { ClientCluster } from './cluster.ts';
import { KafkaProtocolError, type KafkaConnection } from './connection.ts';
import { ConsumerError, ConsumerErrorCode } from './consumer-errors.ts';

export interface GroupMemberOptions {
  /** Connections to the coordinator (kept apart from fetches, which long-poll). */
  coordinatorCluster: ClientCluster;
  /** Used by the leader for partition counts. */
  metadataCluster: ClientCluster;
  groupId: string;
  topics: readonly string[];
  assignors: readonly AssignorName[];
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  retryBackoffMs: number;
  logger: Logger;
  /** Aborted when the consumer stops: retry loops give up. */
  signal: AbortSignal;
  /** The coordinator asked for a rejoin (heartbeat or commit answered with a generation error). */
  onRejoinNeeded: (reason: string) => void;
}

export interface Generation {
  generationId: number;
  memberId: string;
  leader: boolean;
  protocol: AssignorName;
  assigned: TopicPartitions[];
  /** Partition counts the leader assigned from (empty on followers): a change means reassign. */
  partitionCounts: Map<string, number>;
  /** Every member's subscribed topics (leader only): what the leader watches for changes. */
  groupMembers: MemberSubscription[];
}

export interface OffsetToCommit {
  topic: string;
  partition: number;
  offset: number;
}

/** Cap on the exponential backoff between retries of coordinator requests. */
const MAX_RETRY_BACKOFF_MS = 5000;

/** Sleeps `ms`, or less when `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function backoffMs(baseMs: number, attempt: number, maxMs = MAX_RETRY_BACKOFF_MS): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}

/** Errors after which the same request may succeed on a fresh (or re-found) coordinator. */
const COORDINATOR_RETRIABLE: ReadonlySet<number> = new Set([
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.NETWORK_EXCEPTION,
]);
/** Errors that end the current generation: the member must rejoin. */
const GENERATION_LOST: ReadonlySet<number> = new Set([ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.ILLEGAL_GENERATION, ErrorCode.UNKNOWN_MEMBER_ID]);

function isRetriable(err: unknown): boolean {
  if (err instanceof KafkaProtocolError) return COORDINATOR_RETRIABLE.has(err.kafkaErrorCode ?? -1);
  return err instanceof HoldfastError && err.retriable;
}

export class GroupMember {
  private readonly o: GroupMemberOptions;
  private readonly assignors: Assignor[];
  memberId = '';
  generationId = -1;

  constructor(options: GroupMemberOptions) {
    if (options.assignors.length === 0) throw new ConfigError('consumer option assignors must name at least one assignor');
    this.o = options;
    this.assignors = options.assignors.map((name) => ASSIGNORS[name]);
  }

  private closedError(): ConsumerError {
    return new ConsumerError(ConsumerErrorCode.CONSUMER_CLOSED, `consumer of group ${this.o.groupId} is closing`);
  }

  /** Runs `fn` against the coordinator, retrying coordinator and connection errors with backoff. */
  private async withCoordinator<T>(what: string, fn: (conn: KafkaConnection) => Promise<T>, deadlineMs = Infinity): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.o.signal.aborted && deadlineMs === Infinity) throw this.closedError();
      try {
        return await fn(await this.o.coordinatorCluster.coordinator(this.o.groupId));
      } catch (err) {
        if (!isRetriable(err)) throw err;
        const code = err instanceof HoldfastError ? err.kafkaErrorCode : undefined;
        if (code === undefined || code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE) this.o.coordinatorCluster.forgetCoordinator(this.o.groupId);
        const wait = backoffMs(this.o.retryBackoffMs, attempt);
        if (Date.now() + wait > deadlineMs) throw err;
        this.o.logger.debug('coordinator request failed; retrying', { group: this.o.groupId, what, attempt, err });
        await sleep(wait, deadlineMs === Infinity ? this.o.signal : undefined);
      }
    }
  }

  /** Joins (or rejoins) the group and returns this member's share of the new generation. */
  async join(): Promise<Generation> {
    for (let attempt = 0; ; attempt++) {
      if (this.o.signal.aborted) throw this.closedError();
      const joined = await this.withCoordinator('JoinGroup', (conn) => this.sendJoin(conn));
      const code = joined.errorCode;
      if (code === ErrorCode.MEMBER_ID_REQUIRED) {
        // KIP-394: come back with the id the coordinator made (at once the first time only).
        if (this.memberId !== '') await sleep(backoffMs(this.o.retryBackoffMs, attempt), this.o.signal);
        this.memberId = joined.memberId;
        continue;
      }
      if (code === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
      if (code === ErrorCode.UNKNOWN_MEMBER_ID || code === ErrorCode.REBALANCE_IN_PROGRESS || code === ErrorCode.ILLEGAL_GENERATION) {
        await sleep(backoffMs(this.o.retryBackoffMs, attempt), this.o.signal);
        continue;
      }
      if (code !== ErrorCode.NONE) throw new KafkaProtocolError(code, `JoinGroup ${this.o.groupId}`);
      this.memberId = joined.memberId;
      this.generationId = joined.generationId;
      try {
        const generation = await this.sync(joined);
        if (generation !== null) return generation;
      } catch (err) {
        // The leader's metadata lookup can fail like any request: join again rather than give up.
        if (!(err instanceof HoldfastError && err.retriable)) throw err;
        this.o.logger.warn('SyncGroup failed; rejoining', { group: this.o.groupId, err });
      }
      await sleep(backoffMs(this.o.retryBackoffMs, attempt), this.o.signal);
    }
  }

  private async sendJoin(conn: KafkaConnection): Promise<JoinGroupResponse> {
    const version = conn.version(API_KEYS.JoinGroup, this.o.groupInstanceId === null ? 1 : 5, 5);
    const metadata = encodeSubscription(this.o.topics);
    const res = await conn.request<JoinGroupResponse>(API_KEYS.JoinGroup, version, {
      groupId: this.o.groupId,
      sessionTimeoutMs: this.o.sessionTimeoutMs,
      rebalanceTimeoutMs: this.o.rebalanceTimeoutMs,
      memberId: this.memberId,
      groupInstanceId: this.o.groupInstanceId,
      protocolType: 'consumer',
      protocols: this.assignors.map((a) => ({ name: a.name, metadata })),
      reason: null,
    });
    if (COORDINATOR_RETRIABLE.has(res.errorCode)) throw new KafkaProtocolError(res.errorCode, `JoinGroup ${this.o.groupId}`);
    return res;
  }

  /** SyncGroup for the generation just joined; null when the generation ended first (rejoin). */
  private async sync(joined: JoinGroupResponse): Promise<Generation | null> {
    const protocol = this.assignors.find((a) => a.name === joined.protocolName);
    if (protocol === undefined) throw new KafkaProtocolError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, `JoinGroup ${this.o.groupId} chose assignor ${joined.protocolName}`);
    const leader = joined.leader === joined.memberId;
    const partitionCounts = new Map<string, number>();
    const assignments: Array<{ memberId: string; assignment: Buffer }> = [];
    const members = leader ? this.subscriptions(joined) : [];
    if (leader) {
      for (const [topic, count] of await this.partitionCounts(members)) partitionCounts.set(topic, count);
      for (const [memberId, assigned] of protocol.assign(members, partitionCounts)) assignments.push({ memberId, assignment: encodeAssignment(assigned) });
    }
    const res = await this.withCoordinator('SyncGroup', async (conn) => {
      const r = await conn.request<SyncGroupResponse>(API_KEYS.SyncGroup, conn.version(API_KEYS.SyncGroup, this.o.groupInstanceId === null ? 0 : 3, 3), {
        groupId: this.o.groupId,
        generationId: joined.generationId,
        memberId: this.memberId,
        groupInstanceId: this.o.groupInstanceId,
        protocolType: 'consumer',
        protocolName: protocol.name,
        assignments,
      });
      if (COORDINATOR_RETRIABLE.has(r.errorCode)) throw new KafkaProtocolError(r.errorCode, `SyncGroup ${this.o.groupId}`);
      return r;
    });
    if (res.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
    if (GENERATION_LOST.has(res.errorCode)) return null;
    if (res.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(res.errorCode, `SyncGroup ${this.o.groupId}`);
    const assigned = decodeAssignment(res.assignment).assigned;
    this.o.logger.info('joined group', { group: this.o.groupId, member: this.memberId, generation: joined.generationId, leader, assigned: assigned.map((a) => `${a.topic}:${a.partitions.join(',')}`).join(' ') });
    return { generationId: joined.generationId, memberId: this.memberId, leader, protocol: protocol.name, assigned, partitionCounts, groupMembers: members };
  }

  /** The members' subscriptions; a member whose metadata does not parse is given nothing. */
  private subscriptions(joined: JoinGroupResponse): MemberSubscription[] {
    return joined.members.map((m) => {
      try {
        return { memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, topics: decodeSubscription(m.metadata).topics };
      } catch (err) {
        this.o.logger.warn('member subscription does not parse; assigning it nothing', { group: this.o.groupId, member: m.memberId, err });
        return { memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, topics: [] };
      }
    });
  }

  /** Current partition counts of every subscribed topic; topics that do not exist are left out. */
  async partitionCounts(members: readonly MemberSubscription[]): Promise<Map<string, number>> {
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    const counts = new Map<string, number>();
    if (topics.length === 0) return counts;
    for (const t of topics) this.o.metadataCluster.invalidate(t);
    await this.o.metadataCluster.refreshMetadata(topics);
    for (const t of topics) {
      try {
        counts.set(t, (await this.o.metadataCluster.topic(t)).partitions.length);
      } catch (err) {
        if (!(err instanceof KafkaProtocolError && err.kafkaErrorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) throw err;
      }
    }
    return counts;
  }

  /**
   * One heartbeat; false when it could not be delivered (coordinator moved, connection lost, no
   * answer within `timeoutMs` — then the connection is closed so that the next one starts fresh).
   * Generation errors are reported through onRejoinNeeded; fatal ones (FENCED_INSTANCE_ID) throw.
   */
  async heartbeat(timeoutMs: number): Promise<boolean> {
    let res: HeartbeatResponse;
    let timer: NodeJS.Timeout | undefined;
    try {
      const conn = await this.o.coordinatorCluster.coordinator(this.o.groupId);
      const request = conn.request<HeartbeatResponse>(API_KEYS.Heartbeat, conn.version(API_KEYS.Heartbeat, this.o.groupInstanceId === null ? 0 : 3, 3), {
        groupId: this.o.groupId,
        generationId: this.generationId,
        memberId: this.memberId,
        groupInstanceId: this.o.groupInstanceId,
      });
      timer = setTimeout(() => conn.close(), timeoutMs);
      res = await request;
    } catch (err) {
      if (!isRetriable(err)) throw err;
      this.o.coordinatorCluster.forgetCoordinator(this.o.groupId);
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (res.errorCode === ErrorCode.NONE) return true;
    if (COORDINATOR_RETRIABLE.has(res.errorCode)) {
      this.o.coordinatorCluster.forgetCoordinator(this.o.groupId);
      return false;
    }
    if (this.checkGeneration(res.errorCode, 'Heartbeat')) return false;
    throw new KafkaProtocolError(res.errorCode, `Heartbeat ${this.o.groupId}`);
  }

  /** For generation errors: reset what must be reset and ask for a rejoin; returns normally. */
  private checkGeneration(errorCode: number, what: string): boolean {
    if (!GENERATION_LOST.has(errorCode)) return false;
    if (errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
    this.o.onRejoinNeeded(`${what}: ${errorName(errorCode)}`);
    return true;
  }

  /**
   * Commits offsets for the current generation. Throws COMMIT_FAILED when the generation is gone
   * (the partitions may already belong to another member) and KafkaProtocolError for other errors.
   */
  async commit(offsets: readonly OffsetToCommit[], deadlineMs = Infinity): Promise<void> {
    if (offsets.length === 0) return;
    const byTopic = new Map<string, Array<{ partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; commitTimestamp: number; committedMetadata: string }>>();
    for (const o of offsets) {
      const list = byTopic.get(o.topic) ?? [];
      list.push({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: '' });
      byTopic.set(o.topic, list);
    }
    const generationId = this.generationId;
    const memberId = this.memberId;
    const res = await this.withCoordinator(
      'OffsetCommit',
      async (conn) => {
        const r = await conn.request<OffsetCommitResponse>(API_KEYS.OffsetCommit, conn.version(API_KEYS.OffsetCommit, this.o.groupInstanceId === null ? 2 : 7, 7), {
          groupId: this.o.groupId,
          generationIdOrMemberEpoch: generationId,
          memberId,
          groupInstanceId: this.o.groupInstanceId,
          retentionTimeMs: -1,
          topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
        });
        const retriable = r.topics.flatMap((t) => t.partitions).find((p) => COORDINATOR_RETRIABLE.has(p.errorCode));
        if (retriable !== undefined) throw new KafkaProtocolError(retriable.errorCode, `OffsetCommit ${this.o.groupId}`);
        return r;
      },
      deadlineMs,
    );
    for (const t of res.topics) {
      for (const p of t.partitions) {
        if (p.errorCode === ErrorCode.NONE) continue;
        if (GENERATION_LOST.has(p.errorCode)) {
          if (generationId === this.generationId) this.checkGeneration(p.errorCode, 'OffsetCommit');
          throw new ConsumerError(ConsumerErrorCode.COMMIT_FAILED, `offsets of group ${this.o.groupId} were not committed: generation ${generationId} ended (${errorName(p.errorCode)})`, { kafkaErrorCode: p.errorCode });
        }
        throw new KafkaProtocolError(p.errorCode, `OffsetCommit ${this.o.groupId} ${t.name}-${p.partitionIndex}`);
      }
    }
  }

  /** Committed offsets (−1 when none) of `partitions`, keyed `topic\0partition`. */
  async committed(partitions: readonly TopicPartitions[]): Promise<Map<string, number>> {
    const res = await this.withCoordinator('OffsetFetch', async (conn) => {
      const r = await conn.request<OffsetFetchResponse>(API_KEYS.OffsetFetch, conn.version(API_KEYS.OffsetFetch, 1, 5), {
        groupId: this.o.groupId,
        topics: partitions.map((tp) => ({ name: tp.topic, partitionIndexes: tp.partitions })),
        requireStable: false,
      });
      const code = r.errorCode ?? ErrorCode.NONE;
      if (COORDINATOR_RETRIABLE.has(code)) throw new KafkaProtocolError(code, `OffsetFetch ${this.o.groupId}`);
      if (code !== ErrorCode.NONE) throw new KafkaProtocolError(code, `OffsetFetch ${this.o.groupId}`);
      const retriable = (r.topics ?? []).flatMap((t) => t.partitions).find((p) => COORDINATOR_RETRIABLE.has(p.errorCode));
      if (retriable !== undefined) throw new KafkaProtocolError(retriable.errorCode, `OffsetFetch ${this.o.groupId}`);
      return r;
    });
    const out = new Map<string, number>();
    for (const t of res.topics ?? []) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(p.errorCode, `OffsetFetch ${this.o.groupId} ${t.name}-${p.partitionIndex}`);
        out.set(`${t.name}\u0000${p.partitionIndex}`, p.committedOffset);
      }
    }
    return out;
  }

  /** Best effort: the coordinator rebalances the rest of the group now instead of at session expiry. */
  async leave(deadlineMs: number): Promise<void> {
    if (this.memberId === '') return;
    const memberId = this.memberId;
    try {
      const res = await this.withCoordinator(
        'LeaveGroup',
        (conn) =>
          conn.request<LeaveGroupResponse>(API_KEYS.LeaveGroup, conn.version(API_KEYS.LeaveGroup, 0, 3), {
            groupId: this.o.groupId,
            memberId,
            members: [{ memberId, groupInstanceId: this.o.groupInstanceId, reason: 'the consumer is closing' }],
          }),
        deadlineMs,
      );
      const code = res.errorCode !== ErrorCode.NONE ? res.errorCode : (res.members?.[0]?.errorCode ?? ErrorCode.NONE);
      if (code !== ErrorCode.NONE && code !== ErrorCode.UNKNOWN_MEMBER_ID) this.o.logger.warn('LeaveGroup failed', { group: this.o.groupId, member: memberId, error: code });
    } catch (err) {
      this.o.logger.warn('LeaveGroup failed', { group: this.o.groupId, member: memberId, err });
    }
    this.memberId = '';
    this.generationId = -1;
  }
}
