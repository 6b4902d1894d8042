import { describe, expect, it } from 'vitest';
import { apiBackoffMs, ORDER_API_DYNAMODB_ATTEMPTS, orderApiDynamoDbConfig } from './clients.ts';

describe("order-api's DynamoDB client", () => {
  it('makes 3 attempts per call (the standard strategy), with full-jitter waits under 200 and 400 ms', async () => {
    const config = orderApiDynamoDbConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:1' }, () => 0);
    expect(config.maxAttempts).toBe(ORDER_API_DYNAMODB_ATTEMPTS);
    expect(ORDER_API_DYNAMODB_ATTEMPTS).toBe(3);
    expect(config.endpoint).toBe('http://127.0.0.1:1');
    expect(await (config.retryStrategy as unknown as { maxAttempts(): Promise<number> }).maxAttempts()).toBe(
      3,
    );
    // The strategy asks for retry 1, then 2 (a third attempt is never waited for).
    const strategy = config.retryStrategy as unknown as {
      acquireInitialRetryToken(scope: string): Promise<unknown>;
      refreshRetryTokenForRetry(token: unknown, info: { errorType: string }): Promise<unknown>;
    };
    let token = await strategy.acquireInitialRetryToken('test');
    token = await strategy.refreshRetryTokenForRetry(token, { errorType: 'THROTTLING' });
    token = await strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT' });
    await expect(strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT' })).rejects.toThrow(
      'No retry token available',
    );
    expect([apiBackoffMs(1, () => 0.999), apiBackoffMs(2, () => 0.999)]).toEqual([199, 399]);
    expect(apiBackoffMs(10, () => 0.999)).toBe(999);
    expect(apiBackoffMs(1, () => 0)).toBe(0);
  });
});
