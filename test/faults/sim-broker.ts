// A broker embedded in the test process over the simulated file system, as a verify run's
// BrokerControl: power loss (unsynced writes lost, the last one torn into zeros or garbage), EIO on
// fsync (the broker stops; recovery decides), process kill (the OS keeps what was written), and
// bit flips in stored batches, each read back over the wire (it must be refused, never served) and
// then undone.
import { defaultBrokerConfig, startBroker, type Broker } from '../../src/broker/index.ts';
import { SimFileSystem } from '../../src/storage/index.ts';
import { Rng, createLogger, silentLogger, type Logger } from '../../src/util/index.ts';
import { BrokerLog, injectBitFlip, loggedFault, type BrokerControl, type BrokerFault, type CorruptionProbe } from '../../src/cli/verify/index.ts';

const DATA = '/data';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class SimBroker implements BrokerControl {
  readonly faults: readonly BrokerFault[] = ['power-loss', 'disk-eio', 'broker-kill', 'bit-flip'];
  readonly corruption: CorruptionProbe[] = [];
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
  /** Every incarnation's log lines (logFile), or null: then the broker logs nothing. */
  private readonly log: BrokerLog | null;
  private readonly logger: Logger;

  private constructor(sim: SimFileSystem, broker: Broker, config: Record<string, unknown>, log: BrokerLog | null, logger: Logger) {
    this.sim = sim;
    this.broker = broker;
    this.config = config;
    this.log = log;
    this.logger = logger;
    this.target = { host: '127.0.0.1', port: broker.port };
  }

  /** `logFile`: append what the broker logs (info and above), across its restarts, there. */
  static async start(config: Record<string, unknown>, seed: number, options: { logFile?: string } = {}): Promise<SimBroker> {
    // Durable appends on the event loop, as `holdfast serve` writes them (embedded, the default is off).
    config = { 'log.inline.write.max.bytes': defaultBrokerConfig().logInlineWriteMaxBytes, ...config };
    const log = options.logFile === undefined ? null : new BrokerLog(options.logFile);
    const logger = log === null ? silentLogger : createLogger({ write: (line) => log.line(line) });
    const sim = new SimFileSystem({ rng: new Rng(seed) });
    let self: SimBroker | null = null;
    log?.started('broker', 'simulated file system');
    const broker = await startBroker({ dataDir: DATA, port: 0, fs: sim.mount(), logger, config, onFatal: (err) => self?.onFatal(err) });
    self = new SimBroker(sim, broker, config, log, logger);
    return self;
  }

  private onFatal(err: Error): void {
    this.fatal = err;
  }

  private async restart(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.fatal = null;
        this.log?.started('broker', 'simulated file system');
        this.broker = await startBroker({ dataDir: DATA, port: this.target.port, fs: this.sim.mount(), logger: this.logger, config: this.config, onFatal: (err) => this.onFatal(err) });
        return;
      } catch (err) {
        if (attempt >= 20 || !/EADDRINUSE/.test(String(err))) throw err;
        await sleep(100);
      }
    }
  }

  private async stop(): Promise<void> {
    await this.broker.close().catch(() => undefined);
    this.log?.mark(`broker stopped (incarnation ${this.log.incarnation})`);
  }

  inject(fault: BrokerFault, rng: Rng): Promise<string> {
    return loggedFault(this.log, fault, () => this.injectNow(fault, rng));
  }

  private async injectNow(fault: BrokerFault, rng: Rng): Promise<string> {
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

  /** One bit flipped in a stored batch on the simulated disk, read back, put back (see injectBitFlip). */
  private async flipBit(rng: Rng): Promise<string> {
    const { text, flip } = await injectBitFlip(
      {
        dataDir: DATA,
        target: this.target,
        stopCleanly: () =>
          this.broker.close().then(
            () => (this.log?.mark(`broker stopped cleanly (incarnation ${this.log.incarnation})`), true),
            () => false,
          ),
        start: () => this.restart(),
        files: () => this.sim.filesUnder(DATA),
        xorByte: (path, position, mask) => this.sim.corrupt(path, position, mask),
      },
      rng,
      this.flipUncoveredBytes,
    );
    if (flip !== undefined) this.corruption.push(flip);
    return text;
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
    this.log?.close();
  }
}
