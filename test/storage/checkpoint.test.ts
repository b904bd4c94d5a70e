// Checkpoint file formats: Kafka-shaped text, strict parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEpochCheckpoint, encodeOffsetCheckpoint, parseEpochCheckpoint, parseOffsetCheckpoint, parsePartitionDirName } from '../../src/storage/index.ts';

test('offset checkpoints round-trip in the version/count/lines format', () => {
  const entries = [{ topic: 'orders.eu-west', partition: 3, offset: 12345 }, { topic: 'a', partition: 0, offset: 0 }];
  const data = encodeOffsetCheckpoint(entries);
  assert.equal(data.toString(), '0\n2\norders.eu-west 3 12345\na 0 0\n');
  assert.deepEqual(parseOffsetCheckpoint(data), entries);
});

test('malformed checkpoints are rejected, not half-trusted', () => {
  for (const text of ['', '1\n0\n', '0\n2\na 0 1\n', '0\nx\n', '0\n1\na 0\n', '0\n1\na -1 5\n', '0\n1\na 0 99999999999999999\n', '0\n1\na 0 1e3\n']) {
    assert.throws(() => parseOffsetCheckpoint(Buffer.from(text)), /checkpoint/, JSON.stringify(text));
  }
  assert.throws(() => parseEpochCheckpoint(Buffer.from('0\n2\n3 10\n2 20\n')), /not increasing/);
});

test('epoch checkpoints round-trip', () => {
  const entries = [{ epoch: 0, startOffset: 0 }, { epoch: 4, startOffset: 100 }];
  assert.deepEqual(parseEpochCheckpoint(encodeEpochCheckpoint(entries)), entries);
});

test('partition directory names parse from the last dash', () => {
  assert.deepEqual(parsePartitionDirName('my-topic.v2-17'), { topic: 'my-topic.v2', partition: 17 });
  assert.equal(parsePartitionDirName('recovery-point-checkpoint'), null);
  assert.equal(parsePartitionDirName('meta.json'), null);
  assert.equal(parsePartitionDirName('t-0.abc-delete'), null);
  assert.equal(parsePartitionDirName('-3'), null);
});
