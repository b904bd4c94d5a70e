// The generated Kafka error table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, errorName, kafkaErrors } from '../../../src/protocol/kafka/index.ts';

test('error codes by name and names by code', () => {
  assert.equal(ErrorCode.NONE, 0);
  assert.equal(ErrorCode.UNKNOWN_SERVER_ERROR, -1);
  assert.equal(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 3);
  assert.equal(ErrorCode.UNSUPPORTED_VERSION, 35);
  assert.equal(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 45);
  assert.equal(errorName(3), 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(errorName(-1), 'UNKNOWN_SERVER_ERROR');
  assert.equal(errorName(12345), 'UNKNOWN_ERROR_12345');
  assert.equal(kafkaErrors[0].message, '');
  assert.match(kafkaErrors[35].message, /version/i);
  for (const [name, code] of Object.entries(ErrorCode)) assert.equal(kafkaErrors[code].name, name);
});

test('retriable flags match @platformatic/kafka\'s generated table (an independent source)', async () => {
  const url = new URL('../../../node_modules/@platformatic/kafka/dist/protocol/errors.js', import.meta.url);
  const { protocolErrors } = (await import(url.href)) as { protocolErrors: Record<string, { id: string; canRetry: boolean }> };
  let compared = 0;
  for (const info of Object.values(kafkaErrors)) {
    const theirs = protocolErrors[info.name];
    if (theirs === undefined) continue;
    assert.equal(info.retriable, theirs.canRetry, info.name);
    compared++;
  }
  assert.ok(compared > 100, `${compared} codes compared`);
  assert.equal(kafkaErrors[ErrorCode.NOT_LEADER_OR_FOLLOWER].retriable, true);
  assert.equal(kafkaErrors[ErrorCode.TOPIC_ALREADY_EXISTS].retriable, false);
});
