// Peer servers for `bench:compare`: RabbitMQ, NATS (JetStream) and Redis, each started as a child
// process of this one, as the current user, without systemd, listening on 127.0.0.1 only, on free
// ports, with its data in a fresh temp directory that stop() removes. Debian's packages provide
// the binaries (rabbitmq-server, nats-server, redis-server); a missing one is installed with
// apt-get when running as root, otherwise the start fails with the command to run.
//
// Not colliding with a daemon Debian may have started on install (rabbitmq-server.service on 5672
// with epmd on 4369, redis-server.service on 6379): every port here is a free one picked at start,
// RabbitMQ gets its own node name, its own epmd (on its own port), its own Erlang cookie (in a
// temp HOME), and config/env/plugin files of its own instead of /etc/rabbitmq.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type PeerSystem = 'rabbitmq' | 'nats' | 'redis';
export type PeerMode = 'durable' | 'fast';

export const PEER_SYSTEMS: PeerSystem[] = ['rabbitmq', 'nats', 'redis'];

export interface PeerServer {
  system: PeerSystem;
  /** Server version, e.g. "3.10.8". */
  version: string;
  host: string;
  /** The client port (AMQP, NATS, RESP). */
  port: number;
  /** The process whose CPU counts as the broker's: beam.smp, nats-server, redis-server. */
  pid: number;
  /** Temp directory holding the data (and logs); removed by stop(). */
  dir: string;
  /** How the server runs, in words. */
  settings: string;
  /** The last lines of the server's output/log, for error messages. */
  logTail(): string;
  /** Graceful stop (SIGTERM, SIGKILL after 30 s), then removes `dir`. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------- installation

const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

interface Binary {
  /** Debian package. */
  pkg: string;
  /** Where to look: an absolute path, or a name searched on PATH (plus /usr/sbin, /usr/bin). */
  find: () => string | null;
}

function onPath(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const d of dirs) {
    if (d === '') continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

function executable(path: string): string | null {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return null;
  }
}

const BINARIES: Record<PeerSystem, Binary> = {
  // /usr/sbin/rabbitmq-server is Debian's wrapper: as root it re-runs the server as the rabbitmq
  // user (su), as anyone else but rabbitmq it refuses. The script behind it runs as the caller.
  rabbitmq: { pkg: 'rabbitmq-server', find: () => executable(RABBITMQ_SERVER) },
  nats: { pkg: 'nats-server', find: () => onPath('nats-server') },
  redis: { pkg: 'redis-server', find: () => onPath('redis-server') },
};

let aptUpdated = false;

/** The server binary of `system`; installs its Debian package first when missing and running as root. */
export function ensureInstalled(system: PeerSystem): string {
  const b = BINARIES[system];
  const found = b.find();
  if (found !== null) return found;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    throw new Error(`${system}: ${b.pkg} is not installed. Install it with: sudo apt-get update && sudo apt-get install -y ${b.pkg}`);
  }
  const apt = (args: string[]): void => {
    process.stderr.write(`[peers] apt-get ${args.join(' ')}\n`);
    // Output to stderr: stdout carries the JSON results.
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.error !== undefined) throw new Error(`apt-get ${args.join(' ')}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} exited with ${r.status}`);
  };
  if (!aptUpdated) {
    apt(['update']);
    aptUpdated = true;
  }
  apt(['install', '-y', b.pkg]);
  const after = b.find();
  if (after === null) throw new Error(`${system}: apt-get install -y ${b.pkg} finished but the server binary is still missing`);
  return after;
}

// ---------------------------------------------------------------- helpers

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Opens a TCP connection, writes `send` (if any) and resolves with what arrives until `until` matches; rejects on error/timeout. */
function tcpProbe(port: number, send: string | null, until: RegExp, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: HOST, port });
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('probe timed out'));
    }, timeoutMs);
    sock.on('connect', () => {
      if (send !== null) sock.write(send);
    });
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (until.test(got)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed'));
    });
  });
}

/** Resolves once a TCP connection to `port` opens (and closes it). */
function tcpOpen(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: HOST, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
  });
}

/** Children of `pid` (from /proc/<pid>/task/<pid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The first descendant of `pid` (or `pid` itself) whose command name is `comm`. */
function findDescendant(pid: number, comm: string): number | null {
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (commOf(p) === comm) return p;
    queue.push(...childrenOf(p));
  }
  return null;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Children started here and not yet stopped, killed (SIGKILL) if this process exits first. */
const live = new Set<ChildProcess>();
/** Temp directories of servers not yet stopped, removed by killAllNow(). */
const liveDirs = new Set<string>();

function tempDirFor(system: PeerSystem): string {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-peer-${system}-`));
  liveDirs.add(dir);
  return dir;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  liveDirs.delete(dir);
}
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', killAllNow);
  }
}

/**
 * SIGKILLs every server process started here that is still running and removes the servers' temp
 * directories (for signal handlers and exit).
 */
export function killAllNow(): void {
  for (const c of live) {
    try {
      // RabbitMQ: the shell script is the child; beam.smp is its child.
      const beam = c.pid === undefined ? null : findDescendant(c.pid, 'beam.smp');
      if (beam !== null) process.kill(beam, 'SIGKILL');
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) {
    try {
      removeDir(dir);
    } catch {
      // a dying server may still be writing; leave it
    }
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Spawns `cmd` with stdout and stderr appended to `logFile`. */
function spawnLogged(cmd: string, args: string[], logFile: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd });
    track(child);
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Polls `probe` until it resolves; fails when the child exits or after READY_TIMEOUT_MS. */
async function waitReady(what: string, child: ChildProcess, probe: () => Promise<unknown>, logTail: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastErr: unknown = null;
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${logTail()}`);
    try {
      await probe();
      return;
    } catch (err) {
      lastErr = err;
    }
    await sleep(200);
  }
  throw new Error(`${what} not ready within ${READY_TIMEOUT_MS / 1000} s (${(lastErr as Error)?.message ?? lastErr}):\n${logTail()}`);
}

function versionOf(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const m = re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return m?.[1] ?? 'unknown';
}

// ---------------------------------------------------------------- RabbitMQ

/**
 * RabbitMQ (Debian's 3.10.x on Erlang/OTP 25): /usr/lib/rabbitmq/bin/rabbitmq-server in the
 * foreground, node hfbench-<random>@localhost, AMQP on 127.0.0.1:<free port>, Erlang distribution
 * on 127.0.0.1:<free port>, an epmd of its own on 127.0.0.1:<free port>, a temp HOME with a fresh
 * Erlang cookie, no plugins, an empty rabbitmq.conf (defaults otherwise). Ready when an AMQP
 * connection (guest/guest) opens.
 */
export async function startRabbitMQ(): Promise<PeerServer> {
  const script = ensureInstalled('rabbitmq');
  const epmdBin = onPath('epmd');
  if (epmdBin === null) throw new Error('rabbitmq: epmd (package erlang-base) is not installed');
  const dir = tempDirFor('rabbitmq');
  const [amqpPort, distPort, epmdPort] = await freePorts(3);
  const home = join(dir, 'home');
  mkdirSync(home);
  writeFileSync(join(home, '.erlang.cookie'), randomBytes(16).toString('hex').toUpperCase(), { mode: 0o400 });
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  writeFileSync(join(dir, 'rabbitmq.conf'), '');
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const nodeName = `hfbench-${randomBytes(4).toString('hex')}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: HOST,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_USE_LONGNAME: 'false',
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins-expand'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-kernel inet_dist_use_interface {127,0,0,1}`,
  };
  // NOTIFY_SOCKET would make the script think it runs under systemd.
  delete env.NOTIFY_SOCKET;
  const outLog = join(dir, 'stdout.log');
  // Our own epmd in the foreground (a child we can stop by pid); erl finds it on ERL_EPMD_PORT
  // and does not start (or use) the system's.
  const epmd = spawnLogged(epmdBin, ['-port', String(epmdPort), '-address', HOST], join(dir, 'epmd.log'), { env });
  await waitReady('epmd', epmd, () => tcpOpen(epmdPort), () => tail(join(dir, 'epmd.log')));
  const child = spawnLogged(script, [], outLog, { env, cwd: dir });
  const logTail = (): string => {
    const logDir = join(dir, 'log');
    const logs = existsSync(logDir) ? readdirSync(logDir).filter((f) => f.endsWith('.log')).map((f) => tail(join(logDir, f), 10)) : [];
    return [tail(outLog, 10), ...logs].filter((s) => s !== '').join('\n');
  };
  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    await stopChild(epmd);
    removeDir(dir);
  };
  try {
    const amqp = await import('amqplib');
    await waitReady(`rabbitmq-server (node ${nodeName})`, child, async () => {
      const conn = await amqp.connect({ hostname: HOST, port: amqpPort, username: 'guest', password: 'guest', heartbeat: 0 });
      await conn.close();
    }, logTail);
    const beam = findDescendant(child.pid!, 'beam.smp');
    if (beam === null) throw new Error('rabbitmq-server is up but its beam.smp process was not found');
    const version = versionFromLibDir();
    return {
      system: 'rabbitmq',
      version,
      host: HOST,
      port: amqpPort,
      pid: beam,
      dir,
      settings: `RabbitMQ ${version} (Debian package, Erlang/OTP ${erlangRelease()}), single node, default settings (empty rabbitmq.conf, no plugins), data in a temp dir`,
      logTail,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function versionFromLibDir(): string {
  try {
    const d = readdirSync('/usr/lib/rabbitmq/lib').find((n) => n.startsWith('rabbitmq_server-'));
    return d === undefined ? 'unknown' : d.slice('rabbitmq_server-'.length);
  } catch {
    return 'unknown';
  }
}

function erlangRelease(): string {
  try {
    const dirs = readdirSync('/usr/lib/erlang/releases').filter((n) => /^\d+$/.test(n));
    return dirs.sort().at(-1) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------- NATS

/**
 * NATS (Debian's 2.9.x): `nats-server -js -sd <dir> -a 127.0.0.1 -p <free port>`, no config file,
 * so JetStream runs with its defaults. Ready when the client port answers with INFO and the
 * JetStream API answers (account info).
 */
export async function startNats(): Promise<PeerServer> {
  const bin = ensureInstalled('nats');
  const dir = tempDirFor('nats');
  const [port] = await freePorts(1);
  const log = join(dir, 'nats.log');
  const storeDir = join(dir, 'store');
  const child = spawnLogged(bin, ['-js', '-sd', storeDir, '-a', HOST, '-p', String(port), '-n', `hfbench-${randomBytes(4).toString('hex')}`], log);
  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    removeDir(dir);
  };
  try {
    const nats = await import('nats');
    await waitReady('nats-server', child, async () => {
      await tcpProbe(port, null, /^INFO /);
      const nc = await nats.connect({ servers: `${HOST}:${port}`, reconnect: false });
      try {
        const jsm = await nc.jetstreamManager();
        await jsm.getAccountInfo();
      } finally {
        await nc.close();
      }
    }, () => tail(log));
    const version = versionOf(bin, ['--version'], /v(\d+\.\d+\.\d+)/);
    return {
      system: 'nats',
      version,
      host: HOST,
      port,
      pid: child.pid!,
      dir,
      settings: `nats-server ${version} (Debian package), single server, JetStream enabled with file store in a temp dir, otherwise defaults`,
      logTail: () => tail(log),
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

// ---------------------------------------------------------------- Redis

/**
 * Redis (Debian's 7.0.x): `redis-server --bind 127.0.0.1 --port <free port> --dir <dir>
 * --appendonly yes --appendfsync <always|no> --save ''` (no config file: defaults otherwise,
 * RDB snapshots off). Ready when PING answers PONG.
 */
export async function startRedis(o: { appendfsync: 'always' | 'no' }): Promise<PeerServer> {
  const bin = ensureInstalled('redis');
  const dir = tempDirFor('redis');
  const [port] = await freePorts(1);
  const log = join(dir, 'redis.log');
  const args = ['--bind', HOST, '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', o.appendfsync, '--save', '', '--daemonize', 'no', '--logfile', log];
  const child = spawnLogged(bin, args, join(dir, 'stdout.log'));
  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    removeDir(dir);
  };
  try {
    await waitReady('redis-server', child, () => tcpProbe(port, 'PING\r\n', /\+PONG\r\n/), () => [tail(join(dir, 'stdout.log')), tail(log)].join('\n'));
    const version = versionOf(bin, ['--version'], /v=(\d+\.\d+\.\d+)/);
    return {
      system: 'redis',
      version,
      host: HOST,
      port,
      pid: child.pid!,
      dir,
      settings: `redis-server ${version} (Debian package), no config file, AOF on (appendonly yes, appendfsync ${o.appendfsync}), RDB snapshots off (save ''), data in a temp dir`,
      logTail: () => tail(log),
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

// ---------------------------------------------------------------- by system and mode

/**
 * The server for one peer run. RabbitMQ and NATS run the same way in both modes (the mode is a
 * queue/stream setting, see workloads.ts); Redis durable = appendfsync always, fast = no.
 */
export function startPeerServer(system: PeerSystem, mode: PeerMode): Promise<PeerServer> {
  switch (system) {
    case 'rabbitmq':
      return startRabbitMQ();
    case 'nats':
      return startNats();
    case 'redis':
      return startRedis({ appendfsync: mode === 'durable' ? 'always' : 'no' });
  }
}
