// The partitioner must put keyed records where every other Kafka client does: Kafka's murmur2 and
// toPositive(hash) % numPartitions. Checked against Kafka's own UtilsTest vectors and against
// kafkajs 2.2.4's DefaultPartitioner (its Java-compatible one) over 10,000 random keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Rng } from '../../src/util/index.ts';
import { murmur2, toPositive, partitionForKey, createDefaultPartitioner } from '../../src/client/index.ts';

const require = createRequire(import.meta.url);
const { Partitioners } = require('kafkajs') as { Partitioners: { DefaultPartitioner: () => (args: unknown) => number } };
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number;

const SEED = 20240611;
const PARTITION_COUNTS = [1, 3, 6, 16, 100];

test('murmur2 matches the vectors of Kafka UtilsTest.testMurmur2', () => {
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [input, expected] of vectors) assert.equal(murmur2(Buffer.from(input)), expected, `murmur2(${input})`);
  // The empty key (all tail handling skipped) agrees with kafkajs.
  assert.equal(murmur2(Buffer.alloc(0)), kafkajsMurmur2(Buffer.alloc(0)));
});

test('toPositive clears the sign bit like Kafka (not Math.abs)', () => {
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(-2147483648), 0);
  assert.equal(toPositive(5), 5);
  assert.equal(partitionForKey('foobar', 50), (-790332482 & 0x7fffffff) % 50);
});

function randomKey(rng: Rng): Buffer | string {
  if (rng.chance(0.3)) {
    // Strings, including multi-byte UTF-8.
    const alphabet = ['a', 'Z', '0', '-', 'é', '字', '😀', ' '];
    let s = '';
    for (let i = rng.int(0, 24); i > 0; i--) s += rng.pick(alphabet);
    return s;
  }
  return rng.bytes(rng.int(0, 70)); // every tail length, every byte value
}

test('10,000 random keys: same hash as kafkajs murmur2 and same partition as its DefaultPartitioner', () => {
  const rng = new Rng(SEED);
  const kafkajs = Partitioners.DefaultPartitioner();
  const ours = createDefaultPartitioner();
  for (let i = 0; i < 10_000; i++) {
    const key = randomKey(rng);
    const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
    assert.equal(murmur2(bytes), kafkajsMurmur2(key), `murmur2 of key #${i} (seed ${SEED})`);
    for (const n of PARTITION_COUNTS) {
      const partitionMetadata = Array.from({ length: n }, (_, p) => ({ partitionId: p, leader: 1 }));
      const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: 'v' } });
      assert.equal(partitionForKey(key, n), expected, `key #${i} over ${n} partitions (seed ${SEED})`);
      assert.equal(ours({ topic: 't', key: bytes, numPartitions: n, recordBytes: 10 }), expected);
    }
  }
});

test('keyless records stick to one partition for stickyBytes, then move round-robin', () => {
  let r = 0;
  const partitioner = createDefaultPartitioner({ stickyBytes: 1000, random: () => [0.5, 0.1][r++ % 2] });
  const seen: number[] = [];
  for (let i = 0; i < 40; i++) seen.push(partitioner({ topic: 'a', key: null, numPartitions: 4, recordBytes: 100 }));
  // Random start 0.5 * 4 = partition 2; ten 100-byte records per partition, then the next one.
  assert.deepEqual(seen, [...Array(10).fill(2), ...Array(10).fill(3), ...Array(10).fill(0), ...Array(10).fill(1)]);
  // Another topic has its own sticky state.
  assert.equal(partitioner({ topic: 'b', key: null, numPartitions: 4, recordBytes: 100 }), 0);
  // A shrunk partition count moves on instead of returning an invalid partition.
  assert.ok(partitioner({ topic: 'a', key: null, numPartitions: 1, recordBytes: 100 }) === 0);
});

test('past stickyBytes the sticky partition is kept while hasRoom says its open batch can take the record', () => {
  const asked: Array<[string, number, number]> = [];
  let room = true;
  const partitioner = createDefaultPartitioner({
    stickyBytes: 300,
    random: () => 0,
    hasRoom: (topic, partition, bytes) => {
      asked.push([topic, partition, bytes]);
      return room;
    },
  });
  const next = (): number => partitioner({ topic: 't', key: null, numPartitions: 3, recordBytes: 100 });
  const seen = [next(), next(), next()];
  assert.deepEqual(asked, [], 'not asked before stickyBytes');
  for (let i = 0; i < 5; i++) seen.push(next());
  assert.deepEqual(seen, Array(8).fill(0), 'kept while there is room');
  assert.deepEqual(asked.at(-1), ['t', 0, 100]);
  room = false;
  seen.push(next(), next(), next());
  assert.deepEqual(seen.slice(8), [1, 1, 1], 'moved once there was none, and counts from zero there');
  // Keyed records never ask.
  const before = asked.length;
  partitioner({ topic: 't', key: Buffer.from('k'), numPartitions: 3, recordBytes: 100 });
  assert.equal(asked.length, before);
});

test('keyless spread is even over many records', () => {
  const partitioner = createDefaultPartitioner({ stickyBytes: 500 });
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 6000; i++) counts[partitioner({ topic: 't', key: null, numPartitions: 6, recordBytes: 50 })]++;
  for (const c of counts) assert.equal(c, 1000);
});
