/**
 * The one place where an error becomes order-api's answer (`answerOf`): an `HttpError` is its own
 * answer; an Idempotency-Key reused for another request is a 409; every other failure is given up on
 * for now, never a 500: a `503` with `Retry-After` and a JSON body naming the reason, so a client (and
 * API Gateway's callers' SDKs) retry it, with the same Idempotency-Key; an Idempotency-Key whose first
 * request is still in progress is a `409` with `Retry-After`. Pure: the error in, the answer out.
 *
 * DynamoDB's errors, and which are the SDK's to retry:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { classifyWriteFailure } from '../shared/errors.ts';
import { ConflictError, HttpError } from './http-errors.ts';

/**
 * Why the request was not carried out: the body's `reason`.
 * - `throttled`: DynamoDB throttled the request (a hot partition, a table's limits) past the retries;
 * - `conflict`: the write met a transaction on the same item (TransactionConflict) past the retries;
 * - `unavailable`: DynamoDB or the broker failed or could not be reached (500, lost connection, timeout);
 * - `in-progress`: the first request with this Idempotency-Key has not finished (or its answer was lost);
 * - `unexpected`: a failure the API does not recognise: still retriable for the client, logged as an error.
 */
export const FAILURE_REASONS = ['throttled', 'conflict', 'unavailable', 'in-progress', 'unexpected'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** The body of a 503 (and of the in-progress 409): `message`, `reason` and the wait in seconds. */
export interface FailureBody {
  message: string;
  reason: FailureReason;
  retryAfterSeconds: number;
}

/**
 * Seconds a client waits before retrying. Throttling eases as the partition's load spreads (longer);
 * a conflict lasts as long as the other transaction (milliseconds), a 500 or a lost connection as long
 * as one retry. An in-progress key clears when its first request finishes, or, if that request's answer
 * was lost, when its in-progress expiry passes (the function's remaining time when it started, at most
 * its 10 s timeout): a client retrying each second gets through within that, never with a second effect.
 */
export const RETRY_AFTER_SECONDS: Readonly<Record<FailureReason, number>> = {
  throttled: 2,
  conflict: 1,
  unavailable: 1,
  'in-progress': 1,
  unexpected: 1,
};

/** Node's and the SDK's names for a connection lost, refused or timed out. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
const TIMEOUTS = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);

interface ErrorFields {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  CancellationReasons?: unknown;
}

/** The reason of one error, without looking at its causes. */
function reasonOf(error: ErrorFields): FailureReason | undefined {
  const name = typeof error.name === 'string' ? error.name : '';
  if (name === 'IdempotencyAlreadyInProgressError') return 'in-progress';
  if (name === 'CatalogThrottledError') return 'throttled';
  // The project's one classifier of DynamoDB write failures (conflicts and throttling, by name or by a
  // cancelled transaction's reasons); a failed condition never reaches here, the repository answers it.
  const write = classifyWriteFailure(error);
  if (write === 'throttled') return 'throttled';
  if (write === 'conflict') return 'conflict';
  const status = error.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status === 429) return 'throttled';
  if (typeof status === 'number' && status >= 500) return 'unavailable';
  if (error.$fault === 'server' || TIMEOUTS.has(name)) return 'unavailable';
  const code = typeof error.code === 'string' ? error.code : '';
  // The broker's client (@platformatic/kafka) names its errors PLT_KFK_*: the produce failed for now.
  if (NETWORK_CODES.has(code) || code.startsWith('PLT_KFK_')) return 'unavailable';
  return undefined;
}

/**
 * The reason of a failure: its own, else its causes' (Powertools wraps its store's failures in
 * `IdempotencyPersistenceLayerError`, the Kafka client its brokers' in errors of its own). A failure
 * with no recognised reason is `unexpected`.
 */
export function failureReason(error: unknown): FailureReason {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const reason = reasonOf(current as ErrorFields);
    if (reason) return reason;
    current = (current as ErrorFields).cause;
  }
  return 'unexpected';
}

const MESSAGES: Readonly<Record<FailureReason, string>> = {
  throttled: 'The order service is busy; retry after the given seconds with the same Idempotency-Key',
  conflict:
    'The order was being changed by another request; retry after the given seconds with the same Idempotency-Key',
  unavailable:
    'The order service is temporarily unavailable; retry after the given seconds with the same Idempotency-Key',
  'in-progress': 'A request with this Idempotency-Key is still in progress; retry after the given seconds',
  unexpected:
    'The order service is temporarily unavailable; retry after the given seconds with the same Idempotency-Key',
};

/** A request given up on for now: 503 (or 409 in progress) with `Retry-After` (RFC 9110 §10.2.3, seconds). */
export class RetryLaterError extends HttpError {
  override readonly name: string = 'RetryLaterError';
  readonly statusCode: 409 | 503;
  readonly reason: FailureReason;
  readonly retryAfterSeconds: number;

  constructor(reason: FailureReason, cause: unknown) {
    const retryAfterSeconds = RETRY_AFTER_SECONDS[reason];
    super(MESSAGES[reason], {
      details: { reason, retryAfterSeconds } satisfies Omit<FailureBody, 'message'>,
      headers: { 'retry-after': String(retryAfterSeconds) },
      cause,
    });
    this.statusCode = reason === 'in-progress' ? 409 : 503;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** What AWS documents as transient is a warning; a failure nobody recognises is an error to look at. */
  override report(logger: Logger): void {
    if (this.reason === 'unexpected') logger.error('request failed', this.cause as Error);
    else
      logger.warn('request given up on for now', { reason: this.reason, error: (this.cause as Error)?.name });
  }
}

/** The failure an error means for the client. */
export const failureOf = (error: unknown): RetryLaterError =>
  new RetryLaterError(failureReason(error), error);

/** The answer to a failure: its status, `Retry-After` and body. */
export const failureResponse = (failure: RetryLaterError): APIGatewayProxyResult => failure.toResponse();

/** The answer to any error a route threw: the one mapping of errors to answers. */
export function answerOf(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  // Matched by name, as `reasonOf` matches Powertools' in-progress error: this module stays import-light.
  if (error instanceof Error && error.name === 'IdempotencyValidationError') {
    return new ConflictError(
      'This Idempotency-Key was already used for another request (another order, route or body); use a new key for a new request',
    );
  }
  // Its first request running, or its answer lost, is the in-progress 409 (the IETF Idempotency-Key
  // draft's answer to a request retried while the first is in progress): never a second effect.
  return failureOf(error);
}
