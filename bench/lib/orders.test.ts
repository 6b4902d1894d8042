import { describe, expect, it } from 'vitest';
import { clientRetryDelayMs, RequestRefused, RetryableAnswer, retryUntilDeadline } from './orders.ts';

describe('retryUntilDeadline', () => {
  it('retries network errors and retryable answers until one succeeds', async () => {
    const reasons: string[] = [];
    let calls = 0;
    const answer = await retryUntilDeadline(
      'POST /x',
      async () => {
        calls += 1;
        if (calls === 1) throw new TypeError('fetch failed');
        if (calls === 2) throw new RetryableAnswer('HTTP 503');
        return 'ok';
      },
      { deadlineMs: 60_000, onRetry: (reason) => reasons.push(reason) },
    );
    expect(answer).toBe('ok');
    expect(reasons).toEqual(['fetch failed', 'HTTP 503']);
  });

  it('throws a refusal as it is, without a retry', async () => {
    let calls = 0;
    const refused = retryUntilDeadline(
      'POST /x',
      async () => {
        calls += 1;
        throw new RequestRefused('POST /x answered 400');
      },
      { deadlineMs: 60_000 },
    );
    await expect(refused).rejects.toBeInstanceOf(RequestRefused);
    expect(calls).toBe(1);
  });

  it('after the deadline, says how many attempts failed and the last reason', async () => {
    const failing = retryUntilDeadline(
      'POST /x',
      async () => {
        throw new RetryableAnswer('HTTP 429');
      },
      { deadlineMs: -1 },
    );
    await expect(failing).rejects.toThrow('POST /x kept failing (1 attempts), last: HTTP 429');
  });

  it('waits 200 ms doubling up to 2 s', () => {
    expect([1, 2, 3, 4, 5, 10].map(clientRetryDelayMs)).toEqual([200, 400, 800, 1_600, 2_000, 2_000]);
  });
});
