/** Invariant checks. A failed assertion means a bug: crash rather than limp on. */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

/**
 * Throws AssertionError(message) when `condition` is falsy. The message is built before the call,
 * so on per-record paths write `if (!cond) throw new AssertionError(\`...\`)` instead: a template
 * with numbers in it costs more than the check (writeVarint ran 5x slower with one in a one-off
 * microbenchmark).
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertSafeInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new AssertionError(`${what} must be a safe integer, got ${value}`);
}
