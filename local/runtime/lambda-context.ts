import { randomBytes, randomUUID } from 'node:crypto';
import type { Callback, Context } from 'aws-lambda';

/** A handler as Lambda's Node.js runtime accepts it: async, or callback-style. */
export type LambdaHandler<E = unknown, R = unknown> = (
  event: E,
  context: Context,
  callback: Callback<R>,
) => Promise<R> | R | undefined;

export interface FunctionIdentity {
  functionName: string;
  memoryMb: number;
  timeoutSeconds: number;
}

/** The account and region of every fake ARN the local runtime hands out. */
export const LOCAL_ACCOUNT_ID = '000000000000';
export const localRegion = (): string => process.env.AWS_REGION ?? 'us-east-1';
export const localFunctionArn = (functionName: string): string =>
  `arn:aws:lambda:${localRegion()}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;

/** What {@link raceTimeout} gives when the time ran out first (a symbol: no handler can return it). */
export const TIMED_OUT = Symbol('timed out');

/** `work`'s value, or {@link TIMED_OUT} when `ms` pass first; the timer is cleared either way. */
export function raceTimeout<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** What the runtime reports when a handler outlives its timeout; the invocation counts as failed. */
export const timeoutError = (timeoutSeconds: number): Error =>
  Object.assign(new Error(`Task timed out after ${timeoutSeconds.toFixed(2)} seconds`), {
    name: 'Sandbox.Timedout',
  });

/** The `context` argument of one invocation, as the Node.js runtime builds it. */
export function createLambdaContext(
  fn: FunctionIdentity,
  deadline: number,
  requestId: string = randomUUID(),
): Context {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is deprecated and not supported by the local runtime`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: localFunctionArn(fn.functionName),
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}

/**
 * Calls `handler` as the Node.js runtime does: settles on the returned promise, or on the callback for a
 * callback-style handler (one that declares three parameters).
 */
export function callHandler<E, R>(handler: LambdaHandler<E, R>, event: E, context: Context): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const callback: Callback<R> = (error, result) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result as R);
    try {
      const returned = handler(event, context, callback);
      if (returned !== undefined && typeof (returned as Promise<R>).then === 'function') {
        (returned as Promise<R>).then(resolve, reject);
      } else if (handler.length < 3) {
        resolve(returned as R);
      }
    } catch (error) {
      reject(error);
    }
  });
}

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

/** A thrown value as Lambda reports it: `errorType` is the error's name, `errorMessage` its message. */
export function describeError(error: unknown): { errorType: string; errorMessage: string } {
  if (error instanceof Error) return { errorType: error.name, errorMessage: error.message };
  return { errorType: 'Error', errorMessage: String(error) };
}

/** A thrown value as a failed invocation's outcome (by default the handler's own error, Lambda's `Unhandled`). */
export function failedOutcome(
  error: unknown,
  requestId = 'unknown',
  kind: InvocationFailureKind = 'function',
): InvokeOutcome<never> {
  return { status: 'error', requestId, kind, ...describeError(error) };
}

/**
 * An invoker that runs `handler` in this process (no isolation), the way the Node.js runtime does: with a
 * fresh context, failing with `Sandbox.Timedout` when the function's timeout elapses first. For `npm run
 * invoke` and unit tests.
 *
 * Differs from AWS: a timed-out handler is not frozen. Lambda throws the sandbox away; here its promise
 * keeps running in the background (its late writes are the same at-least-once hazard a retry after a real
 * timeout creates).
 */
export function inProcessInvoker<E, R>(fn: FunctionIdentity, handler: LambdaHandler<E, R>): Invoker<E, R> {
  return async (event) => {
    const timeoutMs = fn.timeoutSeconds * 1000;
    const context = createLambdaContext(fn, Date.now() + timeoutMs);
    const requestId = context.awsRequestId;
    try {
      const result = await raceTimeout(callHandler(handler, event, context), timeoutMs);
      if (result === TIMED_OUT) return failedOutcome(timeoutError(fn.timeoutSeconds), requestId, 'timeout');
      return { status: 'ok', requestId, payload: result };
    } catch (error) {
      return failedOutcome(error, requestId);
    }
  };
}
