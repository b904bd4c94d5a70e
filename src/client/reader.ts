// TopicReader: reads partitions of one topic from chosen positions without a consumer group —
// no membership, no commits (what `kcat -C` does without -G, and what `holdfast consume` uses
// without --group). Long-poll fetches, one request per leader for all of its partitions, messages
// of each partition in offset order.
import { HoldfastError, silentLogger, type Logger } from '../util/index.ts';
import { API_KEYS, ErrorCode, type FetchResponse, type ListOffsetsResponse } from '../protocol/kafka/index.ts';
import { ClientCluster } from './cluster.ts';
import { KafkaProtocolError } from './connection.ts';
import { messagesFromFetch, type ConsumerMessage } from './consumer-fetch.ts';

/** Where a TopicReader starts: the first offset, the end, an offset, or the first record at or after a time. */
export type ReadPosition = 'earliest' | 'latest' | { offset: number } | { timestamp: number };

export interface TopicReaderOptions {
  /** Bootstrap brokers, 'host:port'. */
  brokers: string[];
  /** The topic to read; it must exist (UNKNOWN_TOPIC_OR_PARTITION otherwise). */
  topic: string;
  /** Partitions to read. @default every partition of the topic */
  partitions?: number[];
  /** Start position of every partition read. An offset beyond the end waits there; below the log start begins at the log start. @default 'earliest' */
  from?: ReadPosition;
  /** Long-poll: the broker answers once data arrives or after this long. @default 500 */
  maxWaitMs?: number;
  /** Fetch min.bytes: the broker answers once this many bytes past the read positions are there (never more than a fetch may return), or after maxWaitMs. @default 1 */
  minBytes?: number;
  /** Bytes fetched per partition per request. @default 1048576 */
  maxPartitionFetchBytes?: number;
  /** Wait after a failed fetch before the next (doubling up to 5 s). @default 100 */
  retryBackoffMs?: number;
  /** @default 'holdfast-reader' */
  clientId?: string;
  /** @default 30000 */
  requestTimeoutMs?: number;
  /** @default silentLogger */
  logger?: Logger;
}

interface PartitionPosition {
  partition: number;
  /** Next offset to fetch; null until resolved. */
  offset: number | null;
}

/**
 * Reads a topic's partitions as an async iterable of messages:
 *
 * ```ts
 * const reader = new TopicReader({ brokers: ['127.0.0.1:9092'], topic: 'orders', from: { timestamp: Date.now() - 3600_000 } });
 * for await (const m of reader) console.log(m.partition, m.offset, m.value?.toString());
 * ```
 *
 * Iteration ends only when `close()` is called (or the loop breaks); errors that are not retriable
 * (an unknown topic, a corrupt batch, …) are thrown from the iterator.
 */
export class TopicReader implements AsyncIterable<ConsumerMessage> {
  private readonly o: Required<Omit<TopicReaderOptions, 'partitions'>> & { partitions: number[] | null };
  private readonly cluster: ClientCluster;
  private positions: PartitionPosition[] | null = null;
  private closed = false;

  constructor(options: TopicReaderOptions) {
    if (options.brokers.length === 0) throw new HoldfastError('INVALID_CONFIG', 'TopicReader needs at least one broker address');
    if (typeof options.topic !== 'string' || options.topic.length === 0) throw new HoldfastError('INVALID_CONFIG', 'TopicReader needs a topic');
    const from = options.from ?? 'earliest';
    if (typeof from === 'object' && 'offset' in from && !(Number.isSafeInteger(from.offset) && from.offset >= 0)) {
      throw new HoldfastError('INVALID_CONFIG', `TopicReader from.offset must be an integer >= 0, got ${String(from.offset)}`);
    }
    const minBytes = options.minBytes ?? 1;
    if (!Number.isSafeInteger(minBytes) || minBytes < 1 || minBytes > 2 ** 31 - 1) {
      throw new HoldfastError('INVALID_CONFIG', `TopicReader minBytes must be an integer in [1, ${2 ** 31 - 1}], got ${String(minBytes)}`);
    }
    if (typeof from === 'object' && 'timestamp' in from && !(Number.isSafeInteger(from.timestamp) && from.timestamp >= 0)) {
      throw new HoldfastError('INVALID_CONFIG', `TopicReader from.timestamp must be milliseconds since the epoch, got ${String(from.timestamp)}`);
    }
    this.o = {
      brokers: options.brokers,
      topic: options.topic,
      partitions: options.partitions ?? null,
      from,
      maxWaitMs: Math.max(10, options.maxWaitMs ?? 500),
      minBytes,
      maxPartitionFetchBytes: options.maxPartitionFetchBytes ?? 1048576,
      retryBackoffMs: options.retryBackoffMs ?? 100,
      clientId: options.clientId ?? 'holdfast-reader',
      requestTimeoutMs: options.requestTimeoutMs ?? 30000,
      logger: options.logger ?? silentLogger,
    };
    this.cluster = new ClientCluster({ brokers: options.brokers, clientId: this.o.clientId, requestTimeoutMs: Math.max(this.o.requestTimeoutMs, this.o.maxWaitMs + 5000) });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerMessage> {
    let backoff = this.o.retryBackoffMs;
    while (!this.closed) {
      let batch: ConsumerMessage[];
      try {
        batch = await this.fetchOnce();
        backoff = this.o.retryBackoffMs;
      } catch (err) {
        if (this.closed) return;
        if (!(err instanceof HoldfastError && err.retriable)) throw err;
        this.o.logger.warn('fetch failed; retrying', { topic: this.o.topic, err });
        this.cluster.invalidate(this.o.topic);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      for (const m of batch) {
        if (this.closed) return;
        yield m;
      }
    }
  }

  /** The next offset per partition (after what has been yielded or fetched). */
  position(): Array<{ partition: number; offset: number | null }> {
    return (this.positions ?? []).map((p) => ({ ...p }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.cluster.close();
  }

  private async resolvePositions(): Promise<PartitionPosition[]> {
    if (this.positions !== null && this.positions.every((p) => p.offset !== null)) return this.positions;
    let meta;
    try {
      meta = await this.cluster.topic(this.o.topic);
    } catch (err) {
      // A topic that does not exist when reading starts is an error, not something to wait for.
      if (this.positions === null && err instanceof KafkaProtocolError && err.kafkaErrorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
        throw new KafkaProtocolError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${this.o.topic} does not exist`, { retriable: false });
      }
      throw err;
    }
    if (this.positions === null) {
      const all = meta.partitions.map((p) => p.partition);
      const wanted = this.o.partitions ?? all;
      for (const p of wanted) {
        if (!all.includes(p)) throw new KafkaProtocolError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${this.o.topic} has no partition ${p} (it has ${all.length})`);
      }
      this.positions = wanted.map((partition) => ({ partition, offset: null }));
    }
    const from = this.o.from;
    const unresolved = this.positions.filter((p) => p.offset === null);
    if (typeof from === 'object' && 'offset' in from) {
      for (const p of unresolved) p.offset = from.offset;
      return this.positions;
    }
    const ts = from === 'earliest' ? -2 : from === 'latest' ? -1 : from.timestamp;
    const found = await this.listOffsets(unresolved.map((p) => p.partition), ts);
    const ends = ts >= 0 ? await this.listOffsets(unresolved.map((p) => p.partition), -1) : found;
    for (const p of unresolved) {
      const o = found.get(p.partition);
      // No record at or after the time: start at the end, as Kafka's consumers do.
      p.offset = o === undefined ? null : o >= 0 ? o : (ends.get(p.partition) ?? null);
    }
    return this.positions;
  }

  private async listOffsets(partitions: number[], timestamp: number): Promise<Map<number, number>> {
    const byLeader = await this.byLeader(partitions);
    const out = new Map<number, number>();
    for (const [leader, ps] of byLeader) {
      const conn = await this.cluster.connectionTo(leader);
      const res = await conn.request<ListOffsetsResponse>(API_KEYS.ListOffsets, conn.version(API_KEYS.ListOffsets, 1, 3), {
        replicaId: -1,
        isolationLevel: 1,
        topics: [{ name: this.o.topic, partitions: ps.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp })) }],
      });
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode === ErrorCode.NONE) out.set(p.partitionIndex, p.offset ?? -1);
          else throw new KafkaProtocolError(p.errorCode, `ListOffsets ${this.o.topic}-${p.partitionIndex}`);
        }
      }
    }
    return out;
  }

  private async byLeader(partitions: number[]): Promise<Map<number, number[]>> {
    const meta = await this.cluster.topic(this.o.topic);
    const out = new Map<number, number[]>();
    for (const partition of partitions) {
      const leader = meta.partitions.find((x) => x.partition === partition)?.leader ?? -1;
      if (leader < 0) throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `${this.o.topic}-${partition}`);
      out.set(leader, [...(out.get(leader) ?? []), partition]);
    }
    return out;
  }

  /** One round of fetches (one request per leader, in turn); returns what arrived. */
  private async fetchOnce(): Promise<ConsumerMessage[]> {
    const positions = await this.resolvePositions();
    const ready = positions.filter((p) => p.offset !== null);
    const out: ConsumerMessage[] = [];
    const byLeader = await this.byLeader(ready.map((p) => p.partition));
    for (const [leader, ps] of byLeader) {
      const conn = await this.cluster.connectionTo(leader);
      const requested = ps.map((partition) => positions.find((p) => p.partition === partition) as PartitionPosition);
      const maxBytes = this.o.maxPartitionFetchBytes * requested.length;
      const res = await conn.request<FetchResponse>(API_KEYS.Fetch, conn.version(API_KEYS.Fetch, 4, 11), {
        replicaId: -1,
        maxWaitMs: this.o.maxWaitMs,
        minBytes: Math.min(this.o.minBytes, maxBytes),
        maxBytes,
        isolationLevel: 1,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [{ topic: this.o.topic, partitions: requested.map((p) => ({ partition: p.partition, currentLeaderEpoch: -1, fetchOffset: p.offset as number, logStartOffset: -1, partitionMaxBytes: this.o.maxPartitionFetchBytes })) }],
        forgottenTopicsData: [],
        rackId: '',
      });
      if ((res.errorCode ?? ErrorCode.NONE) !== ErrorCode.NONE) throw new KafkaProtocolError(res.errorCode ?? -1, `Fetch from broker ${leader}`);
      for (const t of res.responses) {
        for (const p of t.partitions) {
          const pos = requested.find((x) => x.partition === p.partitionIndex);
          if (pos === undefined || pos.offset === null) continue;
          if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
            // Below the log start (retention) or past the end: start over from the log start or end.
            const start = (await this.listOffsets([pos.partition], -2)).get(pos.partition) ?? 0;
            const end = (await this.listOffsets([pos.partition], -1)).get(pos.partition) ?? start;
            this.o.logger.warn('offset out of range; moving', { topic: this.o.topic, partition: pos.partition, offset: pos.offset, to: pos.offset < start ? start : end });
            pos.offset = pos.offset < start ? start : end;
            continue;
          }
          // Retriable codes (NOT_LEADER_OR_FOLLOWER, …) are retried by the iterator after a metadata refresh.
          if (p.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(p.errorCode, `Fetch ${this.o.topic}-${p.partitionIndex}`);
          const fetched = messagesFromFetch(this.o.topic, p.partitionIndex, p.records ?? null, pos.offset, p.abortedTransactions, 256 * 1024 * 1024);
          for (const m of fetched.messages) out.push(m);
          if (fetched.nextOffset !== null && fetched.nextOffset > pos.offset) pos.offset = fetched.nextOffset;
          else if (p.records !== null && p.records !== undefined && p.records.length >= this.o.maxPartitionFetchBytes) {
            throw new KafkaProtocolError(ErrorCode.RECORD_LIST_TOO_LARGE, `Fetch ${this.o.topic}-${p.partitionIndex}: a batch at offset ${pos.offset} is larger than maxPartitionFetchBytes (${this.o.maxPartitionFetchBytes})`);
          }
        }
      }
    }
    return out;
  }
}
