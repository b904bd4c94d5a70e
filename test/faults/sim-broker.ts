// A broker embedded in the test process over the simulated file system, as a verify run's
// BrokerControl: power loss (unsynced writes lost, the last one torn into zeros or garbage), EIO on
// fsync (the broker stops; recovery decides), process kill (the OS keeps what was written), and
// bit flips in stored batches, each read back over the wire (it must be refused, never served) and
// then undone.
import { startBroker, type Broker } from '../../src/broker/index.ts';
import { KafkaConnection } from '../../src/client/index.ts';
import { ErrorCode, errorName } from '../../src/protocol/kafka/index.ts';
import { SimFileSystem } from '../../src/storage/index.ts';
import { Rng, silentLogger } from '../../src/util/index.ts';
import type { BrokerControl, BrokerFault } from '../../src/cli/verify/index.ts';

const DATA = '/data';
const SEGMENT = /^\/data\/([^/]+)-(\d+)\/\d{20}\.log$/;
/** Batch header bytes: baseOffset (8) and batchLength (4) come first; PartitionLeaderEpoch is 12..15. */
const BATCH_LENGTH_AT = 8;
const LEADER_EPOCH_AT = 12;

interface StoredBatch {
  path: string;
  topic: string;
  partition: number;
  position: number;
  size: number;
  baseOffset: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class SimBroker implements BrokerControl {
  readonly faults: readonly BrokerFault[] = ['power-loss', 'disk-eio', 'broker-kill', 'bit-flip'];
  readonly corruption: Array<{ detail: string; detected: boolean }> = [];
  /**
   * Test only: flip a byte of PartitionLeaderEpoch, the one field the batch CRC does not cover
   * (Kafka's format), so the flip cannot be detected, to show an undetected flip is reported.
   */
  flipUncoveredBytes = false;
  readonly target: { host: string; port: number };
  readonly sim: SimFileSystem;
  private broker: Broker;
  private readonly config: Record<string, unknown>;
  private fatal: Error | null = null;
  restarts = 0;

  private constructor(sim: SimFileSystem, broker: Broker, config: Record<string, unknown>) {
    this.sim = sim;
    this.broker = broker;
    this.config = config;
    this.target = { host: '127.0.0.1', port: broker.port };
  }

  static async start(config: Record<string, unknown>, seed: number): Promise<SimBroker> {
    const sim = new SimFileSystem({ rng: new Rng(seed) });
    let self: SimBroker | null = null;
    const broker = await startBroker({ dataDir: DATA, port: 0, fs: sim.mount(), logger: silentLogger, config, onFatal: (err) => self?.onFatal(err) });
    self = new SimBroker(sim, broker, config);
    return self;
  }

  private onFatal(err: Error): void {
    this.fatal = err;
  }

  private async restart(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.fatal = null;
        this.broker = await startBroker({ dataDir: DATA, port: this.target.port, fs: this.sim.mount(), logger: silentLogger, config: this.config, onFatal: (err) => this.onFatal(err) });
        this.restarts++;
        return;
      } catch (err) {
        if (attempt >= 20 || !/EADDRINUSE/.test(String(err))) throw err;
        await sleep(100);
      }
    }
  }

  private async stop(): Promise<void> {
    await this.broker.close().catch(() => undefined);
  }

  async inject(fault: BrokerFault, rng: Rng): Promise<string> {
    if (fault === 'power-loss') {
      this.sim.crash(rng); // every handle of the running broker is dead from here on
      await this.stop();
      await sleep(rng.int(50, 500));
      await this.restart();
      return 'power loss: unsynced writes dropped or torn (zeros or garbage), broker restarted';
    }
    if (fault === 'disk-eio') {
      this.sim.failNext({ op: 'sync', code: 'EIO' });
      const deadline = Date.now() + 3000;
      while (this.fatal === null && Date.now() < deadline) await sleep(20);
      const hit = this.fatal !== null;
      await this.stop();
      this.sim.clearFaults();
      if (rng.chance(0.5)) this.sim.crash(rng);
      else this.sim.restartProcess();
      await this.restart();
      return hit ? 'EIO on fsync: the broker stopped itself; restarted after recovery' : 'EIO armed but no fsync came within 3 s; broker restarted';
    }
    if (fault === 'broker-kill') {
      this.sim.restartProcess(); // the process dies; what it wrote stays in the OS
      await this.stop();
      await this.restart();
      return 'broker process killed (written data kept by the OS), restarted';
    }
    if (fault === 'bit-flip') return this.flipBit(rng);
    throw new Error(`SimBroker cannot inject ${fault}`);
  }

  /**
   * Flips one bit of a stored batch of a user topic, restarts, and fetches that batch over the wire
   * as a consumer would: the broker must refuse it (KAFKA_STORAGE_ERROR, the partition offline),
   * not serve it. Then the byte is put back, as restoring the segment from another copy would, and
   * the broker restarts with the partition online. The stop before the flip is a clean shutdown, so
   * the damaged batch lies below the recovery point (recovery does not rescan it: the read must
   * catch it) and out of the tail cache (the read comes from the file).
   */
  private async flipBit(rng: Rng): Promise<string> {
    await this.stop();
    const candidates = this.storedBatches();
    if (candidates.length === 0) {
      await this.restart();
      return 'bit flip: no stored batch of a user topic yet; broker restarted';
    }
    const target = candidates[rng.int(0, candidates.length - 1)];
    let within: number;
    if (this.flipUncoveredBytes) within = LEADER_EPOCH_AT + rng.int(0, 3);
    else {
      // Any byte the CRC or the framing checks cover: all but PartitionLeaderEpoch.
      within = rng.int(0, target.size - 5);
      if (within >= LEADER_EPOCH_AT) within += 4;
    }
    const at = target.position + within;
    const mask = 1 << rng.int(0, 7);
    const where = `bit ${Math.log2(mask)} of byte ${within} of the batch at offset ${target.baseOffset} of ${target.topic}-${target.partition} (${target.path})`;
    this.sim.corrupt(target.path, at, mask);
    let answer: string;
    try {
      await this.restart();
      answer = await this.fetchAnswer(target);
    } finally {
      this.sim.corrupt(target.path, at, mask);
    }
    const detected = answer === errorName(ErrorCode.KAFKA_STORAGE_ERROR);
    this.corruption.push({ detail: `${where}: Fetch answered ${answer}`, detected });
    await this.stop();
    await this.restart();
    return `bit flip: ${where}; read back, Fetch answered ${answer}; byte restored, broker restarted`;
  }

  /** Every whole batch in the segment files of user topics (not __consumer_offsets). */
  private storedBatches(): StoredBatch[] {
    const out: StoredBatch[] = [];
    for (const [path, data] of this.sim.filesUnder(DATA)) {
      const m = SEGMENT.exec(path);
      if (m === null || m[1].startsWith('__')) continue;
      for (let position = 0; position + BATCH_LENGTH_AT + 4 <= data.length; ) {
        const size = BATCH_LENGTH_AT + 4 + data.readInt32BE(position + BATCH_LENGTH_AT);
        if (size <= LEADER_EPOCH_AT + 4 || position + size > data.length) break;
        out.push({ path, topic: m[1], partition: Number(m[2]), position, size, baseOffset: Number(data.readBigInt64BE(position)) });
        position += size;
      }
    }
    return out;
  }

  /** What a Fetch (v11) of the batch's first offset returns: an error name, or what was served. */
  private async fetchAnswer(b: StoredBatch): Promise<string> {
    const c = await KafkaConnection.open({ host: this.target.host, port: this.target.port, clientId: 'sim-broker-probe' });
    try {
      const res = await c.request<{ responses: Array<{ partitions: Array<{ errorCode: number; records: Buffer | null }> }> }>(1, 11, {
        replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 1, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic: b.topic, partitions: [{ partition: b.partition, currentLeaderEpoch: -1, fetchOffset: b.baseOffset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
        forgottenTopicsData: [], rackId: '',
      });
      const p = res.responses[0].partitions[0];
      return p.errorCode !== ErrorCode.NONE ? errorName(p.errorCode) : `${p.records?.length ?? 0} bytes of records (no error)`;
    } finally {
      c.close();
    }
  }

  async heal(): Promise<void> {
    this.sim.clearFaults();
    if (this.fatal !== null) {
      await this.stop();
      this.sim.restartProcess();
      await this.restart();
    }
  }

  pid(): number | null {
    return null;
  }

  async close(): Promise<void> {
    await this.stop();
  }
}
