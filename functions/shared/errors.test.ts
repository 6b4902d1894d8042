import { IdempotencyPersistenceLayerError } from '@aws-lambda-powertools/idempotency';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
} from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventDecodeError, encode } from '../../events/codec.ts';
import {
  cancellationCodes,
  classifyWriteFailure,
  InvalidTransitionError,
  isPermanent,
  PermanentError,
  projectRetries,
  RecordTooLargeError,
  type WriteFailure,
} from './errors.ts';
import { orderReceived, sampleOrder } from './testing.ts';

const serviceError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(
    new DynamoDBServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} happened` }),
    extra,
  );

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    $metadata: {},
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

/** What the document client throws for `item`, from its real marshaller (no request is ever sent). */
async function marshallingError(item: Record<string, unknown>): Promise<unknown> {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    }),
  );
  try {
    await client.send(new PutCommand({ TableName: 't', Item: { pk: 'a', ...item } }));
    return undefined;
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
}

describe('permanent or transient', () => {
  it('calls refused business rules and our own size limit permanent', () => {
    expect(isPermanent(new PermanentError('order a-1 is SHIPPED'))).toBe(true);
    expect(isPermanent(new InvalidTransitionError('order a-1 is CANCELLED'))).toBe(true);
    expect(isPermanent(new RecordTooLargeError('300000 bytes'))).toBe(true);
  });

  it('calls an event the step builds that fails its schema permanent (codec and zod)', () => {
    const event = orderReceived(sampleOrder());
    let thrown: unknown;
    try {
      encode('OrderReceived', { ...event, data: { order: { ...event.data.order, items: [] } } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(EventDecodeError);
    expect(isPermanent(thrown)).toBe(true);
    expect(isPermanent(z.object({ n: z.number() }).safeParse({ n: 'x' }).error)).toBe(true);
  });

  it.each([
    ['ValidationException', serviceError('ValidationException')],
    ['SerializationException', serviceError('SerializationException')],
    ['a transaction cancelled for a ValidationError', cancelled('None', 'ValidationError')],
  ])('calls DynamoDB refusing the request itself permanent: %s', (_, error) => {
    expect(isPermanent(error)).toBe(true);
  });

  it.each([
    ['throttling', new ProvisionedThroughputExceededException({ $metadata: {}, message: 'slow down' })],
    ['a failed condition', new ConditionalCheckFailedException({ $metadata: {}, message: 'condition' })],
    ['a transaction cancelled by a condition', cancelled('ConditionalCheckFailed', 'None')],
    ['a transaction conflict', cancelled('TransactionConflict')],
    ['an internal server error', serviceError('InternalServerError')],
    ['a request limit', serviceError('RequestLimitExceeded')],
  ])('keeps DynamoDB load and races transient: %s', (_, error) => {
    expect(isPermanent(error)).toBe(false);
  });

  it.each([
    ['NaN', { n: Number.NaN }],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['a number beyond MAX_SAFE_INTEGER', { n: 1e20 }],
    ['a number below MIN_SAFE_INTEGER', { n: -1e20 }],
    ['undefined inside a list', { list: [undefined] }],
    ['a class instance', { when: new URL('https://example.com') }],
  ])('calls a value the document client can never marshall permanent: %s', async (_, item) => {
    const error = await marshallingError(item);
    expect(error).toBeInstanceOf(Error);
    expect(isPermanent(error)).toBe(true);
  });

  it('does not take a network failure of the same client for a marshalling error', async () => {
    const error = await marshallingError({ n: 1 });
    expect(error).toBeInstanceOf(Error);
    expect(isPermanent(error)).toBe(false);
  });

  it('calls a produce refused for its size permanent, also inside the Kafka client aggregated errors', () => {
    const tooLarge = new ProtocolError('MESSAGE_TOO_LARGE');
    expect(isPermanent(tooLarge)).toBe(true);
    expect(isPermanent(new ProtocolError('RECORD_LIST_TOO_LARGE'))).toBe(true);
    const response = new ResponseError(0, 9, { '/topics/0/partitions/0': [10, null] }, {});
    expect(isPermanent(response)).toBe(true);
    expect(isPermanent(new MultipleErrors('Producing failed.', [new NetworkError('reset'), response]))).toBe(
      true,
    );
  });

  it('keeps broker outages and leadership changes transient', () => {
    expect(isPermanent(new NetworkError('Connection closed'))).toBe(false);
    expect(isPermanent(new TimeoutError('Request timed out'))).toBe(false);
    expect(isPermanent(new ProtocolError('NOT_LEADER_OR_FOLLOWER'))).toBe(false);
    expect(isPermanent(new ResponseError(0, 9, { '/topics/0/partitions/0': [6, null] }, {}))).toBe(false);
    expect(isPermanent(new MultipleErrors('Producing failed.', [new NetworkError('reset')]))).toBe(false);
  });

  it('keeps a failing idempotency store transient, whatever its cause', () => {
    const wrapped = new IdempotencyPersistenceLayerError('Failed to save in progress record', {
      cause: serviceError('ValidationException'),
    });
    expect(isPermanent(wrapped)).toBe(false);
  });

  it('follows an error to its cause, and treats anything unknown as transient', () => {
    expect(isPermanent(new Error('could not store', { cause: serviceError('ValidationException') }))).toBe(
      true,
    );
    expect(isPermanent(new Error('ECONNRESET'))).toBe(false);
    expect(isPermanent(new TypeError('x is undefined'))).toBe(false);
    expect(isPermanent(Object.assign(new Error('Special numeric value NaN is not allowed'), {}))).toBe(true);
    expect(isPermanent('a string')).toBe(false);
    expect(isPermanent(undefined)).toBe(false);
    const cyclic = new Error('loop') as Error & { cause?: unknown };
    cyclic.cause = cyclic;
    expect(isPermanent(cyclic)).toBe(false);
  });
});

describe('cancellationCodes', () => {
  it("reads a refused transaction's reason codes in order, and nothing from any other error", () => {
    const refused = Object.assign(new Error('refused'), {
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }, {}],
    });
    expect(cancellationCodes(refused)).toEqual(['None', 'ConditionalCheckFailed', 'None']);
    expect(cancellationCodes(new Error('other'))).toBeUndefined();
    expect(
      cancellationCodes(Object.assign(new Error('x'), { name: 'TransactionCanceledException' })),
    ).toBeUndefined();
  });
});

describe('classifyWriteFailure and projectRetries (a condition told from a conflict)', () => {
  const network = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  const cases: [string, unknown, WriteFailure, boolean][] = [
    [
      'a single-item condition',
      new ConditionalCheckFailedException({ $metadata: {}, message: 'The conditional request failed' }),
      'condition-failed',
      false,
    ],
    [
      'a single-item write meeting a transaction',
      serviceError('TransactionConflictException'),
      'conflict',
      true,
    ],
    ['a transaction conflict on one item', cancelled('None', 'TransactionConflict'), 'conflict', true],
    [
      'a conflict beside a failed condition (the condition is read again)',
      cancelled('ConditionalCheckFailed', 'TransactionConflict', 'None'),
      'conflict',
      true,
    ],
    [
      'conditions only: a business answer',
      cancelled('ConditionalCheckFailed', 'None'),
      'condition-failed',
      false,
    ],
    ['throttled items in a transaction', cancelled('ThrottlingError', 'None'), 'throttled', true],
    [
      'items over provisioned capacity in a transaction',
      cancelled('None', 'ProvisionedThroughputExceeded'),
      'throttled',
      true,
    ],
    ['a validation reason wins', cancelled('TransactionConflict', 'ValidationError'), 'invalid', false],
    // The SDK retried these already (4 attempts): not retried a second time.
    ['ThrottlingException', serviceError('ThrottlingException'), 'throttled', false],
    [
      'ProvisionedThroughputExceededException',
      new ProvisionedThroughputExceededException({ $metadata: {}, message: 'hot' }),
      'throttled',
      false,
    ],
    ['ValidationException', serviceError('ValidationException'), 'invalid', false],
    ['InternalServerError (a 500)', serviceError('InternalServerError'), 'other', false],
    ['a dropped connection', network, 'other', false],
    ['a cancellation without reasons', cancelled(), 'other', false],
    ['no error at all', undefined, 'other', false],
  ];
  it.each(cases)('%s', (_, error, kind, retried) => {
    expect(classifyWriteFailure(error)).toBe(kind);
    expect(projectRetries(error)).toBe(retried);
  });
});
