// The `holdfast` command.
import { HoldfastError } from '../util/index.ts';
import { serve, SERVE_USAGE } from './serve.ts';
import { groups, GROUPS_USAGE } from './groups.ts';

const USAGE = `Usage: holdfast <command> [options]

Commands:
  serve      run a broker (holdfast serve --help)
  groups     list consumer groups, describe one with its lag (holdfast groups --help)

Not built yet: topics, produce, consume, bench, verify.`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  if (command === 'serve') {
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(SERVE_USAGE + '\n');
      return 0;
    }
    await serve(rest);
    return -1; // keeps running
  }
  if (command === 'groups') {
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(GROUPS_USAGE + '\n');
      return 0;
    }
    return groups(rest);
  }
  process.stderr.write(`holdfast: unknown command "${command}"\n\n${USAGE}\n`);
  return 2;
}

function describe(err: unknown): string {
  if (err instanceof HoldfastError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`holdfast: ${describe(err)}\n`);
      process.exit(1);
    },
  );
}
