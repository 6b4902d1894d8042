import {
  type FunctionIdentity,
  InvocationTimeoutError,
  invokeHandler,
  type LambdaHandler,
} from './lambda-context.ts';

/**
 * How an invocation failed, as Lambda tells them apart:
 * - `function`: the handler threw or rejected (Lambda's `Unhandled` function error, errorType its name);
 * - `timeout`: it outlived the function's timeout (`Sandbox.Timedout`); the environment is discarded;
 * - `crash`: the runtime exited under it (`process.exit`, an uncaught exception from a timer):
 *   `Runtime.ExitError`; the environment is discarded;
 * - `out-of-memory`: it went past the function's memory (`Runtime.OutOfMemory`); discarded too.
 */
export type InvocationFailureKind = 'function' | 'timeout' | 'crash' | 'out-of-memory';

/** What one invocation of a function returned, as the caller of Lambda's Invoke sees it. */
export type InvokeOutcome<R = unknown> =
  | { status: 'ok'; requestId: string; payload: R }
  | {
      status: 'error';
      requestId: string;
      kind: InvocationFailureKind;
      errorType: string;
      errorMessage: string;
    };

/** Invokes a function once with `event` (in whatever execution environment the runtime chooses). */
export type Invoker<E = unknown, R = unknown> = (event: E) => Promise<InvokeOutcome<R>>;

/** The error a caller throws for a failed outcome, with Lambda's type and the request id. */
export class InvocationFailedError extends Error {
  readonly awsRequestId: string;
  readonly kind: InvocationFailureKind;
  constructor(outcome: Extract<InvokeOutcome, { status: 'error' }>) {
    super(outcome.errorMessage);
    this.name = outcome.errorType;
    this.kind = outcome.kind;
    this.awsRequestId = outcome.requestId;
  }
}

/** The payload of a successful outcome, or the failure thrown as an {@link InvocationFailedError}. */
export function payloadOf<R>(outcome: InvokeOutcome<R>): R {
  if (outcome.status === 'ok') return outcome.payload;
  throw new InvocationFailedError(outcome);
}

/** A thrown value as Lambda reports it: `errorType` is the error's name, `errorMessage` its message. */
export function describeError(error: unknown): { errorType: string; errorMessage: string } {
  if (error instanceof Error) return { errorType: error.name, errorMessage: error.message };
  return { errorType: 'Error', errorMessage: String(error) };
}

/**
 * An invoker that runs `handler` in this process (no isolation): for `npm run invoke` and unit tests.
 * A timeout is reported as one, but the handler's promise cannot be stopped.
 */
export function inProcessInvoker<E, R>(fn: FunctionIdentity, handler: LambdaHandler<E, R>): Invoker<E, R> {
  return async (event) => {
    try {
      const { requestId, result } = await invokeHandler(fn, handler, event);
      return { status: 'ok', requestId, payload: result };
    } catch (error) {
      const { awsRequestId = 'unknown' } = error as { awsRequestId?: string };
      return {
        status: 'error',
        requestId: awsRequestId,
        kind: error instanceof InvocationTimeoutError ? 'timeout' : 'function',
        ...describeError(error),
      };
    }
  };
}
