import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The project's one retry primitive, for the errors the AWS SDK's own retry strategy leaves to the caller
 * (a transaction cancelled for a conflict, a single-item write meeting a running transaction: see
 * `projectRetries` in errors.ts) and for results that mean "try again" (stock that came back). What the SDK
 * retries by itself (throttling, 5xx, dropped connections) is not retried here a second time.
 */
export interface RetryOptions {
  /** Attempts in all, the first included (at least 1): the bound on what one call may cost. */
  attempts: number;
  /** Milliseconds to wait before retry `n` (1 for the first retry); none by default. */
  delay?: (retry: number) => number;
  /** Whether `error` (thrown by attempt `attempt`) is worth another attempt; every error by default. */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** Stops waiting and retrying: the signal's reason is thrown. */
  signal?: AbortSignal;
  /** Called before each wait, for a log line or a counter of attempts. */
  onRetry?: (event: { error: unknown; attempt: number; delayMs: number }) => void;
  /** The wait itself (tests pass a fake clock). */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultWait = (ms: number, signal?: AbortSignal) =>
  sleep(ms, undefined, signal ? { signal } : undefined);

/**
 * Runs `fn` until it resolves, an error is not to be retried (`retryIf`), or `attempts` are spent; then
 * the last error is thrown as it was, so that whoever classifies it (transient or permanent) sees AWS's
 * error and not a wrapper. `fn` gets the attempt number (1-based).
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, delay, retryIf, signal, onRetry, wait = defaultWait } = options;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new RangeError(`attempts must be a positive integer, not ${attempts}`);
  }
  for (let attempt = 1; ; attempt += 1) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || (retryIf && !retryIf(error, attempt))) throw error;
      const delayMs = Math.max(0, delay?.(attempt) ?? 0);
      onRetry?.({ error, attempt, delayMs });
      if (delayMs > 0) await wait(delayMs, signal);
    }
  }
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter",
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): before retry `n`, a random
 * wait in [0, min(capMs, baseMs × 2^(n−1))). Concurrent writers of one hot item spread out instead of
 * meeting again, the SDK's own strategy does the same (`random × min(base × 2^retry, 20 s)`).
 */
export function fullJitter(options: {
  baseMs: number;
  capMs: number;
  random?: () => number;
}): (retry: number) => number {
  const { baseMs, capMs, random = Math.random } = options;
  return (retry) => random() * Math.min(capMs, baseMs * 2 ** Math.max(0, retry - 1));
}
