// Test helpers: brokers on 127.0.0.1 with real data directories in temp dirs — embedded in the test
// process, or as a child process (`holdfast serve`) that a test can SIGKILL.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startBroker, type Broker } from '../../src/broker/index.ts';
import { silentLogger } from '../../src/util/index.ts';
import { NODE_FLAGS, nodeArgsFromEnv } from '../../src/cli/index.ts';
import { TestKafkaClient } from './kafka-client.ts';

export function tempDir(prefix = 'holdfast-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface EmbeddedBroker {
  broker: Broker;
  dataDir: string;
  bootstrap: string;
  close(): Promise<void>;
}

/**
 * An in-process broker on a free port with a fresh data directory (the caller removes it with
 * removeDir). A broker that refuses to start (a test of a bad config) leaves no directory behind
 * unless the caller gave it one.
 */
export async function embeddedBroker(config: Record<string, unknown> = {}, dataDir?: string): Promise<EmbeddedBroker> {
  const dir = dataDir ?? tempDir();
  let broker: Broker;
  try {
    broker = await startBroker({
      dataDir: dir,
      port: 0,
      config,
      logger: process.env.HOLDFAST_TEST_LOG ? undefined : silentLogger,
    });
  } catch (err) {
    if (dataDir === undefined) removeDir(dir);
    throw err;
  }
  return {
    broker,
    dataDir: dir,
    bootstrap: `127.0.0.1:${broker.port}`,
    async close() {
      await broker.close();
    },
  };
}

/** An embedded broker with `config` and one TestKafkaClient connected to it for the length of `fn`; closed and removed after. */
export async function withBroker(config: Record<string, unknown>, fn: (b: EmbeddedBroker, c: TestKafkaClient) => Promise<void>): Promise<void> {
  const b = await embeddedBroker(config);
  const c = await TestKafkaClient.connect(b.bootstrap);
  try {
    await fn(b, c);
  } finally {
    c.close();
    await b.close();
    removeDir(b.dataDir);
  }
}

const CLI = resolve('src/cli/main.ts');

/** Runs `holdfast <args>` (the sources, on this Node) to its end: exit code (-1 when killed) and output. */
export function holdfastCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

export interface BrokerProcess {
  child: ChildProcess;
  port: number;
  bootstrap: string;
  stderr: string[];
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `holdfast serve` as a child process and waits for its ready line. */
export async function spawnBroker(dataDir: string, args: string[] = [], port = 0): Promise<BrokerProcess> {
  // HOLDFAST_BROKER_NODE_ARGS passes node flags to the broker process (e.g. --cpu-prof for profiling).
  const nodeArgs = nodeArgsFromEnv('HOLDFAST_BROKER_NODE_ARGS');
  const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeArgs, CLI, 'serve', '--data-dir', dataDir, '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > 2000) stderr.shift();
    if (process.env.HOLDFAST_TEST_LOG) process.stderr.write(`[broker] ${l}\n`);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const ready = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`broker did not become ready in 60 s; stderr:\n${stderr.join('\n')}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (process.env.HOLDFAST_TEST_LOG) process.stderr.write(`[broker] ${line}\n`);
      const m = /^holdfast ready kafka=([^ ]+):(\d+) data=/.exec(line);
      if (m) {
        clearTimeout(timer);
        res(Number(m[2]));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`broker exited (code ${code}, signal ${signal}) before ready; stderr:\n${stderr.join('\n')}`));
    });
  });
  return {
    child,
    port: ready,
    bootstrap: `127.0.0.1:${ready}`,
    stderr,
    exited,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
