// Consumer: a member of a consumer group that fetches its partitions and hands each message to one
// handler — in order within a partition, partitions in parallel up to `concurrency`.
//
// Delivery (RELIABILITY.md §3):
//   at-least-once (default)  a partition's committed offset moves only past messages whose handler
//                            resolved; commits happen every autoCommitIntervalMs, when half of
//                            maxUncommittedMessages are waiting (beyond those the commit in flight
//                            covers), on revoke and on close. No handler starts while
//                            maxUncommittedMessages are handled-or-running and uncommitted, so a
//                            crash redelivers at most that many messages.
//   at-most-once             before a partition's next run of up to maxMessagesPerTurn messages is
//                            handled, the offset past its last message is committed (and awaited),
//                            so nothing is ever handled twice; a crash loses at most
//                            concurrency × maxMessagesPerTurn messages.
//   manual                   nothing is committed unless the application calls commit().
//
// A handler that throws is retried (same message, exponential backoff); when retries run out the
// consumer stops — no more handlers start, running ones finish, what was handled is committed, the
// member leaves the group — and run() rejects with a HandlerError. Errors are never swallowed.
//
// Threads of control: the lifecycle loop (join → assign → run → revoke, until stopped), one
// heartbeat loop per generation, one fetch loop (per leader, a Fetch in flight on each of three
// fetch connections: two may long-poll, one is for partitions with records to fetch), and the
// dispatcher's turns (one per busy partition). Prefetched messages are bounded by maxPrefetchBytes.
import { EventEmitter } from 'node:events';
import { ConfigError, HoldfastError, ReceiveSlabs, silentLogger, type Logger } from '../util/index.ts';
import { API_KEYS, ErrorCode, kafkaErrors, type FetchResponse, type ListOffsetsResponse } from '../protocol/kafka/index.ts';
import { RecordError } from '../record/index.ts';
import type { AssignorName } from './assignor.ts';
import { ClientCluster } from './cluster.ts';
import { KafkaProtocolError } from './connection.ts';
import { ConsumerError, ConsumerErrorCode, HandlerError } from './consumer-errors.ts';
import { FetchedMessages, scanFetch, type ConsumerMessage, type FetchedPartition } from './consumer-fetch.ts';
import { GroupMember, backoffMs, sleep, type Generation } from './consumer-group.ts';

export type DeliveryMode = 'at-least-once' | 'at-most-once' | 'manual';

export interface RetryPolicy {
  /** Retries after the first failed attempt; 0 surfaces the first failure. @default 5 */
  retries?: number;
  /** Wait before the first retry; each further retry waits twice as long. @default 100 */
  initialMs?: number;
  /** Cap on the wait between retries. @default 10000 */
  maxMs?: number;
}

export interface ConsumerOptions {
  /** Bootstrap brokers, 'host:port'. */
  brokers: string[];
  /** The consumer group to join. */
  groupId: string;
  /** Topics to subscribe to. Topics that do not exist yet are assigned once they appear. */
  topics: string[];
  /** When offsets are committed relative to handling (see the module comment). @default 'at-least-once' */
  delivery?: DeliveryMode;
  /** Where to start a partition that has no committed offset, or whose offset is out of range. @default 'latest' */
  autoOffsetReset?: 'earliest' | 'latest';
  /** Assignors offered to the group, in order of preference (Kafka's names and algorithms). @default ['range'] */
  assignors?: AssignorName[];
  /** Partitions whose handlers may run at the same time (each partition runs one message at a time). @default 1 */
  concurrency?: number;
  /** Retry policy for a handler that throws. @default { retries: 5, initialMs: 100, maxMs: 10000 } */
  retry?: RetryPolicy;
  /** The coordinator drops the member after this long without a heartbeat. @default 30000 */
  sessionTimeoutMs?: number;
  /** How long a rebalance may wait for members to rejoin; also bounds waiting for handlers on revoke and close. @default 60000 */
  rebalanceTimeoutMs?: number;
  /** Time between heartbeats; must be below sessionTimeoutMs. @default 3000 */
  heartbeatIntervalMs?: number;
  /** at-least-once and at-most-once: commit pending offsets at least this often. @default 1000 */
  autoCommitIntervalMs?: number;
  /** at-least-once: bound on handled-or-running messages not yet committed (the most a crash redelivers). @default 1000 */
  maxUncommittedMessages?: number;
  /** Messages of one partition handled per turn before the next partition gets a slot; at-most-once commits one turn ahead. @default 100 */
  maxMessagesPerTurn?: number;
  /** Long-poll: the broker answers a fetch once data arrives or after this long (at least 10). @default 500 */
  maxWaitMs?: number;
  /**
   * Fetch min.bytes for polls at the end of the log: the broker answers once this many bytes have
   * arrived or maxWaitMs passes, so fewer, larger answers at the cost of up to maxWaitMs of
   * latency. A fetch that includes a partition with records to read asks for 1 byte. @default 1
   */
  minBytes?: number;
  /** Bound on the bytes of fetched record batches not yet handled, across all partitions (plus at most one batch per fetch, KIP-74). @default 16777216 */
  maxPrefetchBytes?: number;
  /** A partition is fetched only while less than this is buffered for it; also the per-partition fetch size. @default 1048576 */
  maxPartitionFetchBytes?: number;
  /** Static membership (KIP-345): a restarted member with the same id takes its place without a rebalance. @default null */
  groupInstanceId?: string | null;
  /** Base of the exponential backoff after failed requests (fetch, metadata, coordinator). @default 100 */
  retryBackoffMs?: number;
  /** Refresh of partition counts by the group leader; a change triggers a rebalance. @default 300000 */
  metadataMaxAgeMs?: number;
  /** @default 'holdfast-consumer' */
  clientId?: string;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** Time a request may take; JoinGroup gets rebalanceTimeoutMs + 5000 at least. @default 30000 */
  requestTimeoutMs?: number;
  /** @default silentLogger */
  logger?: Logger;
}

export type MessageHandler = (message: ConsumerMessage) => Promise<void> | void;

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface CommittedOffset extends TopicPartition {
  offset: number;
}

export interface RetryEvent extends TopicPartition {
  offset: number;
  /** The attempt that failed (1 = the first call). */
  attempt: number;
  /** Wait before the next attempt. */
  delayMs: number;
  error: unknown;
}

/** Events; listeners run synchronously and must not throw (a throwing listener is logged). */
export interface ConsumerEvents {
  /** A generation gave this member these partitions (after their positions are known). */
  assign: [partitions: TopicPartition[]];
  /** Before rejoining or closing: these partitions are no longer handled here. */
  revoke: [partitions: TopicPartition[]];
  /** Offsets the coordinator accepted. */
  commit: [offsets: CommittedOffset[]];
  /** A handler failed and will be called again for the same message. */
  retry: [event: RetryEvent];
}

interface Resolved {
  brokers: string[];
  groupId: string;
  topics: string[];
  delivery: DeliveryMode;
  autoOffsetReset: 'earliest' | 'latest';
  assignors: AssignorName[];
  concurrency: number;
  retries: number;
  retryInitialMs: number;
  retryMaxMs: number;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  autoCommitIntervalMs: number;
  maxUncommittedMessages: number;
  maxMessagesPerTurn: number;
  maxWaitMs: number;
  minBytes: number;
  maxPrefetchBytes: number;
  maxPartitionFetchBytes: number;
  groupInstanceId: string | null;
  retryBackoffMs: number;
  metadataMaxAgeMs: number;
  clientId: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  logger: Logger;
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max = 2 ** 31 - 1): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new ConfigError(`consumer option ${name} = ${v} must be an integer in [${min}, ${max}]`);
  return v;
}

function resolveOptions(o: ConsumerOptions): Resolved {
  if (!Array.isArray(o.brokers) || o.brokers.length === 0) throw new ConfigError('consumer option brokers must list at least one host:port');
  if (typeof o.groupId !== 'string' || o.groupId.length === 0) throw new ConfigError('consumer option groupId must be a non-empty string');
  if (!Array.isArray(o.topics) || o.topics.length === 0 || o.topics.some((t) => typeof t !== 'string' || t.length === 0)) throw new ConfigError('consumer option topics must list at least one topic name');
  const delivery = o.delivery ?? 'at-least-once';
  if (delivery !== 'at-least-once' && delivery !== 'at-most-once' && delivery !== 'manual') throw new ConfigError(`consumer option delivery = ${String(delivery)} must be at-least-once, at-most-once or manual`);
  const autoOffsetReset = o.autoOffsetReset ?? 'latest';
  if (autoOffsetReset !== 'earliest' && autoOffsetReset !== 'latest') throw new ConfigError(`consumer option autoOffsetReset = ${String(autoOffsetReset)} must be earliest or latest`);
  const assignors = o.assignors ?? ['range'];
  if (assignors.length === 0 || assignors.some((a) => a !== 'range' && a !== 'roundrobin')) throw new ConfigError(`consumer option assignors = ${JSON.stringify(assignors)} must name range and/or roundrobin`);
  const sessionTimeoutMs = intOption('sessionTimeoutMs', o.sessionTimeoutMs, 30000, 1);
  const heartbeatIntervalMs = intOption('heartbeatIntervalMs', o.heartbeatIntervalMs, 3000, 1);
  if (heartbeatIntervalMs >= sessionTimeoutMs) throw new ConfigError(`consumer option heartbeatIntervalMs = ${heartbeatIntervalMs} must be below sessionTimeoutMs = ${sessionTimeoutMs}`);
  const requestTimeoutMs = intOption('requestTimeoutMs', o.requestTimeoutMs, 30000, 1);
  const maxWaitMs = intOption('maxWaitMs', o.maxWaitMs, 500, 10);
  if (maxWaitMs >= requestTimeoutMs) throw new ConfigError(`consumer option maxWaitMs = ${maxWaitMs} must be below requestTimeoutMs = ${requestTimeoutMs}`);
  const retryInitialMs = intOption('retry.initialMs', o.retry?.initialMs, 100, 0);
  return {
    brokers: [...o.brokers],
    groupId: o.groupId,
    topics: [...new Set(o.topics)],
    delivery,
    autoOffsetReset,
    assignors: [...new Set(assignors)],
    concurrency: intOption('concurrency', o.concurrency, 1, 1, 10_000),
    retries: intOption('retry.retries', o.retry?.retries, 5, 0, 1000),
    retryInitialMs,
    retryMaxMs: intOption('retry.maxMs', o.retry?.maxMs, 10000, retryInitialMs),
    sessionTimeoutMs,
    rebalanceTimeoutMs: intOption('rebalanceTimeoutMs', o.rebalanceTimeoutMs, 60000, 1),
    heartbeatIntervalMs,
    autoCommitIntervalMs: intOption('autoCommitIntervalMs', o.autoCommitIntervalMs, 1000, 1),
    maxUncommittedMessages: intOption('maxUncommittedMessages', o.maxUncommittedMessages, 1000, 1, 10_000_000),
    maxMessagesPerTurn: intOption('maxMessagesPerTurn', o.maxMessagesPerTurn, 100, 1, 1_000_000),
    maxWaitMs,
    minBytes: intOption('minBytes', o.minBytes, 1, 1),
    maxPrefetchBytes: intOption('maxPrefetchBytes', o.maxPrefetchBytes, 16 * 1024 * 1024, 1024),
    maxPartitionFetchBytes: intOption('maxPartitionFetchBytes', o.maxPartitionFetchBytes, 1024 * 1024, 1024),
    groupInstanceId: o.groupInstanceId ?? null,
    retryBackoffMs: intOption('retryBackoffMs', o.retryBackoffMs, 100, 1),
    metadataMaxAgeMs: intOption('metadataMaxAgeMs', o.metadataMaxAgeMs, 300000, 1),
    clientId: o.clientId ?? 'holdfast-consumer',
    connectTimeoutMs: intOption('connectTimeoutMs', o.connectTimeoutMs, 10000, 1),
    requestTimeoutMs,
    logger: o.logger ?? silentLogger,
  };
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Bound on one fetched batch's decompressed records. */
const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

/** Fetch errors after which the partition is fetched again once metadata is refreshed. */
const FETCH_RETRIABLE: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.OFFSET_NOT_AVAILABLE,
  ErrorCode.REQUEST_TIMED_OUT,
]);

/** A wake-up flag: notify() resolves the current wait, or the next one if nobody is waiting. */
class Wakeup {
  private notified = false;
  private waiter: (() => void) | null = null;
  notify(): void {
    this.notified = true;
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  async wait(timeoutMs: number): Promise<void> {
    if (!this.notified) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.notified = false;
  }
}

/**
 * The fetch slot (connection per broker) a fetch of caught-up partitions alone never takes: it
 * would long-poll there, and a partition with records to fetch would wait behind it.
 */
const BACKLOG_SLOT = 2;

/** A turn was cut short by a seek, revoke or stop: not a handler failure. */
class TurnAborted extends Error {}

/** Everything the consumer knows about one assigned partition in the current generation. */
class PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  /** Next offset to fetch; -1 while unknown (being reset). */
  fetchOffset = -1;
  /** The offset this consumer wants committed (the next message to handle); -1 when none. */
  commitTarget = -1;
  /** The offset the coordinator last accepted from this member (or the one it had). */
  committedOffset = -1;
  /** at-least-once: messages handled but not covered by an accepted commit. */
  uncommitted = 0;
  /** Bumped by seek: fetch results and turns of an older epoch are dropped. */
  epoch = 0;
  revoked = false;
  busy = false;
  queued = false;
  fetching = false;
  /** No fetch before this time (after a fetch error). */
  retryAtMs = 0;
  fetchErrors = 0;
  /** Per-partition fetch size; doubled when a single batch did not fit. */
  fetchBytes: number;
  /** Where the readable log ended at the last Fetch answer (its last stable offset); -1 before one. */
  logEnd = -1;
  /** Aborts retry backoff of the message being handled (seek, revoke, stop). */
  abort = new AbortController();
  turn: Promise<void> | null = null;
  private readonly buffer: FetchedMessages;

  constructor(topic: string, partition: number, fetchBytes: number, pool: ReceiveSlabs) {
    this.topic = topic;
    this.partition = partition;
    this.key = tpKey(topic, partition);
    this.fetchBytes = fetchBytes;
    this.buffer = new FetchedMessages(topic, partition, MAX_DECOMPRESSED_BYTES, pool);
  }

  get buffered(): number {
    return this.buffer.count;
  }

  /** Bytes of the fetched batches with messages not yet taken. */
  get bufferBytes(): number {
    return this.buffer.bytes;
  }

  /** The message `index` places ahead; batches are decoded as they are reached (see FetchedMessages). */
  peek(index: number): ConsumerMessage {
    try {
      return this.buffer.peek(index);
    } catch (err) {
      throw this.decodeFailure(err);
    }
  }

  push(fetched: FetchedPartition): void {
    this.buffer.add(fetched);
  }

  /** Takes the next message; bufferBytes drops by its share of its batch's bytes. */
  shift(): ConsumerMessage {
    try {
      return this.buffer.shift();
    } catch (err) {
      throw this.decodeFailure(err);
    }
  }

  /** Drops everything buffered; returns the bytes released. */
  clear(): number {
    return this.buffer.clear();
  }

  private decodeFailure(err: unknown): unknown {
    return err instanceof RecordError ? corruptFetch(this.topic, this.partition, `the batch at offset ${this.buffer.nextBatchOffset()}`, err) : err;
  }
}

/** Fetched data that fails to decode stops the consumer: never skipped, never delivered half-read. */
function corruptFetch(topic: string, partition: number, where: string, err: RecordError): ConsumerError {
  return new ConsumerError(ConsumerErrorCode.CORRUPT_MESSAGE, `fetched data of ${topic}-${partition} is corrupt (${where}): ${err.message}`, { cause: err, kafkaErrorCode: ErrorCode.CORRUPT_MESSAGE });
}

export class Consumer extends EventEmitter<ConsumerEvents> {
  private readonly o: Resolved;
  private readonly log: Logger;
  private readonly dataCluster: ClientCluster;
  /**
   * A second set of connections for fetches: a broker answers a connection's requests in order, so
   * a long-poll Fetch parked for caught-up partitions would hold back a Fetch for partitions whose
   * buffers have just drained. Each leader gets one Fetch in flight per slot, for disjoint
   * partitions.
   */
  private readonly fetchClusters: ClientCluster[];
  private readonly groupCluster: ClientCluster;
  private readonly member: GroupMember;
  private readonly stopController = new AbortController();
  private state: 'idle' | 'running' | 'closed' = 'idle';
  private handler: MessageHandler | null = null;
  private lifecycle: Promise<void> | null = null;
  /** Resolves when the lifecycle has ended (close() waits on it without handling run()'s rejection). */
  private finished: Promise<void> = Promise.resolve();
  private markFinished: () => void = () => undefined;
  private fatal: Error | null = null;

  private generation: Generation | null = null;
  private partitions = new Map<string, PartitionState>();
  private rejoinWanted: (() => void) | null = null;
  private rejoinRequested = false;

  private readonly pausedTopics = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  private readonly pendingSeeks = new Map<string, number>();

  private readonly readyQueue: PartitionState[] = [];
  private activeTurns = 0;
  /** Turns of revoked partitions still running past the revoke bound: a new owner waits for them. */
  private readonly lingering = new Map<string, Promise<void>>();
  private handlersInFlight = 0;
  private uncommittedTotal = 0;
  /** Of uncommittedTotal, the messages the commit in flight covers (its snapshot): not waiting for a commit. */
  private committing = 0;
  private gateWaiters: Array<() => void> = [];

  private commitChain: Promise<void> = Promise.resolve();
  private commitQueued: Promise<void> | null = null;
  private autoCommitTimer: NodeJS.Timeout | null = null;

  private readonly fetchWake = new Wakeup();
  /** Fetches in flight by `${leader}/${slot}`. */
  private readonly fetchesInFlight = new Map<string, Promise<void>>();
  private bufferedBytes = 0;
  private reservedBytes = 0;
  /**
   * Memory Fetch responses are read into, reused once their batches are decoded (into copies). A
   * response in fresh memory from the allocator costs a page fault per 4 KiB as it is read: with
   * 1 MB responses that was up to a fifth of a W1 consumer's CPU in the runs where the C
   * allocator handed back unmapped memory each time (docs/performance.md).
   */
  private readonly receivePool: ReceiveSlabs;

  constructor(options: ConsumerOptions) {
    super();
    this.o = resolveOptions(options);
    this.log = this.o.logger.child({ group: this.o.groupId });
    const cluster = { brokers: this.o.brokers, clientId: this.o.clientId, connectTimeoutMs: this.o.connectTimeoutMs };
    this.dataCluster = new ClientCluster({ ...cluster, requestTimeoutMs: this.o.requestTimeoutMs });
    // Two poll slots and the backlog slot (BACKLOG_SLOT), a connection per broker each.
    this.fetchClusters = [this.dataCluster, new ClientCluster({ ...cluster, requestTimeoutMs: this.o.requestTimeoutMs }), new ClientCluster({ ...cluster, requestTimeoutMs: this.o.requestTimeoutMs })];
    // Responses fit the prefetch budget (but for one batch larger than a fetch size): larger ones,
    // and free memory past the budget, are left to the garbage collector.
    this.receivePool = new ReceiveSlabs({ slabBytes: 1024 * 1024, largeStepBytes: 256 * 1024, maxFrameBytes: this.o.maxPrefetchBytes + this.o.maxPartitionFetchBytes, maxFreeBytes: this.o.maxPrefetchBytes });
    // JoinGroup waits at the coordinator for the whole rebalance; heartbeats time out on their own.
    this.groupCluster = new ClientCluster({ ...cluster, requestTimeoutMs: Math.max(this.o.requestTimeoutMs, this.o.rebalanceTimeoutMs + 5000) });
    this.member = new GroupMember({
      coordinatorCluster: this.groupCluster,
      metadataCluster: this.dataCluster,
      groupId: this.o.groupId,
      topics: this.o.topics,
      assignors: this.o.assignors,
      groupInstanceId: this.o.groupInstanceId,
      sessionTimeoutMs: this.o.sessionTimeoutMs,
      rebalanceTimeoutMs: this.o.rebalanceTimeoutMs,
      retryBackoffMs: this.o.retryBackoffMs,
      logger: this.log,
      signal: this.stopController.signal,
      onRejoinNeeded: (reason) => this.requestRejoin(reason),
    });
  }

  // ---- public API ------------------------------------------------------------------------------

  /**
   * Joins the group and hands every message of the assigned partitions to `handler`. Resolves
   * when close() has finished; rejects with HandlerError when a handler exhausted its retries, or
   * with the error that stopped the consumer (the consumer is closed by then either way).
   */
  run(handler: MessageHandler): Promise<void> {
    if (this.state === 'closed' || this.stopController.signal.aborted) return Promise.reject(new ConsumerError(ConsumerErrorCode.CONSUMER_CLOSED, `consumer of group ${this.o.groupId} is closed`));
    if (this.state === 'running') return Promise.reject(new ConsumerError(ConsumerErrorCode.ALREADY_RUNNING, `consumer of group ${this.o.groupId} is already running`));
    this.state = 'running';
    this.handler = handler;
    this.finished = new Promise((resolve) => (this.markFinished = resolve));
    this.lifecycle = this.runLifecycle();
    return this.lifecycle;
  }

  /** Commits what has been handled so far (and positions set by seek). */
  async commit(): Promise<void> {
    if (this.state === 'closed') throw new ConsumerError(ConsumerErrorCode.CONSUMER_CLOSED, `consumer of group ${this.o.groupId} is closed`);
    await this.commitNow();
  }

  /**
   * The next message of `topic`-`partition` handled here will be the one at `offset`; buffered
   * messages are dropped and a message in retry backoff is abandoned. The position counts as
   * handled and is committed with the next commit. For a partition not assigned now, the seek is
   * applied when it is next assigned to this consumer (instead of its committed offset).
   */
  seek(topic: string, partition: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ConfigError(`seek offset ${offset} for ${topic}-${partition} must be a non-negative integer`);
    if (this.state === 'closed') throw new ConsumerError(ConsumerErrorCode.CONSUMER_CLOSED, `consumer of group ${this.o.groupId} is closed`);
    const ps = this.partitions.get(tpKey(topic, partition));
    if (ps === undefined) {
      this.pendingSeeks.set(tpKey(topic, partition), offset);
      return;
    }
    this.applySeek(ps, offset);
  }

  /**
   * Seeks to the first message whose timestamp is at least `timestampMs` (ListOffsets), or to the
   * end of the partition when there is none. Returns the offset sought to.
   */
  async seekToTimestamp(topic: string, partition: number, timestampMs: number): Promise<number> {
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new ConfigError(`seekToTimestamp timestamp ${timestampMs} must be a non-negative integer (ms since the epoch)`);
    const tp = [{ topic, partition }];
    let offset = (await this.listOffsets(tp, timestampMs)).get(tpKey(topic, partition)) ?? -1;
    if (offset < 0) offset = (await this.listOffsets(tp, -1)).get(tpKey(topic, partition)) ?? -1;
    if (offset < 0) throw new KafkaProtocolError(ErrorCode.OFFSET_NOT_AVAILABLE, `ListOffsets ${topic}-${partition}`);
    this.seek(topic, partition, offset);
    return offset;
  }

  /**
   * Stops fetching and handling `partitions` of `topic` (all of its partitions, including ones
   * assigned later, when omitted). A handler already running finishes; buffered messages are kept.
   * Pauses survive rebalances.
   */
  pause(topic: string, partitions?: number[]): void {
    if (partitions === undefined) this.pausedTopics.add(topic);
    else for (const p of partitions) this.pausedPartitions.add(tpKey(topic, p));
  }

  /**
   * Undoes pause(). Resuming some partitions of a topic paused as a whole keeps its other
   * currently assigned partitions paused.
   */
  resume(topic: string, partitions?: number[]): void {
    if (partitions === undefined) {
      this.pausedTopics.delete(topic);
      for (const key of [...this.pausedPartitions]) if (key.startsWith(`${topic}\u0000`)) this.pausedPartitions.delete(key);
    } else {
      if (this.pausedTopics.delete(topic)) {
        for (const ps of this.partitions.values()) if (ps.topic === topic && !partitions.includes(ps.partition)) this.pausedPartitions.add(ps.key);
      }
      for (const p of partitions) this.pausedPartitions.delete(tpKey(topic, p));
    }
    for (const ps of this.partitions.values()) this.enqueue(ps);
    this.schedule();
    this.fetchWake.notify();
  }

  /** Assigned partitions that are paused now. */
  paused(): TopicPartition[] {
    return [...this.partitions.values()].filter((ps) => this.isPaused(ps)).map((ps) => ({ topic: ps.topic, partition: ps.partition }));
  }

  /** Partitions assigned to this member in the current generation. */
  assignment(): TopicPartition[] {
    return [...this.partitions.values()].map((ps) => ({ topic: ps.topic, partition: ps.partition }));
  }

  /** This member's id in the group ('' when not a member). */
  get memberId(): string {
    return this.member.memberId;
  }

  /**
   * Stops fetching, waits for running handlers (at most rebalanceTimeoutMs), commits what was
   * handled (unless delivery is manual), leaves the group and closes the connections. Fetches in
   * flight, long polls included, are abandoned rather than waited for. Never
   * rejects; a failure that stopped the consumer is run()'s rejection. Do not await it from inside
   * a handler (it waits for that handler).
   */
  async close(): Promise<void> {
    if (this.state === 'idle') {
      this.state = 'closed';
      this.stopController.abort();
      await Promise.all([...this.fetchClusters.map((c) => c.close()), this.groupCluster.close()]);
      return;
    }
    this.stop();
    await this.finished;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private async runLifecycle(): Promise<void> {
    const fetching = this.fetchLoop().catch((err) => this.fail(err));
    try {
      while (!this.stopController.signal.aborted) {
        const generation = await this.joinUnlessStopped();
        if (generation === null) break;
        // Heartbeats go on while revoking (handlers may take a while), and end with the generation.
        const ended = new AbortController();
        const heartbeats = this.heartbeatLoop(generation, ended.signal);
        try {
          await this.assign(generation);
          await this.untilRejoinOrStop();
        } finally {
          await this.revoke();
          this.generation = null;
          ended.abort();
          await heartbeats;
        }
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.stop();
      await fetching;
      await this.member.leave(Date.now() + Math.min(this.o.sessionTimeoutMs, this.o.requestTimeoutMs));
      await Promise.all([...this.fetchClusters.map((c) => c.close()), this.groupCluster.close()]);
      this.state = 'closed';
      this.log.info('consumer closed', { error: this.fatal?.message });
      this.markFinished();
    }
    if (this.fatal !== null) throw this.fatal;
  }

  private async joinUnlessStopped(): Promise<Generation | null> {
    this.rejoinRequested = false;
    const joining = this.member.join();
    let onStop = (): void => undefined;
    const stopped = new Promise<null>((resolve) => {
      onStop = () => resolve(null);
      if (this.stopController.signal.aborted) resolve(null);
      else this.stopController.signal.addEventListener('abort', onStop, { once: true });
    });
    const result = await Promise.race([joining, stopped]).finally(() => this.stopController.signal.removeEventListener('abort', onStop));
    if (result === null) {
      // LeaveGroup (sent while closing) ends a JoinGroup parked at the coordinator.
      joining.catch(() => undefined);
      return null;
    }
    this.generation = result;
    return result;
  }

  private untilRejoinOrStop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopController.signal.aborted || this.rejoinRequested) return resolve();
      this.rejoinWanted = resolve;
    });
  }

  private requestRejoin(reason: string): void {
    if (this.rejoinRequested) return;
    this.rejoinRequested = true;
    this.log.info('rejoining the group', { reason });
    const wake = this.rejoinWanted;
    this.rejoinWanted = null;
    wake?.();
  }

  private stop(): void {
    if (!this.stopController.signal.aborted) this.stopController.abort();
    const wake = this.rejoinWanted;
    this.rejoinWanted = null;
    wake?.();
    this.fetchWake.notify();
    this.releaseGate();
  }

  /** Records the first fatal error and stops the consumer; run() rejects with it. */
  private fail(err: unknown): void {
    if (err instanceof ConsumerError && err.code === ConsumerErrorCode.CONSUMER_CLOSED && this.stopController.signal.aborted) return;
    if (this.fatal === null) {
      this.fatal = err instanceof Error ? err : new Error(String(err));
      this.log.error('consumer stopping on error', { err: this.fatal });
    }
    this.stop();
  }

  private emitSafely<K extends keyof ConsumerEvents>(event: K, ...args: ConsumerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ConsumerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error('consumer event listener threw', { event, err });
    }
  }

  private async heartbeatLoop(generation: Generation, ended: AbortSignal): Promise<void> {
    let lastOkMs = Date.now();
    let lastMetadataMs = Date.now();
    for (;;) {
      await sleep(this.o.heartbeatIntervalMs, ended);
      if (ended.aborted) return;
      try {
        if (await this.member.heartbeat(this.o.sessionTimeoutMs)) lastOkMs = Date.now();
        else if (Date.now() - lastOkMs > this.o.sessionTimeoutMs) this.requestRejoin(`no heartbeat answered in ${this.o.sessionTimeoutMs} ms`);
        if (generation.leader && !this.rejoinRequested && Date.now() - lastMetadataMs >= this.o.metadataMaxAgeMs) {
          lastMetadataMs = Date.now();
          await this.checkPartitionCounts(generation);
        }
      } catch (err) {
        this.fail(err);
        return;
      }
    }
  }

  /** The leader reassigns when a subscribed topic appeared or its partition count changed. */
  private async checkPartitionCounts(generation: Generation): Promise<void> {
    let counts: Map<string, number>;
    try {
      counts = await this.member.partitionCounts(generation.groupMembers);
    } catch (err) {
      this.log.warn('metadata refresh failed', { err });
      return;
    }
    const before = generation.partitionCounts;
    const changed = counts.size !== before.size || [...counts].some(([t, n]) => before.get(t) !== n);
    if (changed) this.requestRejoin('subscribed topics changed');
  }

  // ---- assignment and revocation ---------------------------------------------------------------

  private async assign(generation: Generation): Promise<void> {
    const states: PartitionState[] = [];
    for (const tp of generation.assigned) for (const p of tp.partitions) states.push(new PartitionState(tp.topic, p, this.o.maxPartitionFetchBytes, this.receivePool));
    const committed = states.length === 0 ? new Map<string, number>() : await this.member.committed(generation.assigned);
    const reset: PartitionState[] = [];
    for (const ps of states) {
      const c = committed.get(ps.key) ?? -1;
      ps.committedOffset = c;
      ps.commitTarget = c;
      const sought = this.pendingSeeks.get(ps.key);
      if (sought !== undefined) {
        this.pendingSeeks.delete(ps.key);
        ps.fetchOffset = sought;
        ps.commitTarget = sought;
      } else if (c >= 0) ps.fetchOffset = c;
      else reset.push(ps);
    }
    await this.resetPositions(reset);
    // Reset positions are committed like handled ones: a later reset could skip messages otherwise.
    for (const ps of reset) ps.commitTarget = ps.fetchOffset;
    if (this.stopController.signal.aborted || this.generation !== generation) return;
    this.partitions = new Map(states.map((ps) => [ps.key, ps]));
    if (this.o.delivery !== 'manual') this.startAutoCommit();
    this.log.info('partitions assigned', { generation: generation.generationId, partitions: states.map((ps) => `${ps.topic}-${ps.partition}@${ps.fetchOffset}`).join(' ') });
    this.emitSafely('assign', this.assignment());
    this.fetchWake.notify();
  }

  /** Positions of partitions without a usable offset, per autoOffsetReset. */
  private async resetPositions(states: readonly PartitionState[]): Promise<void> {
    if (states.length === 0) return;
    const timestamp = this.o.autoOffsetReset === 'earliest' ? -2 : -1;
    const epochs = states.map((ps) => ps.epoch);
    const offsets = await this.listOffsets(states, timestamp);
    for (const [i, ps] of states.entries()) {
      if (ps.epoch !== epochs[i]) continue; // sought meanwhile
      const offset = offsets.get(ps.key);
      if (offset === undefined || offset < 0) throw new KafkaProtocolError(ErrorCode.OFFSET_NOT_AVAILABLE, `ListOffsets ${ps.topic}-${ps.partition}`);
      ps.fetchOffset = offset;
    }
    this.log.info('positions reset', { policy: this.o.autoOffsetReset, partitions: states.map((ps) => `${ps.topic}-${ps.partition}@${ps.fetchOffset}`).join(' ') });
  }

  /**
   * Stops handling every assigned partition: no new turns, retry waits abandoned, running handlers
   * awaited for at most rebalanceTimeoutMs, then (unless manual) what was handled is committed.
   */
  private async revoke(): Promise<void> {
    this.stopAutoCommit();
    const states = [...this.partitions.values()];
    if (states.length === 0) return;
    for (const ps of states) {
      ps.revoked = true;
      ps.abort.abort();
    }
    this.releaseGate();
    const running = states.filter((ps) => ps.turn !== null).map((ps) => ps.turn!);
    if (running.length > 0) {
      const bound = new AbortController();
      await Promise.race([Promise.allSettled(running).then(() => bound.abort()), sleep(this.o.rebalanceTimeoutMs, bound.signal)]);
      bound.abort();
    }
    for (const ps of states) {
      if (ps.turn === null) continue;
      this.log.warn('handler still running after rebalanceTimeoutMs; if this consumer gets the partition again, it waits for it', { topic: ps.topic, partition: ps.partition, timeoutMs: this.o.rebalanceTimeoutMs });
      const key = ps.key;
      const done = ps.turn.then(() => {
        this.lingering.delete(key);
        const next = this.partitions.get(key);
        if (next !== undefined) this.enqueue(next);
        this.schedule();
      });
      this.lingering.set(key, done);
    }
    if (this.o.delivery !== 'manual') {
      await this.commitNow().catch((err) => this.log.warn('commit on revoke failed; uncommitted messages will be delivered again', { err }));
    }
    for (const ps of states) {
      this.bufferedBytes -= ps.clear();
      this.uncommittedTotal -= ps.uncommitted;
      ps.uncommitted = 0;
    }
    this.partitions = new Map();
    this.readyQueue.length = 0;
    this.emitSafely('revoke', states.map((ps) => ({ topic: ps.topic, partition: ps.partition })));
    this.fetchWake.notify();
  }

  // ---- dispatch --------------------------------------------------------------------------------

  private isPaused(ps: PartitionState): boolean {
    return this.pausedTopics.has(ps.topic) || this.pausedPartitions.has(ps.key);
  }

  private current(ps: PartitionState): boolean {
    return this.partitions.get(ps.key) === ps && !ps.revoked;
  }

  private enqueue(ps: PartitionState): void {
    if (ps.queued || ps.busy || ps.buffered === 0 || !this.current(ps) || this.isPaused(ps)) return;
    ps.queued = true;
    this.readyQueue.push(ps);
  }

  /** Starts turns for ready partitions while fewer than `concurrency` run. */
  private schedule(): void {
    while (this.activeTurns < this.o.concurrency && this.readyQueue.length > 0) {
      const ps = this.readyQueue.shift()!;
      ps.queued = false;
      if (this.handler === null || this.stopController.signal.aborted || ps.busy || ps.buffered === 0 || !this.current(ps) || this.isPaused(ps) || this.lingering.has(ps.key)) continue;
      ps.busy = true;
      this.activeTurns++;
      ps.turn = this.runTurn(ps)
        .catch((err) => this.fail(err))
        .finally(() => {
          ps.busy = false;
          ps.turn = null;
          this.activeTurns--;
          this.enqueue(ps);
          this.schedule();
          this.fetchWake.notify();
        });
    }
  }

  /** May the turn of `ps` started at `epoch` handle another message? */
  private mayContinue(ps: PartitionState, epoch: number, committedAhead: boolean): boolean {
    if (ps.epoch !== epoch || ps.buffered === 0 || this.isPaused(ps)) return false;
    // Messages committed ahead (at-most-once) are handled even while revoking: nobody else will.
    if (committedAhead) return this.partitions.get(ps.key) === ps;
    return this.current(ps) && !this.stopController.signal.aborted;
  }

  /** Handles up to maxMessagesPerTurn buffered messages of one partition, in offset order. */
  private async runTurn(ps: PartitionState): Promise<void> {
    const epoch = ps.epoch;
    const count = Math.min(ps.buffered, this.o.maxMessagesPerTurn);
    const atMostOnce = this.o.delivery === 'at-most-once';
    if (atMostOnce && !(await this.commitAhead(ps, ps.peek(count - 1).offset + 1))) return;
    for (let i = 0; i < count; i++) {
      if (!this.mayContinue(ps, epoch, atMostOnce)) return;
      // The gate and a handler that returns synchronously are checked inline: an await per message
      // costs a promise and a microtask hop even when nothing waits.
      if (this.o.delivery === 'at-least-once' && this.uncommittedTotal + this.handlersInFlight >= this.o.maxUncommittedMessages) {
        await this.gate(ps, epoch);
        if (!this.mayContinue(ps, epoch, false)) return;
      }
      const bytesBefore = ps.bufferBytes;
      const message = ps.shift();
      this.bufferedBytes -= bytesBefore - ps.bufferBytes;
      this.handlersInFlight++;
      try {
        const pending = this.handle(ps, message);
        if (pending !== undefined) await pending;
      } catch (err) {
        if (err instanceof TurnAborted) return;
        throw err;
      } finally {
        this.handlersInFlight--;
      }
      if (ps.epoch !== epoch) return;
      if (!atMostOnce) ps.commitTarget = message.offset + 1;
      if (this.o.delivery === 'at-least-once') {
        ps.uncommitted++;
        this.uncommittedTotal++;
        // Half of maxUncommittedMessages wait for a commit beyond what the one in flight covers:
        // counting those too queued a second commit at once behind every commit, for the few
        // messages handled during its round trip (twice the commits in `holdfast bench`).
        if ((this.uncommittedTotal - this.committing) * 2 >= this.o.maxUncommittedMessages && this.commitQueued === null) this.commitInBackground();
      }
    }
  }

  /** at-most-once: commits past the turn's last message before any of them is handled. */
  private async commitAhead(ps: PartitionState, offset: number): Promise<boolean> {
    ps.commitTarget = offset;
    try {
      await this.commitNow();
    } catch (err) {
      if (err instanceof ConsumerError && err.code === ConsumerErrorCode.COMMIT_FAILED) return false; // rebalance under way
      if (this.stopController.signal.aborted) return false;
      if (!(err instanceof HoldfastError && err.retriable)) throw err;
      this.log.warn('commit before handling failed; will retry', { topic: ps.topic, partition: ps.partition, err });
      await sleep(this.o.retryBackoffMs, ps.abort.signal);
      return false;
    }
    return ps.committedOffset >= offset && this.partitions.get(ps.key) === ps;
  }

  /** at-least-once: waits while maxUncommittedMessages are handled-or-running and uncommitted. */
  private async gate(ps: PartitionState, epoch: number): Promise<void> {
    while (this.uncommittedTotal + this.handlersInFlight >= this.o.maxUncommittedMessages && this.mayContinue(ps, epoch, false)) {
      if (this.commitQueued === null) this.commitInBackground();
      await new Promise<void>((resolve) => this.gateWaiters.push(resolve));
    }
  }

  private releaseGate(): void {
    const waiters = this.gateWaiters;
    this.gateWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Calls the handler once. Returns undefined when it returned (not a promise) without throwing;
   * otherwise a promise of the attempt and its retries (handleWithRetry).
   */
  private handle(ps: PartitionState, message: ConsumerMessage): Promise<void> | undefined {
    let result: unknown;
    try {
      result = this.handler!(message);
    } catch (err) {
      return this.handleWithRetry(ps, message, 1, err);
    }
    if (typeof (result as PromiseLike<void> | undefined)?.then !== 'function') return undefined;
    return Promise.resolve(result as PromiseLike<void>).then(undefined, (err: unknown) => this.handleWithRetry(ps, message, 1, err));
  }

  /**
   * Retries the handler after attempt `failed` threw `error`, with backoff, until it resolves;
   * throws HandlerError when out of retries.
   */
  private async handleWithRetry(ps: PartitionState, message: ConsumerMessage, failed: number, error: unknown): Promise<void> {
    const handler = this.handler!;
    let err = error;
    for (let attempt = failed; ; attempt++) {
      if (attempt > this.o.retries) throw new HandlerError(message.topic, message.partition, message.offset, attempt, err);
      const delayMs = backoffMs(this.o.retryInitialMs, attempt - 1, this.o.retryMaxMs);
      this.log.warn('handler failed; retrying', { topic: message.topic, partition: message.partition, offset: message.offset, attempt, delayMs, err });
      this.emitSafely('retry', { topic: message.topic, partition: message.partition, offset: message.offset, attempt, delayMs, error: err });
      const signal = ps.abort.signal;
      await sleep(delayMs, signal);
      if (signal.aborted) throw new TurnAborted();
      try {
        await handler(message);
        return;
      } catch (e) {
        err = e;
      }
    }
  }

  private applySeek(ps: PartitionState, offset: number): void {
    ps.epoch++;
    this.bufferedBytes -= ps.clear();
    ps.fetchOffset = offset;
    ps.commitTarget = offset;
    ps.retryAtMs = 0;
    ps.abort.abort();
    ps.abort = new AbortController();
    this.log.info('seek', { topic: ps.topic, partition: ps.partition, offset });
    this.fetchWake.notify();
  }

  // ---- commits ---------------------------------------------------------------------------------

  /**
   * Commits every partition whose commit target moved. Commits run one at a time; a call made while
   * one runs joins the next, which starts afterwards and so covers everything handled before the call.
   */
  private commitNow(): Promise<void> {
    if (this.commitQueued !== null) return this.commitQueued;
    const next = this.commitChain.then(() => {
      this.commitQueued = null;
      return this.commitOnce();
    });
    this.commitQueued = next;
    this.commitChain = next.catch(() => undefined);
    return next;
  }

  private async commitOnce(): Promise<void> {
    const generation = this.generation;
    const dirty = [...this.partitions.values()].filter((ps) => ps.commitTarget >= 0 && ps.commitTarget !== ps.committedOffset);
    if (generation === null || dirty.length === 0) return;
    const snapshot = dirty.map((ps) => ({ ps, offset: ps.commitTarget, count: ps.uncommitted }));
    let covering = 0;
    for (const s of snapshot) covering += s.count;
    this.committing += covering;
    try {
      await this.member.commit(
        snapshot.map((s) => ({ topic: s.ps.topic, partition: s.ps.partition, offset: s.offset })),
        Date.now() + Math.min(this.o.sessionTimeoutMs, this.o.rebalanceTimeoutMs),
      );
    } finally {
      this.committing -= covering;
      this.releaseGate();
    }
    for (const s of snapshot) {
      s.ps.committedOffset = s.offset;
      if (this.partitions.get(s.ps.key) !== s.ps) continue;
      const covered = Math.min(s.count, s.ps.uncommitted);
      s.ps.uncommitted -= covered;
      this.uncommittedTotal -= covered;
    }
    this.releaseGate();
    this.emitSafely('commit', snapshot.map((s) => ({ topic: s.ps.topic, partition: s.ps.partition, offset: s.offset })));
  }

  private commitInBackground(): void {
    this.commitNow().catch((err) => {
      if (err instanceof ConsumerError && (err.code === ConsumerErrorCode.COMMIT_FAILED || err.code === ConsumerErrorCode.CONSUMER_CLOSED)) return;
      if (err instanceof HoldfastError && err.retriable) {
        this.log.warn('commit failed; will retry', { err });
        return;
      }
      this.fail(err);
    });
  }

  private startAutoCommit(): void {
    this.stopAutoCommit();
    this.autoCommitTimer = setInterval(() => {
      if ([...this.partitions.values()].some((ps) => ps.commitTarget >= 0 && ps.commitTarget !== ps.committedOffset)) this.commitInBackground();
    }, this.o.autoCommitIntervalMs);
  }

  private stopAutoCommit(): void {
    if (this.autoCommitTimer !== null) clearInterval(this.autoCommitTimer);
    this.autoCommitTimer = null;
  }

  // ---- fetching --------------------------------------------------------------------------------

  private fetchable(ps: PartitionState, nowMs: number): boolean {
    return ps.fetchOffset >= 0 && !ps.fetching && this.current(ps) && !this.isPaused(ps) && ps.bufferBytes < this.o.maxPartitionFetchBytes && nowMs >= ps.retryAtMs;
  }

  /** The last Fetch answer showed nothing past the fetch offset: a fetch of it would long-poll. */
  private caughtUp(ps: PartitionState): boolean {
    return ps.logEnd >= 0 && ps.fetchOffset >= ps.logEnd;
  }

  /**
   * Long-poll Fetches: per leader, one in flight per fetch slot (connection), each for that
   * leader's fetchable partitions not already being fetched; a fetch of caught-up partitions alone
   * never takes the backlog slot.
   */
  private async fetchLoop(): Promise<void> {
    while (!this.stopController.signal.aborted) {
      const nowMs = Date.now();
      const byLeader = new Map<number, PartitionState[]>();
      for (const ps of this.partitions.values()) {
        if (!this.fetchable(ps, nowMs)) continue;
        // Known leaders cost no promise: this runs for every partition before every fetch.
        const leader = this.dataCluster.knownLeader(ps.topic, ps.partition) ?? (await this.leaderOf(ps));
        if (leader === null) continue;
        const states = byLeader.get(leader);
        if (states === undefined) byLeader.set(leader, [ps]);
        else states.push(ps);
      }
      const rounds: Array<{ leader: number; slot: number; states: PartitionState[] }> = [];
      for (const [leader, states] of byLeader) {
        // A fetch of caught-up partitions alone long-polls for up to maxWaitMs, and may take either
        // poll slot; the backlog slot is kept for fetches with a partition that has records to
        // fetch, which the broker answers at once. With two slots that both polls could hold, a
        // partition with a backlog waited out a whole poll for each refill (bench/catch-up.ts).
        const tailOnly = states.every((ps) => this.caughtUp(ps));
        const slot = this.fetchClusters.findIndex((_, i) => !this.fetchesInFlight.has(`${leader}/${i}`) && !(tailOnly && i === BACKLOG_SLOT));
        if (slot >= 0) rounds.push({ leader, slot, states });
      }
      // The prefetch budget left is shared by this round's fetches.
      const shareBytes = Math.floor((this.o.maxPrefetchBytes - this.bufferedBytes - this.reservedBytes) / Math.max(rounds.length, 1));
      for (const { leader, slot, states } of rounds) {
        if (shareBytes <= 0) break;
        // No more than its partitions can return: a long poll on one partition must not hold the
        // budget the other slot's fetch needs (which would then get one batch per round trip).
        let most = 0;
        for (const ps of states) most += ps.fetchBytes;
        const key = `${leader}/${slot}`;
        const budget = Math.min(shareBytes, most);
        // min.bytes unless a partition is known to have records to read (those are answered at
        // once), and never above what the fetch may return.
        const minBytes = states.some((ps) => ps.logEnd > ps.fetchOffset) ? 1 : Math.min(this.o.minBytes, budget);
        const fetching = this.fetchFrom(this.fetchClusters[slot], leader, states, budget, minBytes)
          .catch((err) => this.fail(err))
          .finally(() => {
            this.fetchesInFlight.delete(key);
            this.fetchWake.notify();
          });
        this.fetchesInFlight.set(key, fetching);
      }
      await this.fetchWake.wait(Math.max(this.o.retryBackoffMs, 10));
    }
    // Fetches still in flight are not waited for: a long poll would hold close() for up to
    // maxWaitMs. Their connections close with the consumer; what they bring is dropped, as nothing
    // of it reached a handler.
  }

  private async leaderOf(ps: PartitionState): Promise<number | null> {
    try {
      const leader = (await this.dataCluster.topic(ps.topic)).partitions.find((p) => p.partition === ps.partition)?.leader ?? -1;
      if (leader >= 0) return leader;
      this.dataCluster.invalidate(ps.topic);
    } catch (err) {
      if (!(err instanceof HoldfastError && (err.retriable || err.kafkaErrorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))) throw err;
      this.log.debug('no leader known', { topic: ps.topic, partition: ps.partition, err });
    }
    this.backOff(ps);
    return null;
  }

  private backOff(ps: PartitionState): void {
    ps.retryAtMs = Date.now() + backoffMs(this.o.retryBackoffMs, ps.fetchErrors++);
  }

  private async fetchFrom(cluster: ClientCluster, leader: number, states: PartitionState[], budget: number, minBytes: number): Promise<void> {
    const requested = states.map((ps) => ({ ps, epoch: ps.epoch, fetchOffset: ps.fetchOffset }));
    for (const ps of states) ps.fetching = true;
    this.reservedBytes += budget;
    try {
      const conn = await cluster.connectionTo(leader);
      const byTopic = new Map<string, typeof requested>();
      for (const r of requested) byTopic.set(r.ps.topic, [...(byTopic.get(r.ps.topic) ?? []), r]);
      const { body: res, frame } = await conn.requestPooled<FetchResponse>(API_KEYS.Fetch, conn.version(API_KEYS.Fetch, 4, 11), {
        replicaId: -1,
        maxWaitMs: this.o.maxWaitMs,
        minBytes,
        maxBytes: budget,
        isolationLevel: 1, // READ_COMMITTED
        sessionId: 0,
        sessionEpoch: -1,
        topics: [...byTopic].map(([topic, rs]) => ({
          topic,
          partitions: rs.map((r) => ({ partition: r.ps.partition, currentLeaderEpoch: -1, fetchOffset: r.fetchOffset, logStartOffset: -1, partitionMaxBytes: Math.min(r.ps.fetchBytes, budget) })),
        })),
        forgottenTopicsData: [],
        rackId: '',
      }, this.receivePool);
      try {
        if ((res.errorCode ?? ErrorCode.NONE) !== ErrorCode.NONE) throw new KafkaProtocolError(res.errorCode ?? -1, `Fetch from broker ${leader}`);
        for (const t of res.responses) {
          for (const p of t.partitions) {
            const r = requested.find((x) => x.ps.topic === t.topic && x.ps.partition === p.partitionIndex);
            if (r !== undefined) this.onFetched(r.ps, r.epoch, r.fetchOffset, p);
          }
        }
      } finally {
        // What onFetched kept holds references of its own.
        this.receivePool.release(frame);
      }
    } catch (err) {
      // Closing: the fetch was abandoned with its connection (see fetchLoop).
      if (this.stopController.signal.aborted && err instanceof HoldfastError && err.retriable) return;
      if (!(err instanceof HoldfastError && err.retriable)) throw err;
      this.log.warn('fetch failed; retrying', { leader, err });
      for (const ps of states) {
        this.dataCluster.invalidate(ps.topic);
        this.backOff(ps);
      }
    } finally {
      this.reservedBytes -= budget;
      for (const ps of states) ps.fetching = false;
    }
  }

  private onFetched(ps: PartitionState, epoch: number, fetchOffset: number, p: FetchResponse['responses'][number]['partitions'][number]): void {
    if (!this.current(ps) || ps.epoch !== epoch || ps.fetchOffset !== fetchOffset) return; // seek or revoke meanwhile
    if (p.errorCode === ErrorCode.NONE) {
      // Fetch v4+ (all this consumer sends) has the last stable offset: the end a READ_COMMITTED reader may see.
      ps.logEnd = p.lastStableOffset ?? p.highWatermark;
      let fetched;
      try {
        fetched = scanFetch(p.records, fetchOffset, p.abortedTransactions, MAX_DECOMPRESSED_BYTES);
      } catch (err) {
        if (err instanceof RecordError) throw corruptFetch(ps.topic, ps.partition, `fetched at offset ${fetchOffset}`, err);
        throw err;
      }
      ps.fetchErrors = 0;
      if (fetched.nextOffset === null) {
        // Data but no complete batch: one batch is larger than the partition fetch size.
        if ((p.records?.length ?? 0) > 0) ps.fetchBytes = Math.min(ps.fetchBytes * 2, this.o.maxPrefetchBytes);
        return;
      }
      ps.fetchOffset = fetched.nextOffset;
      ps.push(fetched);
      this.bufferedBytes += fetched.bytes;
      this.enqueue(ps);
      this.schedule();
      return;
    }
    if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
      this.log.warn('fetch offset out of range; resetting', { topic: ps.topic, partition: ps.partition, offset: fetchOffset, policy: this.o.autoOffsetReset });
      ps.fetchOffset = -1;
      this.resetPositions([ps])
        .then(() => this.fetchWake.notify())
        .catch((err) => this.fail(err));
      return;
    }
    if (FETCH_RETRIABLE.has(p.errorCode) || kafkaErrors[p.errorCode]?.retriable === true) {
      this.log.warn('fetch error; retrying', { topic: ps.topic, partition: ps.partition, error: p.errorCode });
      this.dataCluster.invalidate(ps.topic);
      this.backOff(ps);
      return;
    }
    throw new KafkaProtocolError(p.errorCode, `Fetch ${ps.topic}-${ps.partition}`);
  }

  // ---- offsets lookup --------------------------------------------------------------------------

  /** ListOffsets (read_committed) per partition leader; timestamp −1 latest, −2 earliest. Retries retriable errors. */
  private async listOffsets(partitions: readonly TopicPartition[], timestamp: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let pending = [...partitions];
    for (let attempt = 0; pending.length > 0; attempt++) {
      const failed: TopicPartition[] = [];
      const byLeader = new Map<number, TopicPartition[]>();
      for (const tp of pending) {
        try {
          const leader = (await this.dataCluster.topic(tp.topic)).partitions.find((p) => p.partition === tp.partition)?.leader ?? -1;
          if (leader < 0) throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `${tp.topic}-${tp.partition}`);
          byLeader.set(leader, [...(byLeader.get(leader) ?? []), tp]);
        } catch (err) {
          if (!(err instanceof HoldfastError && err.retriable)) throw err;
          failed.push(tp);
        }
      }
      for (const [leader, tps] of byLeader) {
        try {
          for (const [key, offset] of await this.listOffsetsFrom(leader, tps, timestamp)) {
            if (offset === null) failed.push(tps.find((tp) => tpKey(tp.topic, tp.partition) === key)!);
            else out.set(key, offset);
          }
        } catch (err) {
          if (!(err instanceof HoldfastError && err.retriable)) throw err;
          failed.push(...tps);
        }
      }
      pending = failed;
      if (pending.length === 0) break;
      for (const tp of pending) this.dataCluster.invalidate(tp.topic);
      if (attempt >= 20) throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `ListOffsets ${pending.map((tp) => `${tp.topic}-${tp.partition}`).join(', ')} after ${attempt + 1} attempts`);
      await sleep(backoffMs(this.o.retryBackoffMs, attempt), this.stopController.signal);
      if (this.stopController.signal.aborted) throw new ConsumerError(ConsumerErrorCode.CONSUMER_CLOSED, `consumer of group ${this.o.groupId} is closing`);
    }
    return out;
  }

  /** Offsets by partition key; null for a partition that failed retriably. */
  private async listOffsetsFrom(leader: number, tps: readonly TopicPartition[], timestamp: number): Promise<Map<string, number | null>> {
    const conn = await this.dataCluster.connectionTo(leader);
    const byTopic = new Map<string, number[]>();
    for (const tp of tps) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    const res = await conn.request<ListOffsetsResponse>(API_KEYS.ListOffsets, conn.version(API_KEYS.ListOffsets, 1, 3), {
      replicaId: -1,
      isolationLevel: 1,
      topics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp })) })),
    });
    const out = new Map<string, number | null>();
    for (const t of res.topics) {
      for (const p of t.partitions) {
        const key = tpKey(t.name, p.partitionIndex);
        if (p.errorCode === ErrorCode.NONE) out.set(key, p.offset ?? -1);
        else if (FETCH_RETRIABLE.has(p.errorCode) || kafkaErrors[p.errorCode]?.retriable === true) out.set(key, null);
        else throw new KafkaProtocolError(p.errorCode, `ListOffsets ${t.name}-${p.partitionIndex}`);
      }
    }
    for (const tp of tps) if (!out.has(tpKey(tp.topic, tp.partition))) out.set(tpKey(tp.topic, tp.partition), null);
    return out;
  }
}
