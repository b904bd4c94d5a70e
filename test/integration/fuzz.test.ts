// Bad input: at least 100,000 malformed or mutated frames — bad lengths, negative sizes, huge
// arrays, bad CRCs, unknown keys and versions, random bytes — against a broker process. It must
// never crash, its memory must stay bounded, and a well-behaved client on another connection must
// keep working throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBatch } from '../../src/record/index.ts';
import { encodeRequestFrame } from '../../src/protocol/kafka/index.ts';
import { Rng } from '../../src/util/index.ts';
import { spawnBroker, tempDir, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

const FRAMES = Number(process.env.HOLDFAST_FUZZ_FRAMES ?? 100_000);
const WORKERS = 16;
const MAX_FRAME = 1 << 20;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function frame(payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

/** Valid requests to mutate. Topic creation is left out so mutations cannot create topics. */
function corpus(): Buffer[] {
  const batch = buildBatch({ records: [{ key: 'k', value: 'v', headers: [{ key: 'h', value: 'x' }] }, { value: 'w' }], compression: 'gzip' });
  const requests: Array<[number, number, unknown]> = [
    [18, 0, {}],
    [18, 3, { clientSoftwareName: 'fuzz', clientSoftwareVersion: '1' }],
    [3, 1, { topics: [{ name: 'fuzz' }] }],
    [3, 6, { topics: null, allowAutoTopicCreation: false }],
    [0, 7, { transactionalId: null, acks: -1, timeoutMs: 1000, topicData: [{ name: 'fuzz', partitionData: [{ index: 0, records: batch }] }] }],
    [0, 3, { transactionalId: null, acks: 1, timeoutMs: 1000, topicData: [{ name: 'fuzz', partitionData: [{ index: 1, records: batch }] }] }],
    [1, 11, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 65536, isolationLevel: 1, sessionId: 0, sessionEpoch: -1, topics: [{ topic: 'fuzz', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 65536 }] }], forgottenTopicsData: [], rackId: '' }],
    [1, 4, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 65536, isolationLevel: 0, topics: [{ topic: 'fuzz', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 65536 }] }] }],
    [2, 2, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'fuzz', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] }],
    [32, 2, { resources: [{ resourceType: 2, resourceName: 'fuzz', configurationKeys: null }], includeSynonyms: false }],
    [22, 1, { transactionalId: null, transactionTimeoutMs: 1000 }],
  ];
  return requests.map(([k, v, body]) => Buffer.concat(encodeRequestFrame(k, v, 1, 'fuzzer', body)));
}

/** One malformed or mutated frame (with its 4-byte size prefix, which may itself be the lie). */
function badFrame(rng: Rng, base: Buffer[]): Buffer {
  const kind = rng.int(0, 9);
  const valid = rng.pick(base);
  switch (kind) {
    case 0: { // flip bytes in the body, keep the size honest
      const f = Buffer.from(valid);
      for (let i = rng.int(1, 8); i > 0; i--) f[rng.int(4, f.length - 1)] ^= 1 << rng.int(0, 7);
      return f;
    }
    case 1: { // truncate the payload, size prefix says the truncated length
      const payload = valid.subarray(4, 4 + rng.int(0, valid.length - 5));
      return frame(payload);
    }
    case 2: { // append garbage after a valid request
      return frame(Buffer.concat([valid.subarray(4), rng.bytes(rng.int(1, 64))]));
    }
    case 3: { // negative or oversized size prefix
      const b = Buffer.alloc(4 + rng.int(0, 32));
      b.writeInt32BE(rng.chance(0.5) ? -rng.int(1, 2 ** 31 - 1) : rng.int(MAX_FRAME + 1, 2 ** 31 - 1));
      return b;
    }
    case 4: { // unknown api keys and versions with random bodies
      const p = Buffer.concat([Buffer.alloc(8), rng.bytes(rng.int(0, 64))]);
      p.writeInt16BE(rng.chance(0.5) ? rng.int(70, 32767) : rng.pick([0, 1, 2, 3, 18, 22, 32]), 0);
      p.writeInt16BE(rng.chance(0.5) ? rng.int(12, 32767) : -rng.int(1, 5), 2);
      p.writeInt32BE(rng.int(0, 1000), 4);
      return frame(p);
    }
    case 5: { // a valid header followed by huge array counts / lengths
      const headerEnd = 4 + 8 + 2 + 6; // size, key, version, correlation id, client id 'fuzzer'
      const body = Buffer.alloc(rng.int(4, 40), 0xff);
      body.writeInt32BE(rng.chance(0.5) ? 0x7fffffff : rng.int(1000, 100000000), 0);
      return frame(Buffer.concat([valid.subarray(4, headerEnd), body]));
    }
    case 6: { // a produce whose batch CRC is wrong (decodable: must get CORRUPT_MESSAGE, not a close)
      const b = Buffer.from(base[4]);
      b[b.length - 1] ^= 0xff;
      return b;
    }
    case 7: // pure random bytes with an honest size
      return frame(rng.bytes(rng.int(0, 200)));
    case 8: { // size prefix larger than what follows (a stalled partial frame)
      const p = rng.bytes(rng.int(0, 100));
      const b = Buffer.alloc(4);
      b.writeInt32BE(p.length + rng.int(1, 1000));
      return Buffer.concat([b, p]);
    }
    default: { // mutate a length field somewhere in the body to a random int16/int32
      const f = Buffer.from(valid);
      const at = rng.int(12, Math.max(12, f.length - 4));
      if (at + 4 <= f.length) f.writeInt32BE(rng.int(-(2 ** 31), 2 ** 31 - 1), at);
      return f;
    }
  }
}

async function blast(bootstrap: string, frames: Buffer[]): Promise<void> {
  const [host, port] = bootstrap.split(':');
  await new Promise<void>((resolve) => {
    const s = connect({ host, port: Number(port) }, () => {
      for (const f of frames) s.write(f);
      s.end();
    });
    s.on('data', () => {});
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.setTimeout(2000, () => s.destroy());
  });
}

test(`${FRAMES} malformed frames: no crash, bounded memory, other clients keep working`, { timeout: 600_000 }, async () => {
  const seed = Number(process.env.HOLDFAST_FUZZ_SEED ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const dataDir = tempDir('holdfast-fuzz-');
  const configFile = join(dataDir, 'fuzz.yaml');
  writeFileSync(configFile, `socket.request.max.bytes: ${MAX_FRAME}\nauto.create.topics.enable: false\nlog.level: error\n`);
  const broker = await spawnBroker(join(dataDir, 'data'), ['--config', configFile]);
  const good = await TestKafkaClient.connect(broker.bootstrap);
  try {
    const created = await good.request(19, 3, { topics: [{ name: 'fuzz', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10000, validateOnly: false });
    assert.equal(created.topics[0].errorCode, 0);
    const base = corpus();
    let sent = 0;
    let goodRoundTrips = 0;
    let rssMax = rssBytes(broker.child.pid!);
    const rssStart = rssMax;
    let stop = false;
    const wellBehaved = (async () => {
      let expectOffset = 0;
      while (!stop) {
        const value = `good-${goodRoundTrips}`;
        const res = await good.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 10000, topicData: [{ name: 'fuzz', partitionData: [{ index: 1, records: buildBatch({ records: [{ value }] }) }] }] });
        const p = res.responses[0].partitionResponses[0];
        assert.equal(p.errorCode, 0, `seed ${seed}: well-behaved produce failed`);
        assert.ok(p.baseOffset >= expectOffset);
        expectOffset = p.baseOffset + 1;
        const meta = await good.request(3, 6, { topics: [{ name: 'fuzz' }], allowAutoTopicCreation: false });
        assert.equal(meta.topics[0].errorCode, 0);
        goodRoundTrips++;
        rssMax = Math.max(rssMax, rssBytes(broker.child.pid!));
      }
    })();
    const worker = async (): Promise<void> => {
      while (sent < FRAMES) {
        const n = rng.int(1, 12);
        const frames: Buffer[] = [];
        for (let i = 0; i < n; i++) frames.push(badFrame(rng, base));
        sent += n;
        await blast(broker.bootstrap, frames);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    stop = true;
    await wellBehaved;
    assert.equal(broker.child.exitCode, null, `seed ${seed}: the broker exited`);
    assert.ok(sent >= FRAMES);
    assert.ok(goodRoundTrips > 10, `seed ${seed}: the well-behaved client made only ${goodRoundTrips} round trips`);
    // Memory stays bounded: the malformed traffic must not have grown the broker by more than a
    // few frame buffers per connection (generous, as RSS is noisy).
    assert.ok(rssMax - rssStart < 256 * 1024 * 1024, `seed ${seed}: RSS grew from ${rssStart} to ${rssMax}`);
    // And data written by the good client is intact.
    const fetched = await good.request(2, 2, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'fuzz', partitions: [{ partitionIndex: 1, timestamp: -1 }] }] });
    assert.ok(fetched.topics[0].partitions[0].offset >= goodRoundTrips);
    console.log(JSON.stringify({ seed, framesSent: sent, goodRoundTrips, rssStartMb: Math.round(rssStart / 1e6), rssMaxMb: Math.round(rssMax / 1e6) }));
  } finally {
    good.close();
    await broker.kill('SIGKILL');
    removeDir(dataDir);
  }
});
