// util: the leaf module. Assertions, CRC-32C, time, errors, seeded randomness, logging, a shared byte budget, owned copies.
export { assert, assertSafeInteger, AssertionError } from './assert.ts';
export { crc32c, crc32cPortable, crc32cImplementation } from './crc32c.ts';
export { type Clock, systemClock, ManualClock, sharedMonotonicMs, sharedWallMs } from './clock.ts';
export { HoldfastError, ConfigError, CorruptionError, FatalStorageError } from './errors.ts';
export { Rng } from './rng.ts';
export { type Logger, type LogLevel, createLogger, createMemoryLogger, silentLogger } from './logger.ts';
export { ByteBudget } from './byte-budget.ts';
export { ReceiveSlabs, receiveSlabs, type ReceiveSlabsOptions } from './receive-slabs.ts';
export { ownedCopy } from './owned-copy.ts';
