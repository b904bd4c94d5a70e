// The processes of a bench run: the broker it starts itself (`holdfast serve` as a child process)
// and the producer/consumer workers, plus CPU and memory readings from /proc (Linux; elsewhere the
// readings are null).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CLIENT_NODE_FLAGS, NODE_FLAGS, nodeArgsFromEnv } from '../node-flags.ts';
import { clockMs, type WorkerArgs, type WorkerMessage } from './worker.ts';

// bin/holdfast.js runs dist/cli/main.js when the package is built, src/cli/main.ts otherwise; this
// module sits beside it either way.
const COMPILED = !import.meta.url.endsWith('.ts');
const MAIN = fileURLToPath(new URL(COMPILED ? '../main.js' : '../main.ts', import.meta.url));
const WORKER = fileURLToPath(new URL(COMPILED ? './worker.js' : './worker.ts', import.meta.url));

/** The fields of /proc/<pid>/stat after the command name (the first is the state); null when unknown. */
function statFields(pid: number | undefined): string[] | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; null when unknown. */
export function cpuSecondsOf(pid: number | undefined): number | null {
  const fields = statFields(pid);
  // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
  return fields === null ? null : (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Minor page faults of a process so far, from /proc/<pid>/stat; null when unknown. */
export function minorFaultsOf(pid: number | undefined): number | null {
  const fields = statFields(pid);
  return fields === null ? null : Number(fields[7]);
}

/** Resident set size of a process in MB (VmRSS of /proc/<pid>/status); null when unknown. */
export function rssMBOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) / 1024;
  } catch {
    return null;
  }
}

export interface LocalBrokerOptions {
  /** Extra node flags for the broker process (e.g. --cpu-prof --cpu-prof-dir DIR). */
  nodeArgs?: string[];
}

/** Brokers and workers still running; ended (and their data removed) if this process exits first. */
const live = new Set<{ child: ChildProcess; dir?: string }>();
let exitHookInstalled = false;

function track(entry: { child: ChildProcess; dir?: string }): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const e of live) {
        if (e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL');
        if (e.dir !== undefined) rmSync(e.dir, { recursive: true, force: true });
      }
    });
  }
  live.add(entry);
  entry.child.once('exit', () => {
    if (entry.dir === undefined) live.delete(entry);
  });
}

/** A `holdfast serve` child process on a free port with a fresh data directory. */
export class LocalBroker {
  readonly bootstrap: string;
  readonly child: ChildProcess;
  private readonly dir: string;
  private readonly exited: Promise<void>;
  readonly stderr: string[];

  private readonly entry: { child: ChildProcess; dir?: string };

  private constructor(bootstrap: string, child: ChildProcess, dir: string, exited: Promise<void>, stderr: string[], entry: { child: ChildProcess; dir?: string }) {
    this.entry = entry;
    this.bootstrap = bootstrap;
    this.child = child;
    this.dir = dir;
    this.exited = exited;
    this.stderr = stderr;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-'));
    const dataDir = join(dir, 'data');
    const configFile = join(dir, 'broker.yaml');
    // No initial rebalance delay: each consumer group's first join is answered at once.
    // Retention every 10 s keeps a long run's disk use near the bench topic's retention.bytes.
    writeFileSync(configFile, 'group.initial.rebalance.delay.ms: 0\nretention.check.interval.ms: 10000\n');
    const child = spawn(process.execPath, [...NODE_FLAGS, ...(options.nodeArgs ?? []), MAIN, 'serve', '--port', '0', '--data-dir', dataDir, '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => {
      stderr.push(l);
      if (stderr.length > 200) stderr.shift();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const entry = { child, dir };
    track(entry);
    try {
      const bootstrap = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`broker not ready in 60 s: ${stderr.slice(-5).join(' | ')}`)), 60_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const m = /^holdfast ready kafka=([^ ]+) data=/.exec(line);
          if (m !== null) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`broker exited before it was ready: ${stderr.slice(-5).join(' | ')}`));
        });
      });
      return new LocalBroker(bootstrap, child, dir, exited, stderr, entry);
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
      throw err;
    }
  }

  /** Rejects, with the end of the broker's log, if the broker exits before stop(). */
  died(): Promise<never> {
    return this.exited.then(() => {
      throw new Error(`the broker exited during the run (code ${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.slice(-5).join(' | ')}`);
    });
  }

  /** SIGTERM (a clean shutdown; SIGKILL after 30 s), then removes the data directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this.entry);
  }
}

/** The messages every worker sends its parent: ready, progress counts, its report, or an error. */
export type BaseWorkerMessage = { t: 'ready' } | { t: 'progress'; n: number } | { t: 'done' } | { t: 'error'; message: string };

/**
 * A producer or consumer worker process, talking over an IPC channel. `script` is run with the
 * JSON of `args` as its argument: the Holdfast workers (worker.ts) by default; the peer workers
 * (bench/peers) pass their own script and message type.
 */
export class WorkerProcess<M extends { t: string } = WorkerMessage, A extends object = WorkerArgs> {
  readonly child: ChildProcess;
  readonly name: string;
  readonly stderr: string[] = [];
  /** Last progress count reported. */
  progress = 0;
  done: Extract<M, { t: 'done' }> | null = null;
  readonly exited: Promise<number | null>;
  private readonly waiters: Array<{ t: string; resolve: (m: M | { t: 'error'; message: string }) => void }> = [];
  private failure: Error | null = null;

  constructor(name: string, args: A, script: string = WORKER) {
    this.name = name;
    this.child = spawn(process.execPath, [...CLIENT_NODE_FLAGS, ...nodeArgsFromEnv('HOLDFAST_BENCH_WORKER_NODE_ARGS'), script, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    track({ child: this.child });
    createInterface({ input: this.child.stderr! }).on('line', (l) => {
      this.stderr.push(l);
      if (this.stderr.length > 50) this.stderr.shift();
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        if (this.done === null && this.failure === null) this.fail(new Error(`${name} exited (code ${code}, signal ${signal}) before reporting${this.stderr.length > 0 ? `: ${this.stderr.slice(-5).join(' | ')}` : ''}`));
        resolve(code);
      }),
    );
    this.child.on('message', (raw) => {
      const m = raw as M;
      const base = raw as BaseWorkerMessage;
      if (base.t === 'progress') this.progress = base.n;
      else if (base.t === 'done') this.done = m as Extract<M, { t: 'done' }>;
      else if (base.t === 'error') this.fail(new Error(`${name} failed: ${base.message}`));
      for (const w of [...this.waiters]) {
        if (w.t === m.t) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.resolve({ t: 'error', message: err.message });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Neither done nor failed. */
  get running(): boolean {
    return this.done === null && this.failure === null;
  }

  /** Resolves with the next message of type `t` (rejects when the worker fails first, or after timeoutMs). */
  async next<T extends M['t']>(t: T, timeoutMs: number): Promise<Extract<M, { t: T }>> {
    if (t === 'done' && this.done !== null) return this.done as unknown as Extract<M, { t: T }>;
    if (this.failure !== null) throw this.failure;
    let timer: NodeJS.Timeout | undefined;
    const m = await new Promise<M | { t: 'error'; message: string }>((resolve) => {
      const w = { t, resolve };
      this.waiters.push(w);
      timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve({ t: 'error', message: `${this.name}: no "${t}" within ${timeoutMs} ms` });
      }, timeoutMs);
    });
    clearTimeout(timer);
    if (m.t === 'error' && t !== 'error') throw this.failure ?? new Error((m as { message: string }).message);
    return m as Extract<M, { t: T }>;
  }

  send(message: object): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Ends the process (SIGKILL) unless it has exited. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface CpuSeconds {
  broker: number | null;
  producer: number | null;
  consumer: number | null;
}

/**
 * CPU seconds the broker, producer and consumer processes (consumers summed) use between two
 * instants of clockMs(), read from /proc at each; null where a process is unknown.
 */
export class CpuWindow {
  private readonly pids: { broker?: number; producer?: number; consumers: Array<number | undefined> };
  private start: CpuSeconds | null = null;
  private end: CpuSeconds | null = null;
  private readonly timers: NodeJS.Timeout[];

  constructor(pids: { broker?: number; producer?: number; consumers: Array<number | undefined> }, fromMs: number, toMs: number) {
    this.pids = pids;
    this.timers = [setTimeout(() => (this.start = this.now()), Math.max(0, fromMs - clockMs())), setTimeout(() => (this.end = this.now()), Math.max(0, toMs - clockMs()))];
  }

  private now(): CpuSeconds {
    const cs = this.pids.consumers.map((p) => cpuSecondsOf(p));
    return { broker: cpuSecondsOf(this.pids.broker), producer: cpuSecondsOf(this.pids.producer), consumer: cs.some((c) => c === null) ? null : cs.reduce((a, b) => a! + b!, 0) };
  }

  /** The seconds used in the window (2 decimals); null for a process unknown at either edge, or before the window ended. */
  seconds(): CpuSeconds {
    const delta = (k: keyof CpuSeconds): number | null => {
      const a = this.start?.[k] ?? null;
      const b = this.end?.[k] ?? null;
      return a === null || b === null ? null : Math.round((b - a) * 100) / 100;
    };
    return { broker: delta('broker'), producer: delta('producer'), consumer: delta('consumer') };
  }

  cancel(): void {
    for (const t of this.timers) clearTimeout(t);
  }
}
