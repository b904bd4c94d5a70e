import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoldfastError } from '../../src/util/index.ts';
import { RecordError, RecordErrorCode } from '../../src/record/index.ts';

test('RecordErrorCode carries the Kafka numbers', () => {
  assert.deepEqual(RecordErrorCode, { CORRUPT_MESSAGE: 2, MESSAGE_TOO_LARGE: 10, INVALID_TIMESTAMP: 32, UNSUPPORTED_FOR_MESSAGE_FORMAT: 43, INVALID_RECORD: 87 });
});

test('RecordError is a HoldfastError with the Kafka name as code; only CORRUPT_MESSAGE is retriable', () => {
  const cause = new Error('inner');
  const corrupt = new RecordError(RecordErrorCode.CORRUPT_MESSAGE, 'bad crc', cause);
  assert.ok(corrupt instanceof HoldfastError);
  assert.deepEqual([corrupt.name, corrupt.code, corrupt.kafkaErrorCode, corrupt.retriable, corrupt.message, corrupt.cause], ['RecordError', 'CORRUPT_MESSAGE', 2, true, 'bad crc', cause]);
  for (const [name, value] of Object.entries(RecordErrorCode)) {
    const error = new RecordError(value, 'x');
    assert.equal(error.code, name);
    assert.equal(error.retriable, value === RecordErrorCode.CORRUPT_MESSAGE);
  }
});
