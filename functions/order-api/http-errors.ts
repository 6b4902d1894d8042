/**
 * Errors that are their own answer: each carries its status, its JSON body and its headers, so a route
 * throws (or returns) one and the one place that answers errors (`answerOf` in `failures.ts`) sends it
 * as it is. Modelled on Powertools' `HttpError` (`@aws-lambda-powertools/event-handler/http`), not built
 * on it: that family's body is `{statusCode, error, message, details}`, it carries no headers
 * (`Retry-After`, `Accept-Post`) and it has no 409, 415 or business 422 (its 422 is request validation),
 * so each of our classes would override what it inherits; see functions/README.md, "order-api's answers".
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Issue } from '../../events/codec.ts';
import { json } from './responses.ts';

/** The body of every 4xx: a message, and one reason per field when the input had several. */
export interface ErrorBody {
  message: string;
  errors?: Issue[];
}

export interface HttpErrorOptions {
  /** One reason per field, at the field's path. */
  errors?: readonly Issue[];
  /** Body fields a class adds beside `message` (the order's `status`, a failure's `reason`). */
  details?: Readonly<Record<string, unknown>>;
  headers?: Readonly<Record<string, string>>;
  cause?: unknown;
}

/** An answer that is not a success. `statusCode`, `headers` and `body` are what API Gateway sends. */
export abstract class HttpError extends Error {
  abstract readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly #details: Readonly<Record<string, unknown>>;

  constructor(message: string, options: HttpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options.headers ?? {};
    this.#details = { ...(options.errors ? { errors: [...options.errors] } : {}), ...options.details };
  }

  toJSON(): ErrorBody & Record<string, unknown> {
    return { message: this.message, ...this.#details };
  }

  /** The JSON body, as sent. */
  get body(): string {
    return JSON.stringify(this.toJSON());
  }

  toResponse(): APIGatewayProxyResult {
    return json(this.statusCode, this.toJSON(), this.headers);
  }

  /** The log line the answer deserves: none for a client's mistake. */
  report(_logger: Logger): void {}
}

/**
 * The base of one status's errors: `name` spelled out (bundling renames classes), `statusCode` fixed.
 * Each error below is still its own named class, for `instanceof` and for a constructor of its own.
 */
function statusError(name: string, statusCode: number) {
  return class extends HttpError {
    override readonly name: string = name;
    readonly statusCode = statusCode;
  };
}

export class BadRequestError extends statusError('BadRequestError', 400) {}

export class NotFoundError extends statusError('NotFoundError', 404) {}

/** The request contradicts what is stored (an order's content or state, an Idempotency-Key's request). */
export class ConflictError extends statusError('ConflictError', 409) {}

export class PayloadTooLargeError extends statusError('PayloadTooLargeError', 413) {}

/** RFC 9110 §15.5.16; `Accept-Post` (RFC 9110 has none for POST: W3C LDP §7.1) names what is. */
export class UnsupportedMediaTypeError extends statusError('UnsupportedMediaTypeError', 415) {
  constructor(message: string) {
    super(message, { headers: { 'accept-post': 'application/json' } });
  }
}

/** Well-formed, but the catalog cannot sell it now (an entry the operator must fix). */
export class UnprocessableError extends statusError('UnprocessableError', 422) {}

/**
 * DynamoDB refused the order's write as invalid (ValidationException): something the client sent got
 * past validation. Nothing was written, so the answer is a 400; the gap is a bug and logged as one.
 */
export class OrderNotStorableError extends BadRequestError {
  override readonly name: string = 'OrderNotStorableError';
  readonly #reason: string;
  constructor(reason: string) {
    super('The order contains a value that cannot be stored');
    this.#reason = reason;
  }
  override report(logger: Logger): void {
    // Not the client's fault that we let it through; the reason says what DynamoDB refused.
    logger.error('BUG: validation let through an order DynamoDB refuses', { reason: this.#reason });
  }
}
