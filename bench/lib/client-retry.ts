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

/** The API's base URL: one, or a pick per request (chaos runs spread their requests over runtimes). */
export type ApiUrl = string | (() => string);

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

/**
 * POSTs `body` as JSON to `path` of the API until `final` makes an answer of the response (status and
 * text) or the response is a 4xx other than 429 (refused for good). Anything else (a network error, a
 * 5xx, a 429) is retried with the same body until `deadlineMs` (default 60 s).
 */
export function postUntilFinal<T>(
  api: ApiUrl,
  path: string,
  body: unknown,
  final: (status: number, text: string) => T | undefined,
  options: { what: string; deadlineMs?: number | undefined; onRetry?: (reason: string) => void },
): Promise<T> {
  const attempt = async (): Promise<T> => {
    const response = await fetch(`${typeof api === 'string' ? api : api()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    const answer = final(response.status, text);
    if (answer !== undefined) return answer;
    if (response.status < 500 && response.status !== 429)
      throw new RequestRefused(`${options.what} answered ${response.status}: ${text.slice(0, 300)}`);
    throw new RetryableAnswer(`HTTP ${response.status}`);
  };
  return retryUntilDeadline(options.what, attempt, {
    deadlineMs: options.deadlineMs ?? 60_000,
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
}
