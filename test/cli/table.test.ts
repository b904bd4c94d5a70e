// The CLI's text tables pad each column to its widest cell, for any number of rows (a describe of
// a broker with hundreds of thousands of partitions must print, not overflow the stack).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { table } from '../../src/cli/common.ts';

test('table pads columns to the widest cell, however many rows', () => {
  assert.equal(table([['TOPIC', 'N'], ['a', '10'], ['long-name', '2']]), 'TOPIC      N\na          10\nlong-name  2');
  const rows = [['PARTITION', 'X'], ...Array.from({ length: 300_000 }, (_, i) => [String(i), 'x'])];
  const lines = table(rows).split('\n');
  assert.equal(lines.length, 300_001);
  assert.equal(lines[1], '0          x');
});
