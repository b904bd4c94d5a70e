// The `holdfast` command.
import { HoldfastError } from '../util/index.ts';
import { serve, SERVE_USAGE } from './serve.ts';
import { groups, GROUPS_USAGE } from './groups.ts';
import { topics, TOPICS_USAGE } from './topics.ts';
import { produce, PRODUCE_USAGE } from './produce.ts';
import { consume, CONSUME_USAGE } from './consume.ts';
import { verify, VERIFY_USAGE } from './verify/index.ts';
import { bench, BENCH_USAGE } from './bench/index.ts';
import { EXIT, EXIT_CODES_HELP, UsageError, exitCodeOf } from './common.ts';

const USAGE = `Usage: holdfast <command> [options]

Commands:
  serve      run a broker
  topics     create, list, describe, delete topics
  produce    send lines from stdin or a file as messages
  consume    print messages, from a group or from an offset or time
  groups     list, describe (with lag), reset offsets of, delete consumer groups
  verify     fault-injection run with checkers (nothing lost, duplicated, reordered, …)
  bench      W1/W2/L/F workloads with separate producer and consumer processes, JSON and SVG charts

holdfast <command> --help shows a command's options.
${EXIT_CODES_HELP}`;

const COMMANDS: Record<string, { usage: string; run: (argv: string[]) => Promise<number> }> = {
  topics: { usage: TOPICS_USAGE, run: (argv) => topics(argv) },
  produce: { usage: PRODUCE_USAGE, run: (argv) => produce(argv) },
  consume: { usage: CONSUME_USAGE, run: (argv) => consume(argv) },
  groups: { usage: GROUPS_USAGE, run: (argv) => groups(argv) },
  verify: { usage: VERIFY_USAGE, run: (argv) => verify(argv) },
  bench: { usage: BENCH_USAGE, run: (argv) => bench(argv) },
};

function describe(err: unknown): string {
  if (err instanceof UsageError) return err.message;
  if (err instanceof HoldfastError) return err.message.includes(err.code) ? err.message : `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Runs a command; resolves with its exit code, or -1 when it keeps running (serve). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const wantsHelp = rest.includes('-h') || rest.includes('--help');
  if (command === 'serve') {
    if (wantsHelp) {
      process.stdout.write(SERVE_USAGE + '\n');
      return EXIT.OK;
    }
    await serve(rest);
    return -1; // keeps running
  }
  const cmd = COMMANDS[command];
  if (cmd === undefined) {
    process.stderr.write(`holdfast: unknown command "${command}"\n\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  if (wantsHelp) {
    process.stdout.write(cmd.usage + '\n');
    return EXIT.OK;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    const code = exitCodeOf(err);
    process.stderr.write(`holdfast ${command}: ${describe(err)}\n`);
    if (code === EXIT.USAGE) process.stderr.write(`\n${cmd.usage}\n`);
    return code;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      // Exit once stdout has drained (it may be a pipe), even if a socket or timer lingers.
      if (code >= 0) process.stdout.write('', () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`holdfast: ${describe(err)}\n`);
      process.exit(EXIT.FAILED);
    },
  );
}
