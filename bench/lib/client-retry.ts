/** How the bench's HTTP clients retry: as a careful client does, on the project's one retry primitive. */
import { retry } from '../../functions/shared/retry.ts';

/** A 4xx other than 429: the request itself is wrong, so no retry can help. */
export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}

/** An answer worth another attempt (a 5xx or a 429). */
export class RetryableAnswer extends Error {
  override readonly name = 'RetryableAnswer';
}

/** Before retry `n`: 200 ms doubling, at most 2 s (the clients' wait since the first bench). */
export const clientRetryDelayMs = (retry: number): number => Math.min(2_000, 100 * 2 ** retry);

/**
 * Runs `attempt` until it answers, it is refused (`RequestRefused`, thrown as is) or `deadlineMs` has
 * passed since the start; then the last failure is thrown as `<what> kept failing (N attempts), last: …`.
 * Network errors, timeouts and `RetryableAnswer`s are retried.
 */
export async function retryUntilDeadline<T>(
  what: string,
  attempt: () => Promise<T>,
  options: { deadlineMs: number; onRetry?: (reason: string) => void },
): Promise<T> {
  const deadline = Date.now() + options.deadlineMs;
  let attempts = 0;
  try {
    return await retry(
      () => {
        attempts += 1;
        return attempt();
      },
      {
        attempts: Number.MAX_SAFE_INTEGER,
        delay: clientRetryDelayMs,
        retryIf: (error) => !(error instanceof RequestRefused) && Date.now() <= deadline,
        onRetry: ({ error }) => options.onRetry?.((error as Error).message),
      },
    );
  } catch (error) {
    if (error instanceof RequestRefused) throw error;
    throw new Error(`${what} kept failing (${attempts} attempts), last: ${(error as Error).message}`);
  }
}
