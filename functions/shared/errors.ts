import { $ZodError } from 'zod/v4/core';

/**
 * A record that can never succeed, whatever the number of retries (for example an event about an order
 * in a state that forbids it). The consumer sends it to the DeadLetterQueue and goes on with the batch.
 * Which other errors count as permanent is decided by {@link isPermanent}; any error it does not name is
 * transient: it fails the batch, and the event source mapping retries it.
 */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
}

/** An order whose stored status forbids what an event asks for. */
export class InvalidTransitionError extends PermanentError {
  override readonly name = 'InvalidTransitionError';
}

/** A record larger than any event of the pipeline: poison by its size alone, never parsed. */
export class RecordTooLargeError extends PermanentError {
  override readonly name = 'RecordTooLargeError';
}

/** DynamoDB refusing the request itself (a number it cannot store, an item over 400 KB, ...), not its load. */
const DYNAMODB_PERMANENT = new Set(['ValidationException', 'SerializationException']);

/** The broker refusing what a step produces for its size: the same records are refused on every retry. */
const KAFKA_TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/**
 * What the DynamoDB document client's marshaller throws (plain `Error`s, before any request) for a value
 * it can never write: NaN/Infinity, a number beyond Number.MAX_SAFE_INTEGER, undefined, a class instance.
 */
const MARSHALLING = [
  /Use NumberValue from @aws-sdk\/lib-dynamodb\.$/,
  /^Special numeric value \S+ is not allowed$/,
  /^Pass options\.removeUndefinedValues=true /,
  /^Unsupported type passed: /,
  /^Pass a non-empty set, or options\.convertEmptyValues=true\.$/,
];

/**
 * The reason codes of a refused transaction (`TransactionCanceledException`), one per item in the
 * transaction's order, `None` for an item that was fine; undefined for any other error, or when DynamoDB
 * sent no reasons.
 */
export function cancellationCodes(error: unknown): string[] | undefined {
  if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') return undefined;
  const reasons = (error as Error & { CancellationReasons?: unknown }).CancellationReasons;
  if (!Array.isArray(reasons)) return undefined;
  return reasons.map((reason) => {
    const code = (reason as { Code?: unknown } | null)?.Code;
    return typeof code === 'string' ? code : 'None';
  });
}

/**
 * What a failed DynamoDB write means, for the writes that can meet either a condition or a conflict:
 * - `condition-failed`: its condition refused it (`ConditionalCheckFailedException`, or a cancelled
 *   transaction whose reasons are conditions only): a business answer (out of stock, already done), read
 *   the item to learn which;
 * - `conflict`: another transaction held an item (`TransactionConflictException` on a single-item write,
 *   `TransactionConflict` among a cancelled transaction's reasons): nothing happened, try again;
 * - `throttled`: a hot partition (`ThrottlingException`, `ProvisionedThroughputExceededException`,
 *   `RequestLimitExceeded`, `ThrottlingError` among the reasons): nothing happened, try again later;
 * - `invalid`: DynamoDB refuses the request itself (`ValidationException`, a `ValidationError` reason);
 * - `other`: anything else (a 500, a dropped connection, a transaction without reasons...).
 * A cancellation's reasons are read in that order: a conflict anywhere is retried even beside a failed
 * condition, since the condition is evaluated again once the other transaction is done.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
export type WriteFailure = 'condition-failed' | 'conflict' | 'throttled' | 'invalid' | 'other';

const THROTTLED = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
]);

export function classifyWriteFailure(error: unknown): WriteFailure {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'ConditionalCheckFailedException') return 'condition-failed';
  if (name === 'TransactionConflictException') return 'conflict';
  if (typeof name === 'string' && THROTTLED.has(name)) return 'throttled';
  if (name === 'ValidationException') return 'invalid';
  const codes = cancellationCodes(error);
  return codes ? classifyCancellation(codes) : 'other';
}

/** What a cancelled transaction's reason codes mean, in the order {@link classifyWriteFailure} reads them. */
export function classifyCancellation(codes: readonly string[]): WriteFailure {
  if (codes.includes('ValidationError')) return 'invalid';
  if (codes.includes('TransactionConflict')) return 'conflict';
  if (codes.includes('ThrottlingError') || codes.includes('ProvisionedThroughputExceeded'))
    return 'throttled';
  if (codes.includes('ConditionalCheckFailed')) return 'condition-failed';
  return 'other';
}

/**
 * Whether the project must retry `error` itself: what the AWS SDK v3 standard retry strategy does not
 * retry although nothing happened and a later attempt may succeed — a conflict
 * (`TransactionConflictException`, a cancellation with `TransactionConflict` reasons) or a cancellation
 * for throttled items. The SDK retries throttling exceptions, 5xx and dropped connections by itself (4
 * attempts for DynamoDB): those are not retried a second time here.
 */
export function projectRetries(error: unknown): boolean {
  const kind = classifyWriteFailure(error);
  if (kind === 'conflict') return true;
  return kind === 'throttled' && cancellationCodes(error) !== undefined;
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  apiId?: unknown;
  CancellationReasons?: unknown;
  errors?: unknown;
  cause?: unknown;
}

function isPermanentItself(error: ErrorLike): boolean {
  if (error instanceof PermanentError || error instanceof $ZodError) return true;
  const { name, message } = error;
  // The codec throws it when what a step produces does not fit its schema: the same input produces it again.
  if (name === 'EventDecodeError' || name === 'ZodError') return true;
  if (typeof name === 'string' && DYNAMODB_PERMANENT.has(name)) return true;
  if (name === 'TransactionCanceledException') {
    return cancellationCodes(error)?.includes('ValidationError') ?? false;
  }
  if (typeof error.apiId === 'string' && KAFKA_TOO_LARGE.has(error.apiId)) return true;
  return (
    error instanceof Error &&
    error.constructor === Error &&
    typeof message === 'string' &&
    MARSHALLING.some((pattern) => pattern.test(message))
  );
}

/**
 * Whether `error` can never go away by retrying the same record: the one place that decides between
 * dead-lettering a record at once (permanent) and failing the batch for the event source mapping to retry
 * (transient). Permanent: {@link PermanentError} (a refused business rule), a ZodError or EventDecodeError
 * (what the step built fails its schema), DynamoDB's ValidationException / SerializationException, a
 * TransactionCanceledException with a ValidationError among its reasons, the document client's marshalling
 * errors, and Kafka's MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE for what the step produces (also inside the
 * client's aggregated errors). Everything else (throttling, timeouts, a broker or table away, a failed
 * idempotency store) is transient.
 */
export function isPermanent(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (candidate: unknown, depth: number): boolean => {
    if (typeof candidate !== 'object' || candidate === null || seen.has(candidate) || depth > 4) return false;
    seen.add(candidate);
    const current = candidate as ErrorLike;
    if (isPermanentItself(current)) return true;
    // The Kafka client aggregates one error per partition of a produce request.
    if (Array.isArray(current.errors) && current.errors.some((inner) => visit(inner, depth + 1))) return true;
    // The idempotency layer wraps its own store's failures: those are infrastructure, whatever their cause.
    const name = typeof current.name === 'string' ? current.name : '';
    return !name.startsWith('Idempotency') && visit(current.cause, depth + 1);
  };
  return visit(error, 0);
}
