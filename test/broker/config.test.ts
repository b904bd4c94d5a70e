import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyConfig, defaultBrokerConfig, resolveTopicConfig } from '../../src/broker/index.ts';
import { loadServeConfig } from '../../src/cli/index.ts';
import { ConfigError } from '../../src/util/index.ts';
import { tempDir, removeDir } from '../helpers/broker.ts';

test('defaults are the safe ones', () => {
  const cfg = defaultBrokerConfig();
  assert.equal(cfg.port, 9092);
  assert.equal(cfg.host, '127.0.0.1');
  const topic = resolveTopicConfig({}, cfg.topicDefaults);
  assert.equal(topic.log.flushMode, 'sync');
  assert.equal(topic.maxMessageBytes, 1048588);
});

test('config errors name the key, the value and the rule', () => {
  const base = defaultBrokerConfig();
  assert.throws(() => applyConfig(base, { 'no.such.key': 1 }, 'test'), (e: unknown) => e instanceof ConfigError && /"no.such.key"/.test(e.message));
  assert.throws(() => applyConfig(base, { port: 70000 }, 'test'), /port: 70000 is above the maximum 65535/);
  assert.throws(() => applyConfig(base, { port: 'abc' }, 'test'), /port: expected an integer/);
  assert.throws(() => applyConfig(base, { 'auto.create.topics.enable': 'yes' }, 'test'), /auto.create.topics.enable: expected true or false/);
  assert.throws(() => applyConfig(base, { 'topic.defaults': { 'flush.mode': 'sometimes' } }, 'test'), /flush.mode=sometimes is not one of sync, async/);
  assert.throws(() => applyConfig(base, { 'topic.defaults': { 'retention.msec': 5 } }, 'test'), /topic.defaults.retention.msec: unknown topic config/);
});

test('YAML file and flags combine, flags win', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'holdfast.yaml');
    writeFileSync(file, 'port: 9999\nnum.partitions: 3\ntopic.defaults:\n  flush.mode: async\n');
    const cfg = loadServeConfig(['--config', file, '--port', '0', '--data-dir', dir]);
    assert.equal(cfg.port, 0);
    assert.equal(cfg.numPartitions, 3);
    assert.equal(cfg.dataDir, dir);
    assert.equal(resolveTopicConfig({}, cfg.topicDefaults).log.flushMode, 'async');
    writeFileSync(file, 'port: [1, 2\n');
    assert.throws(() => loadServeConfig(['--config', file]), /not valid YAML/);
    writeFileSync(file, 'num.partitions: 0\n');
    assert.throws(() => loadServeConfig(['--config', file]), /num.partitions: 0 is below the minimum 1/);
    assert.throws(() => loadServeConfig(['--bogus']), /bogus/);
  } finally {
    removeDir(dir);
  }
});
