// `holdfast serve`: one broker process with one data directory.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../util/index.ts';
import { NODE_FLAGS } from './node-flags.ts';
import { Broker, applyConfig, defaultBrokerConfig, type BrokerConfig } from '../broker/index.ts';

export const SERVE_USAGE = `Usage: holdfast serve [options]

Options:
  --data-dir DIR     data directory (default ./data)
  --port N           Kafka listener port, 0 picks a free one (default 9092)
  --host HOST        interface to bind (default 127.0.0.1)
  --node-id N        broker id (default 1)
  --config FILE      YAML config file; flags override it (keys: see README "Configuration")
  -h, --help         show this help`;

export function loadServeConfig(argv: string[]): BrokerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'node-id': { type: 'string' },
      config: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  let config = defaultBrokerConfig();
  if (values.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${values.config}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${values.config} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${values.config} must hold a map of keys`);
      config = applyConfig(config, parsed as Record<string, unknown>, values.config);
    }
  }
  return applyConfig(
    config,
    { 'data.dir': values['data-dir'], port: values.port, host: values.host, 'node.id': values['node-id'] },
    'command line',
  );
}

export async function serve(argv: string[]): Promise<void> {
  const config = loadServeConfig(argv);
  const broker = await Broker.start(config, {
    onFatal: () => {
      // Never limp on after a failed fsync: recovery on restart decides what survived.
      process.exit(70);
    },
  });
  const missing = NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length > 0) broker.logger.info('node flags missing: expect more garbage collection under load', { missing: missing.join(' ') });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    broker.logger.info('shutting down', { signal });
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        broker.logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Only now: whoever waits for this line may send SIGTERM at once, and it must find the handler.
  process.stdout.write(`holdfast ready kafka=${broker.advertised.host}:${broker.port} data=${config.dataDir}\n`);
}
