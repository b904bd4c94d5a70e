// A fault run's broker log: every line the broker writes, across all its restarts, in one file,
// with a marked line where each incarnation starts and ends, so that an anomaly a run reports can
// be read against what the broker said at the time. Lines are written synchronously, as they come:
// a harness that dies mid-run leaves the file complete up to that point.
import { closeSync, openSync, writeSync } from 'node:fs';

export class BrokerLog {
  readonly path: string;
  private fd: number | null;
  /** Incarnations started so far: the number of the latest. */
  incarnation = 0;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'a');
  }

  /** One line as the broker wrote it. */
  line(text: string): void {
    if (this.fd !== null) writeSync(this.fd, text + '\n');
  }

  /** A line of the harness's own: `# <ISO time> <what>` (a start, an exit, a fault). */
  mark(what: string): void {
    this.line(`# ${new Date().toISOString()} ${what}`);
  }

  /** Marks a new incarnation: `<what> started (incarnation N, <detail>)`; returns N, for its exit mark. */
  started(what: string, detail: string): number {
    this.mark(`${what} started (incarnation ${++this.incarnation}, ${detail})`);
    return this.incarnation;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

/** Injects a broker fault, marked in `log` (when there is one) as it begins and once it is over. */
export async function loggedFault(log: BrokerLog | null, fault: string, inject: () => Promise<string>): Promise<string> {
  log?.mark(`fault: ${fault}`);
  const text = await inject();
  log?.mark(`fault done: ${text}`);
  return text;
}
