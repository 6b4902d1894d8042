/**
 * The runtime of one execution environment (a worker thread; bundled by ./bundle.ts): imports the function's
 * bundle once (the init phase), then runs one invocation at a time as the runtime asks. Its `process.env` is the function's own
 * (the worker's `env`), its module graph and clients are its own, and its heap is capped by the runtime.
 * Whatever kills this thread — `process.exit`, an uncaught exception, running out of memory, a timeout —
 * ends this environment only; the runtime reports it and starts a fresh one for the next invocation.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { callHandler, createLambdaContext, type LambdaHandler } from '../lambda-context.ts';
import type { EnvironmentData, FromEnvironment, ToEnvironment } from './protocol.ts';

const data = workerData as EnvironmentData;
const port = parentPort;
if (!port) throw new Error('local/runtime/environments/worker.ts runs only as a worker thread');
const post = (message: FromEnvironment) => port.postMessage(message);

let peakMb = 0;
/** V8's used heap plus memory held outside it (buffers): the closest a thread gets to "Max Memory Used". */
function memoryUsedMb(): number {
  const heap = getHeapStatistics();
  peakMb = Math.max(peakMb, (heap.used_heap_size + heap.external_memory) / 2 ** 20);
  return peakMb;
}

const described = (error: unknown) =>
  error instanceof Error
    ? { errorType: error.name, errorMessage: error.message }
    : { errorType: 'Error', errorMessage: String(error) };

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
    const { errorType, errorMessage } = described(error);
    post({ type: 'init-error', errorType: `Runtime.ImportModuleError: ${errorType}`, errorMessage });
    return undefined;
  }
}

const handler = await init();
if (handler) {
  port.on('message', (message: ToEnvironment) => {
    const { requestId, deadline, event } = message;
    const context = createLambdaContext(data, deadline, requestId);
    callHandler(handler, event, context).then(
      (payload) => answer(requestId, payload),
      (error: unknown) =>
        post({ type: 'error', requestId, ...described(error), memoryUsedMb: memoryUsedMb() }),
    );
  });
}

/** Lambda sends the response as JSON: what JSON cannot carry is a `Runtime.MarshalError`, not a crash. */
function answer(requestId: string, payload: unknown): void {
  let json: unknown;
  try {
    json = payload === undefined ? null : JSON.parse(JSON.stringify(payload));
  } catch (error) {
    const errorMessage = `Unable to stringify response body: ${described(error).errorMessage}`;
    post({
      type: 'error',
      requestId,
      errorType: 'Runtime.MarshalError',
      errorMessage,
      memoryUsedMb: memoryUsedMb(),
    });
    return;
  }
  post({ type: 'result', requestId, payload: json, memoryUsedMb: memoryUsedMb() });
}
