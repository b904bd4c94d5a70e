// The Kafka listener: TCP connections, framing, pipelining. Requests on one connection are decoded
// and started in arrival order (so a partition's appends keep their order), may complete out of
// order, and are answered strictly in order. In-flight work per connection is bounded: past the
// limit, or while answers wait unsent, the broker stops reading that socket until they drain. A
// connection with nothing in flight and no bytes moving for connections.max.idle.ms is closed, as
// Kafka does, so connections whose clients vanished do not use up max.connections.
//
// Requests are read with net.Socket's `onread` into a FrameReader: a request's first bytes land in
// the connection's reused scratch buffer, and the rest of a large one (a Produce request) is read
// by the kernel straight into its own buffer: no chunk is allocated per read, and only what came in
// a request's first read is copied.
// net.Server offers no `onread`, so each accepted socket is taken over (adoptWithOnread below).
import { createServer, Socket as NetSocket, type Server, type Socket } from 'node:net';
import { receiveSlabs, type ByteBudget, type Logger } from '../util/index.ts';
import {
  FrameReader,
  decodeRequest,
  encodeResponseFrame,
  encodeApiVersionsUnsupported,
  ProtocolError,
  UnsupportedVersionError,
  API_KEYS,
} from '../protocol/kafka/index.ts';

export interface RequestContext {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  connectionId: number;
  remote: string;
  /**
   * Set by a handler whose answer pins memory: called once, when the kernel has taken the whole
   * answer or when it will never be sent (connection closed, handler failed).
   */
  onSent: (() => void) | null;
}

/** Returns the response body, or null when the request gets no response (Produce acks=0). */
export type RequestHandler = (ctx: RequestContext, body: unknown) => unknown | Promise<unknown>;

export interface KafkaServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  maxInflightPerConnection: number;
  maxConnections: number;
  /**
   * Bytes of request frames all connections may hold at once, from each frame's size prefix until
   * its handler has finished (queued.max.request.bytes); null for no bound. A frame that does not
   * fit stops its connection's reading until it does.
   */
  requestBytes: ByteBudget | null;
  /**
   * Produce frames are read into `receiveSlabs`, reused memory whose holders (this listener until
   * the handler finishes, the log's writer, tail cache and fetch answers) count their references;
   * false: into garbage-collected memory, as every other frame.
   */
  poolProduceFrames: boolean;
  /** A connection with no request in flight and no bytes read or written this long is closed. */
  connectionsMaxIdleMs: number;
  logger: Logger;
  handler: RequestHandler;
  /** The versions this broker serves, by API key; outside them a request closes the connection. */
  supported: ReadonlyMap<number, readonly [number, number]>;
}

interface Slot {
  ready: boolean;
  chunks: Buffer[];
  onSent: (() => void) | null;
}

/** Idle sweeps per connections.max.idle.ms: a connection is closed between 1 and 1.1 times it after its last activity. */
const IDLE_SWEEPS = 10;

/**
 * Takes over a socket net.Server accepted paused (pauseOnConnect), so that its reads go into the
 * buffers `onread` chooses, as net.connect() allows for client sockets: the accepted socket's
 * handle gets a new net.Socket, and the old one is dropped without closing it. The new socket
 * counts as the server's connection, so server.close() waits for it.
 */
function adoptWithOnread(accepted: Socket, server: Server, onread: { buffer: () => Buffer; callback: (bytes: number) => boolean }): Socket {
  const old = accepted as unknown as { _handle: { useUserBuffer?: unknown } | null };
  const handle = old._handle;
  if (handle === null || typeof handle.useUserBuffer !== 'function') throw new Error('this Node.js runtime cannot read an accepted socket into chosen buffers (net.Socket onread); Holdfast needs Node.js 24');
  old._handle = null;
  const socket = new NetSocket({ handle, onread } as unknown as ConstructorParameters<typeof NetSocket>[0]);
  const owned = socket as unknown as { server: Server; _server: Server };
  owned.server = server;
  owned._server = server;
  return socket;
}

/** Points a socket read with onread at `buffer` for its next read (FrameReader: after a resume()). */
function readNextInto(socket: Socket, buffer: Buffer): void {
  (socket as unknown as { _handle: { useUserBuffer(b: Buffer): void } | null })._handle?.useUserBuffer(buffer);
}

class Connection {
  private readonly reader: FrameReader;
  private readonly queue: Slot[] = [];
  private paused = false;
  private closed = false;
  /** Withdraws this connection's wait for request bytes, while it waits (its reader is held). */
  private cancelBytesWait: (() => void) | null = null;
  /**
   * Request bytes taken for frames not yet handed to onFrame: the one being assembled, and any a
   * failing push() never returned. Given back on close; a frame handed over gives back its own.
   */
  private admittedBytes = 0;
  private decoderReleased = false;
  /** Bytes moved since the last idle sweep. */
  private active = true;
  /** Consecutive idle sweeps with nothing in flight and nothing moved. */
  private idleSweeps = 0;
  readonly id: number;
  readonly remote: string;
  private readonly socket: Socket;
  private readonly options: KafkaServerOptions;
  private lastClientId: string | null = null;

  constructor(accepted: Socket, server: Server, id: number, options: KafkaServerOptions) {
    this.id = id;
    this.options = options;
    this.remote = `${accepted.remoteAddress}:${accepted.remotePort}`;
    const budget = options.requestBytes;
    const pool = options.poolProduceFrames;
    this.reader = new FrameReader(
      options.maxFrameBytes,
      undefined,
      // Produce requests into the pool (up to its largest frame), when their API key came with
      // their size prefix. Other requests that came whole are copied out of the scratch (small
      // ones into Node's shared pool; what the group coordinator keeps of them, it copies again
      // with ownedCopy); the rest get the reader's memory, which grows with the bytes that arrive.
      (bytes, head, complete) => (pool && head.length >= 2 && head.readInt16BE(0) === API_KEYS.Produce ? receiveSlabs.take(bytes) : null) ?? (complete ? Buffer.allocUnsafe(bytes) : null),
      budget === null ? null : (bytes) => this.admit(budget, bytes),
    );
    const socket = adoptWithOnread(accepted, server, { buffer: () => this.reader.nextBuffer(), callback: (bytes) => this.onRead(bytes) });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true); // the kernel notices peers that vanished without a FIN
    socket.on('drain', () => {
      this.active = true;
      this.updateReading();
    });
    socket.on('error', (err) => options.logger.debug('connection error', { connection: this.id, remote: this.remote, err }));
    socket.on('close', () => {
      this.closed = true;
      this.dropQueue();
    });
  }

  /** Called once the connection has closed. */
  onClose(listener: () => void): void {
    this.socket.on('close', listener);
  }

  /**
   * A frame's size prefix was read: it may be assembled if its bytes fit the budget. If not, the
   * reader holds before it and reading stops until they are granted, in arrival order.
   */
  private admit(budget: ByteBudget, bytes: number): boolean {
    if (budget.tryTake(bytes)) {
      this.admittedBytes += bytes;
      return true;
    }
    this.cancelBytesWait = budget.takeWhenFree(bytes, () => {
      this.cancelBytesWait = null;
      // Not from inside the release that granted it: that may be another connection's handler.
      queueMicrotask(() => this.onBytesGranted(bytes));
    });
    return false;
  }

  private onBytesGranted(bytes: number): void {
    if (this.closed) {
      this.options.requestBytes?.release(bytes);
      return;
    }
    this.admittedBytes += bytes;
    this.decode(() => this.reader.resume());
  }

  /** Gives back a frame's bytes once it needs them no more (its handler finished, or it was never handled). */
  private releaseFrame(frame: Buffer): void {
    this.options.requestBytes?.release(frame.length);
    receiveSlabs.release(frame); // nothing unless pooled
  }

  /** On close (once): what was taken for frames never handed over, and any wait for more. */
  private releaseDecoder(): void {
    if (this.decoderReleased) return;
    this.decoderReleased = true;
    this.cancelBytesWait?.();
    this.cancelBytesWait = null;
    if (this.admittedBytes > 0) this.options.requestBytes?.release(this.admittedBytes);
    this.admittedBytes = 0;
  }

  /** `bytes` were read into the reader's nextBuffer(). */
  private onRead(bytes: number): boolean {
    if (this.closed) return false;
    this.active = true;
    this.decode(() => this.reader.filled(bytes));
    return true; // decode() stopped reading if it must
  }

  /** Handles the frames `step` (a read or a resume) completes; a bad frame closes the connection. */
  private decode(step: () => Buffer[]): void {
    let frames: Buffer[];
    try {
      frames = step();
    } catch (err) {
      this.reject('bad frame', err);
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.onFrame(frame);
    }
    this.updateReading(); // the reader may now be held before a frame whose bytes are not free
  }

  private onFrame(frame: Buffer): void {
    if (this.options.requestBytes !== null) this.admittedBytes -= frame.length; // from here the frame gives back its own
    // ApiVersions in a version this broker does not serve is answered without parsing the body
    // (which may be in a format we do not know), so the client can step down — Kafka's rule.
    if (frame.length >= 8 && frame.readInt16BE(0) === API_KEYS.ApiVersions) {
      const range = this.options.supported.get(API_KEYS.ApiVersions);
      const version = frame.readInt16BE(2);
      if (range === undefined || version < range[0] || version > range[1]) {
        this.releaseFrame(frame);
        this.answerUnsupportedApiVersions(frame.readInt32BE(4));
        return;
      }
    }
    let decoded: ReturnType<typeof decodeRequest>;
    try {
      decoded = decodeRequest(frame);
    } catch (err) {
      this.releaseFrame(frame);
      if (err instanceof UnsupportedVersionError && err.apiKey === API_KEYS.ApiVersions) {
        this.answerUnsupportedApiVersions(err.correlationId);
        return;
      }
      this.reject('undecodable request', err);
      return;
    }
    const { header, body } = decoded;
    this.lastClientId = header.clientId;
    const range = this.options.supported.get(header.apiKey);
    if (range === undefined || header.apiVersion < range[0] || header.apiVersion > range[1]) {
      this.releaseFrame(frame);
      if (header.apiKey === API_KEYS.ApiVersions) {
        this.answerUnsupportedApiVersions(header.correlationId);
        return;
      }
      this.reject(`unsupported api key ${header.apiKey} version ${header.apiVersion}`, undefined);
      return;
    }
    const ctx: RequestContext = { ...header, connectionId: this.id, remote: this.remote, onSent: null };
    const slot: Slot = { ready: false, chunks: [], onSent: null };
    this.queue.push(slot);
    let result: unknown;
    try {
      result = this.options.handler(ctx, body);
    } catch (err) {
      this.releaseFrame(frame);
      this.fail(ctx, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (resBody) => {
          this.releaseFrame(frame);
          this.complete(slot, ctx, resBody);
        },
        (err) => {
          this.releaseFrame(frame);
          this.fail(ctx, err);
        },
      );
    } else {
      this.releaseFrame(frame);
      this.complete(slot, ctx, result);
    }
    this.updateReading();
  }

  private answerUnsupportedApiVersions(correlationId: number): void {
    const range = this.options.supported.get(API_KEYS.ApiVersions) ?? [0, 0];
    const slot: Slot = { ready: true, chunks: encodeApiVersionsUnsupported(correlationId, range), onSent: null };
    this.queue.push(slot);
    this.flush();
  }

  private complete(slot: Slot, ctx: RequestContext, body: unknown): void {
    if (this.closed) {
      ctx.onSent?.();
      return;
    }
    if (body !== null && body !== undefined) {
      try {
        slot.chunks = encodeResponseFrame(ctx.apiKey, ctx.apiVersion, ctx.correlationId, body);
      } catch (err) {
        this.fail(ctx, err);
        return;
      }
    }
    slot.onSent = ctx.onSent;
    slot.ready = true;
    this.flush();
  }

  private flush(): void {
    if (this.closed) return;
    let wrote = false;
    while (this.queue.length > 0 && this.queue[0].ready) {
      const slot = this.queue.shift() as Slot;
      const last = slot.chunks.length - 1;
      if (last < 0) {
        slot.onSent?.();
        continue;
      }
      if (!wrote) this.socket.cork();
      wrote = true;
      for (let i = 0; i < last; i++) this.socket.write(slot.chunks[i]);
      // The callback runs once the kernel has the bytes, or with an error if the socket is destroyed first.
      if (slot.onSent === null) this.socket.write(slot.chunks[last]);
      else this.socket.write(slot.chunks[last], slot.onSent);
    }
    if (wrote) {
      this.socket.uncork();
      this.active = true;
    }
    this.updateReading();
  }

  /**
   * Called every sweep (connectionsMaxIdleMs / IDLE_SWEEPS); returns true once the connection has
   * had nothing in flight and moved no bytes for a whole connectionsMaxIdleMs.
   */
  idleSweep(): boolean {
    // Waiting for request bytes (queued.max.request.bytes) is waiting on the broker, not idleness.
    if (this.active || this.queue.length > 0 || this.reader.isHeld) {
      this.active = false;
      this.idleSweeps = 0;
      return false;
    }
    return ++this.idleSweeps >= IDLE_SWEEPS;
  }

  /**
   * Reads this socket only while it has fewer than max.inflight requests waiting and its answers
   * are not backed up: a client that stops reading its answers (or reads them slower than it asks)
   * then fills its own buffers, not the broker's memory. Called when either changes ('drain').
   */
  private updateReading(): void {
    if (this.closed) return;
    const stop = this.queue.length >= this.options.maxInflightPerConnection || this.socket.writableNeedDrain || !this.reader.canRead;
    if (stop === this.paused) return;
    this.paused = stop;
    if (stop) {
      this.socket.pause();
      return;
    }
    // The buffer the socket reads into next was chosen when it stopped; since then the reader may
    // have resumed, and its next bytes belong elsewhere.
    readNextInto(this.socket, this.reader.nextBuffer());
    this.socket.resume();
  }

  /** Answers that will not be sent now: those already complete let go of what they pin. */
  private dropQueue(): void {
    this.releaseDecoder();
    for (const slot of this.queue) slot.onSent?.();
    this.queue.length = 0;
  }

  /** A handler bug: log it and close the connection; the client reconnects and retries. */
  private fail(ctx: RequestContext, err: unknown): void {
    ctx.onSent?.();
    this.options.logger.error('request failed', { api: ctx.apiKey, version: ctx.apiVersion, client: ctx.clientId, remote: this.remote, err });
    this.close();
  }

  /** Malformed input from the client: log it, naming the client, and close the connection. */
  private reject(reason: string, err: unknown): void {
    const detail = err instanceof ProtocolError || err instanceof Error ? err.message : undefined;
    this.options.logger.warn(`closing connection: ${reason}`, { remote: this.remote, client: this.lastClientId, detail });
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropQueue();
    this.socket.destroy();
  }
}

export class KafkaServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly options: KafkaServerOptions;
  private nextConnectionId = 1;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(options: KafkaServerOptions) {
    this.options = options;
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.onConnection(socket));
  }

  private onConnection(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.options.logger.warn('closing connection: max.connections reached', { remote: `${socket.remoteAddress}:${socket.remotePort}`, limit: this.options.maxConnections });
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this.server, this.nextConnectionId++, this.options);
    this.connections.add(conn);
    conn.onClose(() => this.connections.delete(conn));
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        if (addr === null || typeof addr === 'string') return reject(new Error('listener has no address'));
        this.idleTimer = setInterval(() => this.closeIdle(), Math.max(1, Math.floor(this.options.connectionsMaxIdleMs / IDLE_SWEEPS)));
        this.idleTimer.unref();
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  private closeIdle(): void {
    for (const c of this.connections) {
      if (!c.idleSweep()) continue;
      this.options.logger.debug('closing idle connection', { connection: c.id, remote: c.remote, idleMs: this.options.connectionsMaxIdleMs });
      c.close();
      this.connections.delete(c);
    }
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, closes every connection. */
  async close(): Promise<void> {
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.close();
    this.connections.clear();
    await closed;
  }
}
