import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { consumerGroupId, type FunctionName, functionNames, manifest } from '../../topology/index.ts';
import type { FaultProfile } from '../faults/profile.ts';
import { type FaultLayer, startFaultLayer } from '../faults/proxy.ts';
import { projectRoot } from '../python/venv.ts';
import { type RunningApi, startApiEmulator } from './api-emulator.ts';
import { functionEnvironment, type LocalEndpoints, passedThroughVariables } from './environment.ts';
import { EnvironmentPool } from './environments/pool.ts';
import type { InvocationReport } from './environments/report.ts';
import { EsmEmulator, type RetryBackoff } from './esm-emulator.ts';
import { localIamVerifier } from './iam.ts';
import { describeError, type Invoker } from './invoke.ts';
import type { LambdaHandler } from './lambda-context.ts';
import { ScheduleEmulator } from './scheduler.ts';
import type { SigV4VerifierOptions } from './sigv4-verifier.ts';

// biome-ignore lint/suspicious/noExplicitAny: handlers take and return many event shapes.
type AnyHandler = LambdaHandler<any, any>;

export interface LocalRuntimeOptions extends LocalEndpoints {
  /** API emulator address; port 0 picks a free one. Defaults to 127.0.0.1:3000. */
  apiHost?: string;
  apiPort?: number;
  /** Which functions to run (default: all of the manifest). */
  functions?: readonly FunctionName[];
  /** Consumer group of a function's mapping; defaults to `consumerGroupId(fn)`, as on AWS. */
  groupIdOf?: (fn: FunctionName) => string;
  /**
   * Wraps a function's invocations from the outside, as a caller of Lambda's Invoke sees them (tests inject
   * failures or watch what was handled). A wrapper that throws fails that invocation.
   */
  wrapInvoker?: (fn: FunctionName, invoke: Invoker) => Invoker;
  /**
   * Modules (relative to the project root) an environment imports before its function: the bench's
   * counters in every function's, the dashboard's KPI feed in the kpis function's.
   */
  preload?: readonly string[] | ((fn: FunctionName) => readonly string[]);
  /**
   * A module (relative to the project root) exporting `wrapHandler(functionName, handler)`: bundled around
   * every function's handler, so it runs inside the environments (tests make records crash their consumer).
   */
  handlerWrapper?: string;
  /** Every invocation's REPORT, as its line says it. */
  onReport?: (report: InvocationReport) => void;
  /** What a preloaded module posts from inside an environment. */
  onTelemetry?: (fn: FunctionName, data: unknown) => void;
  /** Where the START / END / REPORT lines go; defaults to `log`. */
  invocationLog?: (line: string) => void;
  retryBackoff?: RetryBackoff;
  /**
   * Interval of every scheduled function; defaults to the manifest's rate (tests and demos go faster).
   * `Infinity` runs them only when asked (`schedules[i].runNow()`).
   */
  scheduleIntervalMs?: number;
  /**
   * Injected AWS errors (local/faults/): the functions get a fault layer's proxies as their DynamoDB and SNS
   * endpoints instead of `dynamodbEndpoint` / `snsEndpoint`. Off when absent.
   */
  faults?: FaultProfile;
  /**
   * API Gateway's AWS_IAM authorization on the routes the manifest signs (`npm start -- --iam`): `true`
   * checks SigV4 signatures against the environment's credentials or the local defaults (./iam.ts), or
   * give the credentials and region. Off when absent: the API accepts unsigned requests.
   */
  iam?: true | SigV4VerifierOptions;
  log?: (line: string) => void;
}

export interface FunctionSummary {
  name: FunctionName;
  trigger: string;
  groupId?: string;
}

export interface LocalRuntime {
  /** Base URL of the API emulator (when order-api runs). */
  apiUrl: string | undefined;
  emulators: EsmEmulator[];
  /** The scheduled functions' timers; `runNow()` runs one at once (tests). */
  schedules: ScheduleEmulator[];
  /** Each function's execution environments. */
  pools: EnvironmentPool[];
  functions: FunctionSummary[];
  /** The fault layer in front of DynamoDB and SNS, when `faults` was given: its counters, its profile. */
  faults?: FaultLayer;
  /** Stops the emulators and the API (an invocation in flight finishes), then ends every environment. */
  stop(): Promise<void>;
}

/** Imports a function's entry module (a path relative to the project root) into this process (`npm run invoke`). */
export async function loadHandler(entry: string): Promise<AnyHandler> {
  const module = (await import(pathToFileURL(resolve(projectRoot, entry)).href)) as { handler?: unknown };
  if (typeof module.handler !== 'function')
    throw new Error(`${entry} does not export a function named handler`);
  return module.handler as AnyHandler;
}

/** A wrapper's throw fails the invocation, as a failing function would; it never escapes to the emulators. */
function guarded(invoke: Invoker): Invoker {
  return async (event) => {
    try {
      return await invoke(event);
    } catch (error) {
      return { status: 'error', requestId: 'unknown', kind: 'function', ...describeError(error) };
    }
  };
}

/**
 * Runs the manifest's functions like Lambda runs them: each in execution environments of its own (worker
 * threads with exactly its variables, its own modules and clients, its memory cap; see
 * ./environments/pool.ts), order-api behind an API Gateway emulator, every Kafka-triggered function behind
 * its own MSK event source mapping emulator, every scheduled function on a timer (its EventBridge rule).
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const running: Running = {
    emulators: [],
    schedules: [],
    pools: [],
    summaries: [],
    api: undefined,
    faults: undefined,
  };

  let stopped: Promise<void> | undefined;
  // Once: a second stop (a test's teardown after an explicit stop) waits for the first.
  const stop = () => {
    stopped ??= (async () => {
      await Promise.all([...running.schedules, ...running.emulators].map((emulator) => emulator.stop()));
      await running.api?.close();
      await Promise.all(running.pools.map((pool) => pool.stop()));
      await running.faults?.close();
    })();
    return stopped;
  };

  try {
    const fns = options.functions ?? functionNames;
    if (options.faults) {
      running.faults = await startFaultLayer({
        profile: options.faults,
        dynamodbEndpoint: options.dynamodbEndpoint,
        snsEndpoint: options.snsEndpoint,
        log,
      });
    }
    const { faults } = running;
    const endpoints = faults
      ? { ...options, dynamodbEndpoint: faults.dynamodbEndpoint, snsEndpoint: faults.snsEndpoint }
      : options;
    running.pools = fns.map((fn) => poolOf(fn, endpoints, log));
    // Every bundle first, together, as a deployment builds them: one that does not build stops the start.
    await Promise.all(running.pools.map((pool) => pool.prepare()));
    for (const [index, fn] of fns.entries()) {
      await startFunction(fn, running.pools[index] as EnvironmentPool, options, running, log);
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  const { api, emulators, schedules, pools, summaries, faults } = running;
  return {
    apiUrl: api?.url,
    emulators,
    schedules,
    pools,
    functions: summaries,
    ...(faults ? { faults } : {}),
    stop,
  };
}

interface Running {
  emulators: EsmEmulator[];
  schedules: ScheduleEmulator[];
  pools: EnvironmentPool[];
  summaries: FunctionSummary[];
  api: RunningApi | undefined;
  faults: FaultLayer | undefined;
}

function poolOf(
  fn: FunctionName,
  options: LocalRuntimeOptions,
  log: (line: string) => void,
): EnvironmentPool {
  const spec = manifest.functions[fn];
  const { onReport, onTelemetry } = options;
  const preload = typeof options.preload === 'function' ? options.preload(fn) : options.preload;
  return new EnvironmentPool({
    functionName: fn,
    entry: spec.entry,
    memoryMb: spec.memoryMb,
    timeoutSeconds: spec.timeoutSeconds,
    maxConcurrency: spec.maxConcurrency,
    env: { ...passedThroughVariables(), ...functionEnvironment(fn, options) },
    log: options.invocationLog ?? log,
    ...(preload ? { preload } : {}),
    ...(options.handlerWrapper ? { wrapper: options.handlerWrapper } : {}),
    ...(onReport ? { onReport } : {}),
    ...(onTelemetry ? { onTelemetry: (data: unknown) => onTelemetry(fn, data) } : {}),
  });
}

/** Starts the emulator of one function's trigger, in front of its environments. */
async function startFunction(
  fn: FunctionName,
  pool: EnvironmentPool,
  options: LocalRuntimeOptions,
  running: Running,
  log: (line: string) => void,
): Promise<void> {
  const spec = manifest.functions[fn];
  const invoke = guarded(options.wrapInvoker ? options.wrapInvoker(fn, pool.invoke) : pool.invoke);
  const identity = { functionName: fn, memoryMb: spec.memoryMb, timeoutSeconds: spec.timeoutSeconds };
  if (spec.trigger.kind === 'http') {
    running.api = await startApiEmulator({
      ...identity,
      invoke,
      ...(options.apiHost ? { host: options.apiHost } : {}),
      ...(options.iam ? { iam: options.iam === true ? localIamVerifier() : options.iam } : {}),
      port: options.apiPort ?? 3000,
      log,
    });
    running.summaries.push({ name: fn, trigger: `HTTP ${running.api.url}` });
    return;
  }
  if (spec.trigger.kind === 'schedule') {
    const schedule = new ScheduleEmulator({
      ...identity,
      intervalMs: options.scheduleIntervalMs ?? spec.trigger.rateMinutes * 60_000,
      invoke,
      log,
    });
    schedule.start();
    running.schedules.push(schedule);
    running.summaries.push({ name: fn, trigger: `Schedule every ${formatInterval(schedule.intervalMs)}` });
    return;
  }
  const groupId = options.groupIdOf?.(fn) ?? consumerGroupId(fn);
  const emulator = new EsmEmulator({
    ...identity,
    trigger: spec.trigger,
    groupId,
    bootstrapBrokers: options.kafkaBrokers,
    invoke,
    ...(options.retryBackoff ? { retryBackoff: options.retryBackoff } : {}),
    log,
  });
  await emulator.start();
  running.emulators.push(emulator);
  running.summaries.push({ name: fn, trigger: `Kafka ${spec.trigger.topic}`, groupId });
}

const formatInterval = (ms: number): string =>
  !Number.isFinite(ms)
    ? 'never (on demand)'
    : ms % 60_000 === 0
      ? `${ms / 60_000} min`
      : `${Number((ms / 1000).toFixed(3))} s`;
