// One connection to a Kafka-protocol broker: ApiVersions negotiation on connect, pipelined
// requests matched by correlation id, a timeout per request, and typed errors.
import { connect, type Socket } from 'node:net';
import { HoldfastError, type ReceiveSlabs } from '../util/index.ts';
import { API_KEYS, FrameReader, decodeResponse, encodeRequestFrame, errorName, kafkaErrors } from '../protocol/kafka/index.ts';

export interface ConnectionOptions {
  /** Broker host name or address. */
  host: string;
  /** Broker port. */
  port: number;
  /** Sent as client_id in every request header. @default 'holdfast' */
  clientId?: string;
  /** How long connecting may take. @default 10000 */
  connectTimeoutMs?: number;
  /** How long a request may wait for its response. @default 30000 */
  requestTimeoutMs?: number;
  /** Largest response frame accepted; memory is taken as a large response arrives, not on its size prefix alone. @default 268435456 */
  maxResponseBytes?: number;
}

/** A Kafka error code returned by the broker, as a typed error with a stable code. */
export class KafkaProtocolError extends HoldfastError {
  override name = 'KafkaProtocolError';
  /** `options.retriable` overrides Kafka's classification where the context decides (e.g. a topic that must already exist). */
  constructor(errorCode: number, context: string, options: { retriable?: boolean } = {}) {
    const info = kafkaErrors[errorCode];
    super(errorName(errorCode), `${context}: ${errorName(errorCode)}${info?.message ? ` (${info.message})` : ''}`, { retriable: options.retriable ?? info?.retriable ?? false, kafkaErrorCode: errorCode });
  }
}

export class ConnectionError extends HoldfastError {
  override name = 'ConnectionError';
  constructor(message: string, cause?: unknown) {
    super('CONNECTION_ERROR', message, { retriable: true, cause });
  }
}

interface Pending {
  apiKey: number;
  apiVersion: number;
  /** Where the response frame may come from (requestPooled), or null. */
  pool: ReceiveSlabs | null;
  resolve: (body: unknown, frame: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class KafkaConnection {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;
  private nextCorrelationId = 1;
  private failure: Error | null = null;
  private versions = new Map<number, readonly [number, number]>();
  readonly host: string;
  readonly port: number;

  private constructor(socket: Socket, options: ConnectionOptions) {
    this.socket = socket;
    this.host = options.host;
    this.port = options.port;
    this.clientId = options.clientId ?? 'holdfast';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30000;
    socket.setNoDelay(true);
    socket.on('error', (err) => this.fail(new ConnectionError(`connection to ${this.host}:${this.port} failed: ${err.message}`, err)));
    socket.on('close', () => this.fail(new ConnectionError(`connection to ${this.host}:${this.port} closed`)));
  }

  /** Connects and negotiates API versions. */
  static async open(options: ConnectionOptions): Promise<KafkaConnection> {
    // Responses are read straight into their frames (FrameReader): no chunk per read, and a Fetch
    // response is never copied. The broker speaks only when asked, so nothing arrives before the
    // connection exists; if it did, its frames would match no request and be dropped.
    let conn: KafkaConnection | null = null;
    // A response to requestPooled is read into its pool's memory when its correlation id came with
    // its size prefix (almost always: the broker writes a response with one system call).
    // Answers that came whole in one read are copied out of the scratch into the reader's memory,
    // not the pool: their batches are then decoded into views, not copies.
    const reader = new FrameReader(options.maxResponseBytes ?? 268435456, undefined, (frameBytes, head, complete) => {
      if (complete || head.length < 4 || conn === null) return null;
      return conn.pending.get(head.readInt32BE(0))?.pool?.take(frameBytes) ?? null;
    });
    const onread = {
      buffer: () => reader.nextBuffer(),
      callback: (bytes: number): boolean => {
        let frames: Buffer[];
        try {
          frames = reader.filled(bytes);
        } catch (err) {
          if (conn === null) socket?.destroy();
          else conn.badFrame(err as Error);
          return false;
        }
        conn?.onFrames(frames);
        return true;
      },
    };
    let socket: Socket | null = null;
    socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: options.host, port: options.port, onread });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ConnectionError(`connecting to ${options.host}:${options.port} timed out after ${options.connectTimeoutMs ?? 10000} ms`));
      }, options.connectTimeoutMs ?? 10000);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new ConnectionError(`cannot connect to ${options.host}:${options.port}: ${err.message}`, err));
      });
    });
    conn = new KafkaConnection(socket, options);
    try {
      const res = await conn.request<{ errorCode: number; apiKeys: Array<{ apiKey: number; minVersion: number; maxVersion: number }> }>(API_KEYS.ApiVersions, 0, {});
      if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'ApiVersions');
      conn.versions = new Map(res.apiKeys.map((k) => [k.apiKey, [k.minVersion, k.maxVersion] as const]));
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  /** The highest version both sides speak within [min, max]; throws when there is none. */
  version(apiKey: number, min: number, max: number): number {
    const range = this.versions.get(apiKey);
    if (range === undefined || range[1] < min || range[0] > max) {
      throw new HoldfastError('UNSUPPORTED_VERSION', `broker ${this.host}:${this.port} does not support api key ${apiKey} in versions ${min}-${max}`, { kafkaErrorCode: 35 });
    }
    return Math.min(range[1], max);
  }

  /**
   * Sends a request and resolves with its decoded response. Requests are pipelined; each has its own
   * timeout (`options.timeoutMs`, default the connection's requestTimeoutMs), after which it rejects
   * with REQUEST_TIMED_OUT and the connection is closed (its state is unknown from then on).
   */
  request<T = unknown>(apiKey: number, apiVersion: number, body: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
    return this.exchange(apiKey, apiVersion, body, null, options.timeoutMs, (resolve) => (b: unknown) => resolve(b as T));
  }

  /**
   * `request`, with the response frame read into `pool`'s memory when it is large enough to have a
   * buffer of its own (see FrameReader). Resolves with the decoded body and the frame, which holds
   * one reference: views of the frame in the body (a Fetch response's records) stay valid until
   * the caller gives it back with `pool.release(frame)`, after retaining whatever it keeps. A frame
   * not from the pool (small, or the pool's maximum exceeded) makes release a no-op.
   */
  requestPooled<T = unknown>(apiKey: number, apiVersion: number, body: unknown, pool: ReceiveSlabs, options: { timeoutMs?: number } = {}): Promise<{ body: T; frame: Buffer }> {
    return this.exchange(apiKey, apiVersion, body, pool, options.timeoutMs, (resolve) => (b: unknown, frame: Buffer) => resolve({ body: b as T, frame }));
  }

  private exchange<R>(
    apiKey: number,
    apiVersion: number,
    body: unknown,
    pool: ReceiveSlabs | null,
    timeout: number | undefined,
    settle: (resolve: (r: R) => void) => (body: unknown, frame: Buffer) => void,
  ): Promise<R> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const timeoutMs = timeout ?? this.requestTimeoutMs;
    const correlationId = this.nextCorrelation();
    const promise = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new HoldfastError('REQUEST_TIMED_OUT', `request (api ${apiKey} v${apiVersion}) to ${this.host}:${this.port} got no response in ${timeoutMs} ms`, { retriable: true, kafkaErrorCode: 7 }));
        this.close();
      }, timeoutMs);
      this.pending.set(correlationId, { apiKey, apiVersion, pool, resolve: settle(resolve), reject, timer });
    });
    this.writeFrame(encodeRequestFrame(apiKey, apiVersion, correlationId, this.clientId, body));
    return promise;
  }

  /**
   * Sends a request the broker does not answer (Produce with acks=0). Resolves once the frame is
   * handed to the operating system; nothing tells whether the broker stored it.
   */
  send(apiKey: number, apiVersion: number, body: unknown): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const chunks = encodeRequestFrame(apiKey, apiVersion, this.nextCorrelation(), this.clientId, body);
    return new Promise<void>((resolve, reject) => {
      this.writeFrame(chunks, (err) => (err ? reject(new ConnectionError(`write to ${this.host}:${this.port} failed: ${err.message}`, err)) : resolve()));
    });
  }

  /**
   * Writes a frame's chunks with one system call (writev): uncorked, each chunk would be a write
   * of its own, and the broker could wake up for a frame's first bytes alone.
   */
  private writeFrame(chunks: readonly Buffer[], written?: (err?: Error | null) => void): void {
    this.socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.socket.write(chunks[i]);
    this.socket.write(chunks[chunks.length - 1], written);
    this.socket.uncork();
  }

  private nextCorrelation(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) & 0x7fffffff;
    return id;
  }

  private badFrame(err: Error): void {
    this.fail(new ConnectionError(`bad frame from ${this.host}:${this.port}: ${err.message}`, err));
    this.socket.destroy();
  }

  private onFrames(frames: Buffer[]): void {
    for (const frame of frames) {
      const correlationId = frame.length >= 4 ? frame.readInt32BE(0) : -1;
      const p = this.pending.get(correlationId);
      if (p === undefined) continue;
      this.pending.delete(correlationId);
      clearTimeout(p.timer);
      let body: unknown;
      try {
        body = decodeResponse(p.apiKey, p.apiVersion, frame).body;
      } catch (err) {
        p.pool?.release(frame);
        p.reject(err as Error);
        continue;
      }
      p.resolve(body, frame);
    }
  }

  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  get closed(): boolean {
    return this.failure !== null;
  }

  close(): void {
    this.fail(new ConnectionError(`connection to ${this.host}:${this.port} closed by the client`));
    this.socket.destroy();
  }
}

/** Parses 'host:port' (IPv6 as '[::1]:9092'). */
export function parseBroker(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address.trim());
  if (m === null) throw new HoldfastError('INVALID_BROKER_ADDRESS', `broker address "${address}" is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}
