/**
 * The runtime of one execution environment, a process of its own (started by ./environment.ts, run as
 * TypeScript: Node.js strips the types): imports the function's bundle once (the init phase), then runs one invocation at a
 * time as the local runtime asks over IPC. Its `process.env` is the function's own, its heap is capped at
 * the function's memory size (`--max-old-space-size`), and whatever ends it — `process.exit`, an uncaught
 * exception, running out of memory, a timeout's kill — ends this environment only.
 */
import {
  callHandler,
  createLambdaContext,
  describeError,
  failedOutcome,
  type InvokeOutcome,
  type LambdaHandler,
} from '../lambda-context.ts';
import type { EnvironmentData, FromEnvironment, ToEnvironment } from './environment.ts';
import { answerHooks, markEnvironment } from './telemetry.ts';

const send = process.send?.bind(process);
if (!send) throw new Error('local/runtime/environments/bootstrap.ts runs only as an environment process');
const post = (message: FromEnvironment, then?: () => void) => send(message, undefined, undefined, then);
const data = JSON.parse(process.argv[2] ?? '{}') as EnvironmentData;
markEnvironment();
// The local runtime went away (a kill -9 of npm start): nothing is left running.
process.on('disconnect', () => process.exit(0));

/** Peak resident memory, as Lambda's "Max Memory Used" counts the environment's memory. */
const memoryUsedMb = () => process.resourceUsage().maxRSS / 1024;

// As Lambda's Node.js runtime: an error nobody catches is reported with its type, and the runtime exits.
const uncaught = (error: unknown) =>
  post({ type: 'uncaught', ...describeError(error) }, () => process.exit(129));
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);

// biome-ignore lint/suspicious/noExplicitAny: a handler takes and returns its trigger's shapes.
async function init(): Promise<LambdaHandler<any, any> | undefined> {
  const started = performance.now();
  try {
    const module = (await import(data.entryUrl)) as { handler?: unknown };
    if (typeof module.handler !== 'function') {
      post({
        type: 'init-error',
        errorType: 'Runtime.HandlerNotFound',
        errorMessage: `${data.functionName}: the entry module exports no function named handler`,
      });
      return undefined;
    }
    post({ type: 'ready', initDurationMs: performance.now() - started, memoryUsedMb: memoryUsedMb() });
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    return module.handler as LambdaHandler<any, any>;
  } catch (error) {
    const { errorType, errorMessage } = describeError(error);
    post({ type: 'init-error', errorType: `Runtime.ImportModuleError: ${errorType}`, errorMessage });
    return undefined;
  }
}

/** Lambda sends the response as JSON: what JSON cannot carry is a `Runtime.MarshalError`, not a crash. */
function asJson(requestId: string, payload: unknown): InvokeOutcome {
  try {
    const json = payload === undefined ? null : JSON.parse(JSON.stringify(payload));
    return { status: 'ok', requestId, payload: json };
  } catch (error) {
    const errorMessage = `Unable to stringify response body: ${describeError(error).errorMessage}`;
    return failedOutcome(Object.assign(new Error(errorMessage), { name: 'Runtime.MarshalError' }), requestId);
  }
}

const handler = await init();
if (handler) {
  process.on('message', ({ requestId, deadline, event }: ToEnvironment) => {
    callHandler(handler, event, createLambdaContext(data, deadline, requestId))
      .then(
        (payload) => asJson(requestId, payload),
        (error: unknown) => failedOutcome(error, requestId),
      )
      .then((outcome) => {
        // What the preloaded modules want sent first (the bench's counters), then the answer.
        for (const hook of answerHooks()) hook();
        post({ type: 'answer', outcome, memoryUsedMb: memoryUsedMb() });
      });
  });
} else {
  process.disconnect();
}
