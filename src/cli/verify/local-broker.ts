// The broker a verify run starts itself (`holdfast serve` as a child process), so it can inject the
// faults only the owner of a process can: kill -9 and restart on the same data, SIGSTOP/SIGCONT,
// and bit flips in its segment files between clean restarts.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, fsyncSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../node-flags.ts';
import type { Rng } from '../../util/index.ts';
import { injectBitFlip } from './bit-flip.ts';
import { BrokerLog, loggedFault } from './broker-log.ts';
import type { CorruptionProbe } from './checker.ts';

/** A fault the broker side can inject; each call injects and then recovers from it. */
export type BrokerFault = 'broker-kill' | 'broker-pause' | 'power-loss' | 'disk-eio' | 'bit-flip';

export const BROKER_FAULTS: readonly BrokerFault[] = ['broker-kill', 'broker-pause', 'power-loss', 'disk-eio', 'bit-flip'];

/** What a verify run needs from the broker it tests. */
export interface BrokerControl {
  /** Where the broker listens (the fault proxy forwards here). */
  readonly target: { host: string; port: number };
  readonly faults: readonly BrokerFault[];
  /** Injects the fault, waits, and brings the broker back; returns what it did, in words. */
  inject(fault: BrokerFault, rng: Rng): Promise<string>;
  /** Makes sure the broker is running and not paused. */
  heal(): Promise<void>;
  /**
   * Every bit flip this broker's `bit-flip` faults made, and whether reading the damaged batch back
   * was refused (detected) rather than served. Absent when the setup cannot flip bits.
   */
  readonly corruption?: readonly CorruptionProbe[];
  /** The broker's process id, for CPU and memory readings; null when it runs in this process. */
  pid(): number | null;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const SCAN_BYTES = 64 * 1024 * 1024;

/** XORs one byte of a file in place and fsyncs it. */
function xorByte(path: string, position: number, mask: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    if (readSync(fd, b, 0, 1, position) !== 1) throw new Error(`${path} has no byte ${position}`);
    b[0] ^= mask;
    writeSync(fd, b, 0, 1, position);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The first `limit` bytes of a file (all of it if shorter). */
function readPrefix(path: string, limit: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(limit, fstatSync(fd).size));
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

const MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../main.ts' : '../main.js', import.meta.url));

export class LocalBroker implements BrokerControl {
  readonly faults: readonly BrokerFault[] = ['broker-kill', 'broker-pause', 'bit-flip'];
  readonly corruption: CorruptionProbe[] = [];
  readonly target: { host: string; port: number };
  private readonly dataDir: string;
  private readonly configFile: string;
  private readonly ownsDataDir: boolean;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** The current incarnation's output read to the end (its last lines are in the log). */
  private outputDone: Promise<void> = Promise.resolve();
  private paused = false;
  /** The last lines the broker wrote to stderr (for a failure report). */
  readonly stderr: string[] = [];
  /** Every line of every incarnation (logFile), or null. */
  private readonly log: BrokerLog | null;

  private constructor(port: number, options: { dataDir?: string; advertisedPort: number; config: Record<string, string | number>; logFile?: string }) {
    this.target = { host: '127.0.0.1', port };
    this.log = options.logFile === undefined ? null : new BrokerLog(options.logFile);
    this.ownsDataDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'holdfast-verify-'));
    this.configFile = join(this.dataDir, '..', `${this.dataDir.split('/').pop()}.yaml`);
    const config = { 'advertised.port': options.advertisedPort, 'group.initial.rebalance.delay.ms': 0, ...options.config };
    writeFileSync(this.configFile, Object.entries(config).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
  }

  /**
   * Starts `holdfast serve` on a free port, telling clients to connect to `advertisedPort` (the
   * proxy). `logFile`: append everything each incarnation writes (stdout and stderr) there.
   */
  static async start(options: { advertisedPort: number; dataDir?: string; config?: Record<string, string | number>; logFile?: string }): Promise<LocalBroker> {
    const b = new LocalBroker(await freePort(), { ...options, config: options.config ?? {} });
    await b.spawn();
    return b;
  }

  private async spawn(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawnOnce();
        return;
      } catch (err) {
        // The port of a killed broker can take a moment to free up.
        if (attempt >= 20) throw err;
        await sleep(250);
      }
    }
  }

  private spawnOnce(): Promise<void> {
    const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, 'serve', '--data-dir', this.dataDir, '--port', String(this.target.port), '--config', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.paused = false;
    const log = this.log;
    const incarnation = log?.started('holdfast serve', `pid ${child.pid ?? '?'}`);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // 'close' comes once its output is read to the end (before or after 'exit').
    this.outputDone = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        log?.mark(`holdfast serve exited (incarnation ${incarnation}, ${signal === null ? `code ${code}` : signal})`);
        resolve();
      }),
    );
    createInterface({ input: child.stderr! }).on('line', (l) => {
      log?.line(l);
      this.stderr.push(l);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker not ready in 60 s: ${this.stderr.slice(-5).join(' | ')}`)), 60_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        log?.line(line);
        if (line.startsWith('holdfast ready ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`broker exited before ready: ${this.stderr.slice(-5).join(' | ')}`));
      });
    });
  }

  pid(): number | null {
    return this.child?.pid ?? null;
  }

  inject(fault: BrokerFault, rng: Rng): Promise<string> {
    return loggedFault(this.log, fault, () => this.injectNow(fault, rng));
  }

  private async injectNow(fault: BrokerFault, rng: Rng): Promise<string> {
    if (fault === 'broker-kill') {
      this.child?.kill('SIGKILL');
      await this.exited;
      const down = rng.int(100, 1500);
      await sleep(down);
      await this.spawn();
      return `broker killed (kill -9), restarted after ${down} ms`;
    }
    if (fault === 'broker-pause') {
      const ms = rng.int(300, 3000);
      this.child?.kill('SIGSTOP');
      this.paused = true;
      await sleep(ms);
      this.child?.kill('SIGCONT');
      this.paused = false;
      return `broker paused (SIGSTOP) for ${ms} ms`;
    }
    if (fault === 'bit-flip') return this.flipBit(rng);
    throw new Error(`a local broker process cannot inject ${fault}`);
  }

  /** One bit flipped in a segment file on disk, read back, put back (see injectBitFlip). */
  private async flipBit(rng: Rng): Promise<string> {
    const { text, flip } = await injectBitFlip(
      {
        dataDir: this.dataDir,
        target: this.target,
        stopCleanly: () => this.stopCleanly(),
        start: () => this.spawn(),
        files: () => this.segmentFiles(),
        xorByte,
      },
      rng,
    );
    if (flip !== undefined) this.corruption.push(flip);
    return text;
  }

  /** Every `.log` file one level down (the first 64 MiB of each). */
  private *segmentFiles(): Iterable<[string, Buffer]> {
    for (const dir of readdirSync(this.dataDir, { withFileTypes: true })) {
      if (!dir.isDirectory()) continue;
      for (const name of readdirSync(join(this.dataDir, dir.name))) {
        if (name.endsWith('.log')) yield [join(this.dataDir, dir.name, name), readPrefix(join(this.dataDir, dir.name, name), SCAN_BYTES)];
      }
    }
  }

  /**
   * SIGTERM and wait: the broker drains, fsyncs and writes its checkpoints. True when it was running
   * and exited with code 0 (not when it had to be killed after 30 s).
   */
  private async stopCleanly(): Promise<boolean> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return false;
    if (this.paused) child.kill('SIGCONT');
    this.paused = false;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
    return child.exitCode === 0;
  }

  async heal(): Promise<void> {
    if (this.paused) {
      this.child?.kill('SIGCONT');
      this.paused = false;
    }
    if (this.child === null || this.child.exitCode !== null || this.child.signalCode !== null) await this.spawn();
  }

  async close(): Promise<void> {
    await this.stopCleanly();
    await this.outputDone;
    this.log?.close();
    rmSync(this.configFile, { force: true });
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
