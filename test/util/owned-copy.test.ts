// ownedCopy: the bytes, in an ArrayBuffer of exactly their size, independent of the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ownedCopy } from '../../src/util/index.ts';

test('ownedCopy copies into an ArrayBuffer of its own, of exactly the bytes\' size', () => {
  for (const size of [0, 1, 100, 4095, 40_000]) {
    const big = Buffer.alloc(size + 64, 7);
    const source = big.subarray(32, 32 + size);
    for (let i = 0; i < size; i++) source[i] = (i * 31) & 0xff;
    const copy = ownedCopy(source);
    assert.ok(copy.equals(source), `size ${size}: same bytes`);
    assert.equal(copy.byteOffset, 0);
    assert.equal(copy.buffer.byteLength, size, `size ${size}: its own ArrayBuffer`);
    assert.notEqual(copy.buffer, source.buffer);
    source.fill(1);
    if (size > 0) assert.equal(copy[0], 0, `size ${size}: later writes to the source do not show`);
  }
});
