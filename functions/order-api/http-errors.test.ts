import { IdempotencyValidationError } from '@aws-lambda-powertools/idempotency';
import { describe, expect, it, vi } from 'vitest';
import { fakeContext, MemoryPersistenceLayer, silentLogger } from '../shared/testing.ts';
import { answerOf, RetryLaterError } from './failures.ts';
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  OrderNotStorableError,
  PayloadTooLargeError,
  UnprocessableError,
  UnsupportedMediaTypeError,
} from './http-errors.ts';
import { idempotentRoutes } from './idempotency.ts';
import { requestFingerprint } from './requests.ts';
import { json } from './responses.ts';

describe('HttpError: an error that is its own answer', () => {
  it.each([
    [new BadRequestError('bad'), 400],
    [new NotFoundError('none'), 404],
    [new ConflictError('taken'), 409],
    [new PayloadTooLargeError('big'), 413],
    [new UnsupportedMediaTypeError('json only'), 415],
    [new UnprocessableError('not now'), 422],
  ] as const)('%s answers %i with its message as the body', (error, status) => {
    const response = error.toResponse();
    expect(response.statusCode).toBe(status);
    expect(response.headers?.['content-type']).toBe('application/json');
    expect(JSON.parse(response.body)).toEqual({ message: error.message });
    expect(error.body).toBe(response.body);
  });

  it.each([
    [BadRequestError, 'BadRequestError'],
    [NotFoundError, 'NotFoundError'],
    [ConflictError, 'ConflictError'],
    [PayloadTooLargeError, 'PayloadTooLargeError'],
    [UnsupportedMediaTypeError, 'UnsupportedMediaTypeError'],
    [UnprocessableError, 'UnprocessableError'],
  ] as const)('%o is a class of its own, named %s', (ErrorClass, name) => {
    const error = new ErrorClass('m');
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error.name).toBe(name);
    const others = [BadRequestError, NotFoundError, ConflictError, PayloadTooLargeError, UnprocessableError];
    expect(others.filter((other) => error instanceof other)).toEqual(
      others.filter((other) => other === ErrorClass),
    );
  });

  it('carries the reasons per field, the fields its class adds, and its headers', () => {
    const errors = [{ path: 'items', message: 'must contain at least one item' }];
    expect(JSON.parse(new BadRequestError('The order is invalid', { errors }).body)).toEqual({
      message: 'The order is invalid',
      errors,
    });
    const shipped = new ConflictError('Order a is SHIPPED', { details: { status: 'SHIPPED' } });
    expect(JSON.parse(shipped.body)).toEqual({ message: 'Order a is SHIPPED', status: 'SHIPPED' });
    expect(new UnsupportedMediaTypeError('json only').toResponse().headers).toEqual({
      'content-type': 'application/json',
      'accept-post': 'application/json',
    });
  });

  it('logs a refusal that is our bug as an error, a client mistake not at all', () => {
    const logger = silentLogger();
    const error = vi.spyOn(logger, 'error');
    new BadRequestError('bad').report(logger);
    expect(error).not.toHaveBeenCalled();
    new OrderNotStorableError('Item size has exceeded the maximum allowed size').report(logger);
    expect(error).toHaveBeenCalledWith(expect.stringContaining('BUG'), {
      reason: 'Item size has exceeded the maximum allowed size',
    });
  });
});

describe('answerOf: the one place an error becomes an answer', () => {
  it('answers an HttpError as it is, a reused Idempotency-Key 409, anything else 503 with Retry-After', () => {
    const notFound = new NotFoundError('Order a not found');
    expect(answerOf(notFound)).toBe(notFound);
    const reused = answerOf(new IdempotencyValidationError('payload differs'));
    expect(reused.statusCode).toBe(409);
    expect(reused.message).toContain('already used for another request');
    const failed = answerOf(new TypeError('x is undefined'));
    expect(failed).toBeInstanceOf(RetryLaterError);
    expect(failed.toResponse()).toMatchObject({ statusCode: 503, headers: { 'retry-after': '1' } });
  });
});

describe('idempotentRoutes: one helper for every route', () => {
  const keyed = (key: string, body: unknown) => ({
    idempotencyKey: key,
    fingerprint: requestFingerprint('POST /orders', {}, body),
  });

  it('runs a route once per key; the repeat is the stored answer, told as replayed and marked so', async () => {
    const once = idempotentRoutes(new MemoryPersistenceLayer());
    const route = vi.fn(async (_input: ReturnType<typeof keyed>) =>
      json(202, { n: route.mock.calls.length }),
    );
    const answer = once(route);
    const first = await answer(fakeContext('order-api'), keyed('k', { a: 1 }));
    expect(first.replayed).toBe(false);
    expect(first.response.headers?.['idempotent-replayed']).toBeUndefined();
    const again = await answer(fakeContext('order-api'), keyed('k', { a: 1 }));
    expect(route).toHaveBeenCalledTimes(1);
    expect(again.replayed).toBe(true);
    expect(again.response).toEqual({
      ...first.response,
      headers: { ...first.response.headers, 'idempotent-replayed': 'true' },
    });
    expect(JSON.stringify(again.response)).not.toContain('replayedFromStore');
  });

  it('shares one key space across routes: the same key with another fingerprint is refused', async () => {
    const once = idempotentRoutes(new MemoryPersistenceLayer());
    const place = once(async (_input: ReturnType<typeof keyed>) => json(202, {}));
    const cancel = once(async (_input: ReturnType<typeof keyed>) => json(202, {}));
    await place(fakeContext('order-api'), keyed('k', { a: 1 }));
    await expect(cancel(fakeContext('order-api'), keyed('k', { a: 2 }))).rejects.toBeInstanceOf(
      IdempotencyValidationError,
    );
  });
});
