import {
  IdempotencyAlreadyInProgressError,
  IdempotencyPersistenceLayerError,
} from '@aws-lambda-powertools/idempotency';
import { describe, expect, it } from 'vitest';
import { CatalogThrottledError } from './catalog.ts';
import { failureOf, failureReason, failureResponse } from './failures.ts';
import { awsError, dropped, transientFailures } from './testing.ts';

const cancelled = (...codes: string[]) =>
  awsError('TransactionCanceledException', 400, { CancellationReasons: codes.map((Code) => ({ Code })) });

describe('failureReason: each injected error class, as the API tells it', () => {
  it.each([
    ...transientFailures,
    ['RequestLimitExceeded', awsError('RequestLimitExceeded'), 'throttled'],
    ['a 429 of any name', awsError('SomethingNew', 429), 'throttled'],
    ['a transaction cancelled for throttled items', cancelled('None', 'ThrottlingError'), 'throttled'],
    ['unprocessed catalog keys', new CatalogThrottledError('unprocessed'), 'throttled'],
    ['a transaction cancelled for a conflict', cancelled('TransactionConflict', 'None'), 'conflict'],
    ['a 503 of any name', awsError('ServiceUnavailable', 503), 'unavailable'],
    ['a refused connection', dropped('ECONNREFUSED'), 'unavailable'],
    ['the broker unreachable', Object.assign(new Error('down'), { code: 'PLT_KFK_NETWORK' }), 'unavailable'],
    ['an Idempotency-Key in progress', new IdempotencyAlreadyInProgressError('in progress'), 'in-progress'],
    ['a bug', new TypeError('x is undefined'), 'unexpected'],
    ['a thrown string', 'boom', 'unexpected'],
  ] as const)('%s: %s', (_, error, reason) => {
    expect(failureReason(error)).toBe(reason);
  });

  it("looks through Powertools' wrapping of its store's failures to their cause", () => {
    const wrapped = new IdempotencyPersistenceLayerError('Failed to save in progress record', {
      cause: awsError('ProvisionedThroughputExceededException'),
    });
    expect(failureReason(wrapped)).toBe('throttled');
    const lost = new IdempotencyPersistenceLayerError('Failed to update success record', {
      cause: dropped('ECONNRESET'),
    });
    expect(failureReason(lost)).toBe('unavailable');
  });
});

describe('failureResponse: 503 with Retry-After and a reason, never a 500', () => {
  it.each([
    [awsError('ThrottlingException'), 503, 'throttled', '2'],
    [awsError('TransactionConflictException'), 503, 'conflict', '1'],
    [awsError('InternalServerError', 500), 503, 'unavailable', '1'],
    [new Error('anything at all'), 503, 'unexpected', '1'],
    [new IdempotencyAlreadyInProgressError('in progress'), 409, 'in-progress', '1'],
  ] as const)('%s → %i %s, Retry-After %s', (error, status, reason, retryAfter) => {
    const response = failureResponse(failureOf(error));
    expect(response.statusCode).toBe(status);
    expect(response.headers).toEqual({ 'content-type': 'application/json', 'retry-after': retryAfter });
    const body = JSON.parse(response.body) as Record<string, unknown>;
    expect(body).toEqual({
      message: expect.stringContaining('retry after the given seconds'),
      reason,
      retryAfterSeconds: Number(retryAfter),
    });
  });
});
