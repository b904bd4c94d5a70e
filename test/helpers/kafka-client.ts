// A minimal Kafka protocol client for tests: one socket, pipelined requests matched by correlation
// id, built on src/protocol/kafka. Tests use it to talk to the broker at the wire level.
import { connect, type Socket } from 'node:net';
import { API_KEYS, FrameDecoder, encodeRequestFrame, decodeResponse } from '../../src/protocol/kafka/index.ts';
import { buildBatch } from '../../src/record/index.ts';

interface Waiter {
  apiKey: number;
  apiVersion: number;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
}

export class TestKafkaClient {
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder(1 << 30);
  private readonly waiters = new Map<number, Waiter>();
  private nextCorrelationId = 1;
  private closedError: Error | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) {
        const correlationId = frame.readInt32BE(0);
        const w = this.waiters.get(correlationId);
        if (w === undefined) continue;
        this.waiters.delete(correlationId);
        try {
          w.resolve(decodeResponse(w.apiKey, w.apiVersion, frame).body);
        } catch (err) {
          w.reject(err as Error);
        }
      }
    });
    const fail = (err: Error): void => {
      this.closedError = err;
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(bootstrap: string): Promise<TestKafkaClient> {
    const [host, port] = bootstrap.split(':');
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port: Number(port) }, () => {
        socket.off('error', reject);
        resolve(new TestKafkaClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends a request; resolves with the decoded response body. */
  request<T = any>(apiKey: number, apiVersion: number, body: unknown): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const correlationId = this.nextCorrelationId++;
    const p = new Promise<T>((resolve, reject) => {
      this.waiters.set(correlationId, { apiKey, apiVersion, resolve: resolve as (b: unknown) => void, reject });
    });
    for (const chunk of encodeRequestFrame(apiKey, apiVersion, correlationId, 'holdfast-test', body)) this.socket.write(chunk);
    return p;
  }

  /** Sends a request that gets no response (Produce acks=0). */
  send(apiKey: number, apiVersion: number, body: unknown): void {
    for (const chunk of encodeRequestFrame(apiKey, apiVersion, this.nextCorrelationId++, 'holdfast-test', body)) this.socket.write(chunk);
  }

  /** Writes raw bytes (fuzzing). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Produces one record (Produce v7, acks=all) to a partition: the partition's error code and base offset. */
  async produce(topic: string, partition: number, value: Buffer | string): Promise<{ errorCode: number; baseOffset: number }> {
    const res = await this.request(API_KEYS.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: buildBatch({ records: [{ value }] }) }] }] });
    const p = res.responses[0].partitionResponses[0];
    return { errorCode: p.errorCode, baseOffset: Number(p.baseOffset) };
  }

  /** Stops reading the socket (answers back up in the kernel, then in the broker); resume() reads on. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }
}
