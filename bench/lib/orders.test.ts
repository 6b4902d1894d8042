import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientRetryDelayMs, postOrder, RequestRefused } from './orders.ts';

/** An API that answers each POST with the next status of `answers` (the last one again once they run out). */
let answers: number[] = [];
let calls = 0;
const server = createServer((request, response) => {
  request.resume().on('end', () => {
    const status = answers[Math.min(calls, answers.length - 1)] as number;
    calls += 1;
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(status === 202 ? { orderId: 'o-1' } : { message: 'no' }));
  });
});
let api = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const order = { orderId: 'o-1' } as Parameters<typeof postOrder>[1];
const answering = (...statuses: number[]) => {
  answers = statuses;
  calls = 0;
};

describe('the careful client', () => {
  it('retries network errors and retryable answers until one succeeds', async () => {
    answering(503, 202);
    const reasons: string[] = [];
    // The first request goes to a closed port: a network error.
    const urls = ['http://127.0.0.1:1', api];
    const answer = await postOrder(() => urls.shift() ?? api, order, {
      onRetry: (reason) => reasons.push(reason),
    });
    expect(answer).toBe('o-1');
    expect(reasons).toEqual(['fetch failed', 'HTTP 503']);
  });

  it('throws a refusal as it is, without a retry', async () => {
    answering(400);
    await expect(postOrder(api, order)).rejects.toBeInstanceOf(RequestRefused);
    expect(calls).toBe(1);
  });

  it('after the deadline, says how many attempts failed and the last reason', async () => {
    answering(429);
    await expect(postOrder(api, order, { deadlineMs: -1 })).rejects.toThrow(
      'POST /orders kept failing (1 attempts), last: HTTP 429',
    );
  });

  it('waits 200 ms doubling up to 2 s', () => {
    expect([1, 2, 3, 4, 5, 10].map(clientRetryDelayMs)).toEqual([200, 400, 800, 1_600, 2_000, 2_000]);
  });
});
