// Helpers for the Consumer tests: producing test data at the wire level (Produce v7 of buildBatch
// batches, independent of the Holdfast Producer), reading committed offsets, waiting for conditions.
import assert from 'node:assert/strict';
import { buildBatch, type CompressionName, type RecordInput } from '../../src/record/index.ts';
import type { TestKafkaClient } from '../helpers/kafka-client.ts';

/** Appends `records` to one partition in batches of `batchSize` (one batch per request, as Kafka requires). */
export async function produce(wire: TestKafkaClient, topic: string, partition: number, records: RecordInput[], batchSize = 500, compression: CompressionName = 'none'): Promise<void> {
  for (let i = 0; i < records.length; i += batchSize) {
    const res = await wire.request(0, 7, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30000,
      topicData: [{ name: topic, partitionData: [{ index: partition, records: buildBatch({ records: records.slice(i, i + batchSize), compression }) }] }],
    });
    assert.equal(res.responses[0].partitionResponses[0].errorCode, 0, `produce to ${topic}-${partition}`);
  }
}

/** Produces `count` messages valued `${prefix}-${partition}-${i}` to each of `partitions`. */
export async function produceValues(wire: TestKafkaClient, topic: string, partitions: number, count: number, prefix: string): Promise<string[]> {
  const all: string[] = [];
  for (let p = 0; p < partitions; p++) {
    const values = Array.from({ length: count }, (_, i) => `${prefix}-${p}-${i}`);
    await produce(wire, topic, p, values.map((value) => ({ value })));
    all.push(...values);
  }
  return all;
}

/** Committed offsets of `group` for partitions 0..partitions-1 of `topic` (−1 when none). */
export async function committedOffsets(wire: TestKafkaClient, group: string, topic: string, partitions: number): Promise<number[]> {
  const r = await wire.request(9, 5, { groupId: group, topics: [{ name: topic, partitionIndexes: Array.from({ length: partitions }, (_, p) => p) }], requireStable: false });
  assert.equal(r.errorCode, 0, `OffsetFetch ${group}`);
  const byPartition = new Map<number, number>(r.topics[0].partitions.map((p: { partitionIndex: number; committedOffset: number }) => [p.partitionIndex, p.committedOffset]));
  return Array.from({ length: partitions }, (_, p) => byPartition.get(p) ?? -1);
}

/** DescribeGroups v4: state and member ids. */
export async function describeGroup(wire: TestKafkaClient, group: string): Promise<{ state: string; members: string[]; protocol: string }> {
  const r = await wire.request(15, 4, { groups: [group], includeAuthorizedOperations: false });
  const g = r.groups[0];
  return { state: g.groupState, members: g.members.map((m: { memberId: string }) => m.memberId), protocol: g.protocolData };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it holds; fails the test with `what` after `timeoutMs`. */
export async function until(what: string | (() => string), check: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}
