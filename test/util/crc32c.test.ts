import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cPortable, Rng } from '../../src/util/index.ts';

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32cPortable(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
});

test('native and portable crc32c agree on random data, ranges and lengths', () => {
  const rng = new Rng(42);
  for (let i = 0; i < 300; i++) {
    const data = rng.bytes(rng.int(0, 3000));
    const start = rng.int(0, data.length);
    const end = rng.int(start, data.length);
    assert.equal(crc32c(data, start, end), crc32cPortable(data, start, end), `len=${data.length} ${start}..${end}`);
  }
});

test('a CRC continues across split data, natively and portably', () => {
  const rng = new Rng(7);
  for (let i = 0; i < 200; i++) {
    const data = rng.bytes(rng.int(0, 3000));
    const cut = rng.int(0, data.length);
    const whole = crc32c(data);
    assert.equal(crc32c(data, cut, data.length, crc32c(data, 0, cut)), whole, `len=${data.length} cut=${cut}`);
    assert.equal(crc32cPortable(data, cut, data.length, crc32cPortable(data, 0, cut)), whole, `portable len=${data.length} cut=${cut}`);
  }
});
