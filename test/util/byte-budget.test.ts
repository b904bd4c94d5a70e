import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudget } from '../../src/util/index.ts';

test('ByteBudget: takes what fits, refuses what does not, and counts what is given back', () => {
  const b = new ByteBudget(100);
  assert.equal(b.tryTake(60), true);
  assert.equal(b.tryTake(41), false, '60 + 41 is over 100');
  assert.equal(b.tryTake(40), true);
  assert.equal(b.used, 100);
  b.release(60);
  assert.equal(b.used, 40);
  assert.throws(() => b.release(41), /released 1 bytes more than were taken/);
  assert.throws(() => new ByteBudget(0), /at least 1/);
});

test('ByteBudget: a request of the whole capacity or more proceeds alone, so one request never waits forever', () => {
  const b = new ByteBudget(100);
  assert.equal(b.tryTake(250), true, 'nothing else taken: an oversized request goes');
  assert.equal(b.used, 250);
  assert.equal(b.tryTake(1), false, 'and nothing goes beside it');
  b.release(250);
  b.force(30); // memory already allocated is counted whether or not it fits
  assert.equal(b.tryTake(250), false, 'an oversized request needs everything free');
  assert.equal(b.tryTake(70), true);
  assert.equal(b.used, 100);
});

test('ByteBudget: waiting requests are let in in arrival order as bytes are given back, and none jumps the queue', async () => {
  const b = new ByteBudget(100);
  assert.equal(b.tryTake(100), true);
  const order: string[] = [];
  const big = b.take(80, 10_000).then((ok) => order.push(`big ${ok}`));
  const small = b.take(10, 10_000).then((ok) => order.push(`small ${ok}`));
  assert.equal(b.waiting, 2);
  assert.equal(b.tryTake(1), false, 'tryTake does not pass waiting requests');
  b.release(50); // 50 free: the 80 at the head does not fit, so the 10 behind it waits too
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, []);
  b.release(50);
  await Promise.all([big, small]);
  assert.deepEqual(order, ['big true', 'small true']);
  assert.equal(b.used, 90);
  assert.equal(b.waiting, 0);
});

test('ByteBudget: a request not let in within its wait gets false, takes nothing, and lets the ones behind it in', async () => {
  const b = new ByteBudget(100);
  assert.equal(b.tryTake(50), true);
  assert.equal(await b.take(60, 0), false, 'no wait asked: refused at once');
  const late = b.take(60, 30);
  const behind = b.take(40, 10_000);
  assert.equal(await late, false);
  assert.equal(await behind, true, 'the 40 fits once the 60 ahead of it gave up');
  assert.equal(b.used, 90);
  assert.equal(b.waiting, 0);
});

test('ByteBudget: takeWhenFree waits without a time limit, in arrival order with take(), and a withdrawn request lets the ones behind it in', async () => {
  const b = new ByteBudget(100);
  assert.equal(b.tryTake(90), true);
  const granted: string[] = [];
  const withdraw = b.takeWhenFree(60, () => granted.push('60'));
  const behind = b.take(30, 10_000).then((ok) => granted.push(`30 ${ok}`));
  b.takeWhenFree(20, () => granted.push('20'));
  assert.equal(b.waiting, 3);
  b.release(20); // 30 free: the 60 at the head does not fit, so nothing behind it goes
  assert.deepEqual(granted, []);
  withdraw();
  withdraw(); // a second call does nothing
  await behind;
  assert.deepEqual(granted, ['30 true'], 'the 30 fits once the 60 left the head; the 20 behind it does not');
  assert.equal(b.used, 100);
  b.release(30);
  assert.deepEqual(granted, ['30 true', '20'], 'granted from inside the release that made room');
  assert.equal(b.used, 90);
  assert.equal(b.waiting, 0);
  let now = false;
  b.release(90);
  b.takeWhenFree(100, () => (now = true));
  assert.equal(now, true, 'room free and nobody waiting: granted at once');
  assert.equal(b.used, 100);
});
