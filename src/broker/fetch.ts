// Fetch: whole stored batches from the one containing the fetch offset, at least one batch even
// past max_bytes (KIP-74) for the first partition with data, long-poll until min_bytes have
// gathered or max_wait passes, and always answer. Without transactions the last stable offset is
// the high watermark and no transaction is aborted. What a read from a segment file pins counts
// against the broker-wide fetch.file.read.total.bytes until the answer is sent; what comes from
// the tail cache, and a large read from a file, hold references to pooled buffers (receiveSlabs)
// until then too.
import { HoldfastError, receiveSlabs } from '../util/index.ts';
import { ErrorCode, type FetchRequest, type FetchResponse } from '../protocol/kafka/index.ts';
import type { PartitionLog } from '../storage/index.ts';
import type { BrokerContext } from './context.ts';
import type { RequestContext } from './kafka-server.ts';
import { FETCH_MIN_SERVED } from './versions.ts';

type Response = FetchResponse<readonly Buffer[]>;
type PartitionData = Response['responses'][number]['partitions'][number];
/**
 * A partition a long poll counts toward min_bytes. As Kafka's DelayedFetch counts them: the bytes
 * past the fetch offset, at most partition_max_bytes. What the read found (all of `cap` when its
 * byte limit left batches out), plus what the log has made visible since (`visibleBytesAdded`
 * against `mark`, taken before the read). Where this differs from Kafka it counts more, so the
 * answer comes early, never late: data that arrives during a read from the file is counted twice;
 * a read cut short by the response's max_bytes, not its own limit, counts all of `cap`; and a
 * fetch offset above the high watermark counts bytes made visible below it too (Kafka adds
 * nothing until the high watermark passes the fetch offset).
 */
type Watched = { log: PartitionLog; fetchOffset: number; found: number; mark: number; cap: number };

/** One pass over the fetch's partitions. */
interface Pass {
  response: Response;
  bytes: number;
  /** The partitions read without error while the answer was short of min_bytes; empty when any partition has an error (answered at once). */
  watched: Watched[];
  /** Data fills max_bytes: more could not be returned, so the answer does not wait. */
  full: boolean;
  /** Bytes taken from the file-read budget for this answer's records. */
  pinned: number;
  /** A partition with data went without it: no room in the file-read budget by the deadline, or beside this fetch's own reads. */
  starved: boolean;
}

/** Gives back the references that records read from the tail cache or into pooled memory hold (log.read). */
function releaseAll(chunks: readonly Buffer[]): void {
  for (const c of chunks) receiveSlabs.release(c);
}

/** releaseAll for every partition's records in an answer. */
function releaseRecords(response: Response): void {
  for (const t of response.responses) for (const p of t.partitions) releaseAll(p.records);
}

/** Memory a read's chunks keep alive: the buffers under them (a view pins all of its buffer). */
function pinnedBytes(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.buffer.byteLength;
  return n;
}

/** Records of a partition with nothing to return: one shared, frozen empty list. */
const NO_RECORDS: readonly Buffer[] = Object.freeze([]);

// One object per partition per read, built whole: a fetch names every partition its consumer owns,
// and a long poll reads them all twice, most with nothing new.
function partitionData(partitionIndex: number, errorCode: number, highWatermark: number, logStartOffset: number, abortedTransactions: [] | null): PartitionData {
  return { partitionIndex, errorCode, highWatermark, lastStableOffset: highWatermark, logStartOffset, abortedTransactions, preferredReadReplica: -1, records: NO_RECORDS };
}

function emptyPartition(partitionIndex: number, errorCode: number): PartitionData {
  return partitionData(partitionIndex, errorCode, -1, -1, null);
}

/** Reads every partition once; a read from a segment file waits for budget at most until `deadline` (performance.now()). */
async function readOnce(b: BrokerContext, ctx: RequestContext, req: FetchRequest, deadline: number): Promise<Pass> {
  const budget = b.fetchFileReads;
  const readCommitted = req.isolationLevel === 1;
  const minBytes = Math.max(req.minBytes, 1);
  // The client's limit, never above the broker's fetch.max.bytes. Fetch v0-2 has no max_bytes,
  // but those versions read nothing (FETCH_MIN_SERVED).
  let remaining = Math.min(req.maxBytes ?? b.config.fetchMaxBytes, b.config.fetchMaxBytes);
  let bytes = 0;
  let pinned = 0;
  let starved = false;
  const watched: Watched[] = [];
  const responses: Response['responses'] = [];
  for (const t of req.topics) {
    const topic = t.topic ?? '';
    const partitions: PartitionData[] = [];
    responses.push({ topic, partitions });
    for (const p of t.partitions) {
      if (ctx.apiVersion < FETCH_MIN_SERVED) {
        partitions.push(emptyPartition(p.partition, ErrorCode.UNSUPPORTED_VERSION));
        continue;
      }
      const log = b.partitionLog(topic, p.partition);
      if (log === undefined) {
        partitions.push(emptyPartition(p.partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
        continue;
      }
      if (log.state !== 'online') {
        partitions.push(emptyPartition(p.partition, ErrorCode.KAFKA_STORAGE_ERROR));
        continue;
      }
      const data = partitionData(p.partition, ErrorCode.NONE, log.highWatermark, log.logStartOffset, readCommitted ? [] : null);
      partitions.push(data);
      if (remaining <= 0 && bytes > 0) continue;
      const maxBytes = Math.max(Math.min(p.partitionMaxBytes, Math.max(remaining, 0)), 1);
      const mark = log.visibleBytesAdded;
      try {
        let read = log.readCached(p.fetchOffset, maxBytes);
        let held = 0;
        if (read === undefined) {
          // From the file: up to maxBytes are allocated (a first batch larger than that whole). A
          // fetch that already holds budget does not wait: it could be waiting for its own bytes.
          if (!budget.tryTake(maxBytes) && (pinned > 0 || !(await budget.take(maxBytes, deadline - performance.now())))) {
            starved = true;
            continue;
          }
          try {
            read = await log.read(p.fetchOffset, maxBytes);
          } catch (err) {
            budget.release(maxBytes);
            throw err;
          }
          held = pinnedBytes(read.chunks);
          if (held > maxBytes) budget.force(held - maxBytes);
          else budget.release(maxBytes - held);
        }
        // Only while the answer may still wait: once min_bytes are read, nobody looks at `watched`.
        if (bytes < minBytes) {
          const cap = Math.max(p.partitionMaxBytes, 0);
          // Batches left out for the byte limit: Kafka counts the partition's whole partition_max_bytes.
          const found = read.bytes > 0 && read.nextOffset < log.highWatermark ? cap : read.bytes;
          watched.push({ log, fetchOffset: p.fetchOffset, found, mark, cap });
        }
        // KIP-74: only the first partition that returns data may exceed the limits.
        if (bytes > 0 && read.bytes > remaining) {
          budget.release(held);
          releaseAll(read.chunks);
          continue;
        }
        pinned += held;
        data.records = read.chunks;
        bytes += read.bytes;
        remaining -= read.bytes;
      } catch (err) {
        data.errorCode = err instanceof HoldfastError && err.kafkaErrorCode !== undefined ? err.kafkaErrorCode : ErrorCode.KAFKA_STORAGE_ERROR;
        if (data.errorCode === ErrorCode.KAFKA_STORAGE_ERROR) b.logger.error('fetch read failed', { topic, partition: p.partition, err });
      }
      // The high watermark may have moved during the read; report what the reader may now see.
      data.highWatermark = log.highWatermark;
      data.lastStableOffset = log.highWatermark;
    }
  }
  const anyError = responses.some((t) => t.partitions.some((p) => p.errorCode !== ErrorCode.NONE));
  return { response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses }, bytes, watched: anyError ? [] : watched, full: remaining <= 0 && bytes > 0, pinned, starved };
}

export async function handleFetch(b: BrokerContext, ctx: RequestContext, req: FetchRequest): Promise<Response> {
  const maxWaitMs = Math.min(Math.max(req.maxWaitMs, 0), b.config.fetchMaxWaitMsMax);
  const minBytes = Math.max(req.minBytes, 1);
  const deadline = performance.now() + maxWaitMs;
  const first = await readOnce(b, ctx, req, deadline);
  // Starved: the budget had no room by the deadline, or the fetch already has data and no room for
  // more; waiting for new records would not help either way. Full: max_bytes is reached, so the
  // answer could not grow (Kafka would still wait when min_bytes is above max_bytes; no use).
  if (first.bytes >= minBytes || maxWaitMs === 0 || first.watched.length === 0 || !b.running || first.starved || first.full) return answer(b, ctx, first);
  b.fetchFileReads.release(first.pinned); // this answer is read again after the wait
  releaseRecords(first.response);
  await waitForBytes(first.watched, minBytes, Math.max(0, deadline - performance.now()));
  return answer(b, ctx, await readOnce(b, ctx, req, deadline));
}

/** The response, with what its records pin handed back to the budget, and their references, once the answer is sent. */
function answer(b: BrokerContext, ctx: RequestContext, pass: Pass): Response {
  if (pass.bytes > 0 || pass.pinned > 0) {
    let held = pass.pinned;
    let records: Response | null = pass.response;
    ctx.onSent = () => {
      b.fetchFileReads.release(held);
      held = 0;
      if (records !== null) releaseRecords(records);
      records = null;
    };
  }
  return pass.response;
}

/**
 * Resolves when the partitions hold `minBytes` between them (each counted as `Watched` says), when
 * one of them stops, or after `maxWaitMs`: one timer for the request however many partitions it
 * watches, and one waiter per partition, registered again at each new high watermark until the
 * partition has counted its partition_max_bytes. A partition that cannot take a waiter (stopped,
 * closing, deleted, or `maxWaiters` already waiting) ends the wait: the fetch answers with what
 * is there, as it would at the deadline.
 *
 * A partition's new data is counted in a process.nextTick, not while the log wakes its waiters:
 * the log wakes them from the append's promise continuation, and a tick queued there runs once
 * the promise callbacks queued with it have run, the append's Produce answer among them. So that
 * answer goes out first and the producer's next batch does not wait while the broker reads and
 * writes the readers' answers, without a turn of the event loop in between (setImmediate would
 * add one per wake). In `holdfast bench --workload W2` (one consumer long-polling every append)
 * seconds with this order did 5–8% more messages than seconds without it, in four 60 s runs (a
 * one-off probe that switched the order by the second, not in the repo; docs/performance.md,
 * "Produce answers before the long polls they wake").
 */
function waitForBytes(watched: readonly Watched[], minBytes: number, maxWaitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const cancels: Array<(() => void) | undefined> = new Array(watched.length);
    const counted = new Array<number>(watched.length).fill(0);
    let total = 0;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const cancel of cancels) cancel?.();
      resolve();
    };
    const watch = (i: number): void => {
      cancels[i] = undefined;
      if (settled) return;
      const w = watched[i];
      const now = Math.min(w.found + w.log.visibleBytesAdded - w.mark, w.cap);
      total += now - counted[i];
      counted[i] = now;
      if (total >= minBytes) return finish();
      if (now >= w.cap) return; // this partition can add nothing more to the answer
      const cancel = w.log.onData(Math.max(w.fetchOffset, w.log.highWatermark), () => process.nextTick(watch, i));
      if (cancel === undefined) return finish();
      cancels[i] = cancel;
    };
    const timer = setTimeout(finish, maxWaitMs);
    timer.unref(); // a poll must not keep a closed embedded broker's process alive
    for (let i = 0; i < watched.length; i++) watch(i);
  });
}
