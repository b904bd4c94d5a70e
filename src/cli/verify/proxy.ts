// A TCP proxy for fault injection between clients and a broker: it can cut every connection at
// once, delay data in both directions, or stall it (connections stay open, nothing passes until
// healed — a partition as TCP sees it: bytes are held, never dropped from the middle of a stream). The broker advertises the proxy's port (advertised.port), so clients
// reconnect through it after a cut.
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class FaultProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private delayMs = 0;
  private stalled = false;
  /** Connections cut so far. */
  cuts = 0;
  port = 0;

  private readonly target: { host: string; port: number };

  private constructor(target: { host: string; port: number }) {
    this.target = target;
    this.server = createServer((client) => this.accept(client));
  }

  static async start(target: { host: string; port: number }, port = 0, host = '127.0.0.1'): Promise<FaultProxy> {
    const proxy = new FaultProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(port, host, () => resolve());
    });
    const address = proxy.server.address();
    proxy.port = typeof address === 'object' && address !== null ? address.port : port;
    return proxy;
  }

  private accept(client: Socket): void {
    const upstream = connect(this.target);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const end = (): void => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.forward(client, upstream);
    this.forward(upstream, client);
    if (this.stalled) {
      client.pause();
      upstream.pause();
    }
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.delayMs > 0) {
        // Order is kept: every chunk waits the same delay (timers fire in order for equal delays).
        setTimeout(() => to.write(chunk), this.delayMs);
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!this.stalled) from.resume();
        });
      }
    });
  }

  /** Closes every open connection (clients see a reset, as after a network failure). */
  cutAll(): number {
    let n = 0;
    for (const pair of [...this.pairs]) {
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
      this.pairs.delete(pair);
      n++;
    }
    this.cuts += n;
    return n;
  }

  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Stops reading from every connection (new ones too): requests and answers wait in the buffers. */
  stall(): void {
    this.stalled = true;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream.pause();
    }
  }

  /** Back to a clean network: no delay, nothing stalled (open connections stay). */
  heal(): void {
    this.delayMs = 0;
    if (!this.stalled) return;
    this.stalled = false;
    for (const p of this.pairs) {
      p.client.resume();
      p.upstream.resume();
    }
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
