import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resetClients } from '../../functions/shared/lifecycle.ts';
import { consumerGroupId, type FunctionName, functionNames, manifest } from '../../topology/index.ts';
import { projectRoot } from '../python/venv.ts';
import { type RunningApi, startApiEmulator } from './api-emulator.ts';
import {
  applyEnvironment,
  functionEnvironment,
  type LocalEndpoints,
  perFunctionVariables,
  sharedEnvironment,
} from './environment.ts';
import { EsmEmulator, type RetryBackoff } from './esm-emulator.ts';
import type { LambdaHandler } from './lambda-context.ts';
import { ScheduleEmulator } from './scheduler.ts';

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
  /** Lets tests wrap a real handler, e.g. to inject failures. */
  wrapHandler?: (fn: FunctionName, handler: AnyHandler) => AnyHandler;
  retryBackoff?: RetryBackoff;
  /**
   * Interval of every scheduled function; defaults to the manifest's rate (tests and demos go faster).
   * `Infinity` runs them only when asked (`schedules[i].runNow()`).
   */
  scheduleIntervalMs?: number;
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
  functions: FunctionSummary[];
  /** Stops the emulators, closes the API and the functions' clients, restores process.env. */
  stop(): Promise<void>;
}

/** Imports a function's entry module (a path relative to the project root) and returns its `handler`. */
export async function loadHandler(entry: string): Promise<AnyHandler> {
  const module = (await import(pathToFileURL(resolve(projectRoot, entry)).href)) as { handler?: unknown };
  if (typeof module.handler !== 'function')
    throw new Error(`${entry} does not export a function named handler`);
  return module.handler as AnyHandler;
}

/**
 * Runs the manifest's functions in this process, like Lambda would run them: order-api behind an
 * API Gateway emulator, every Kafka-triggered function behind its own MSK event source mapping emulator,
 * every scheduled function on a timer (its EventBridge rule).
 *
 * The functions share this process and its `process.env`. Shared variables have one value for all of
 * them (checked by `sharedEnvironment`); the per-function ones (service name, function name, ...) are
 * set while each entry module is imported, so clients built at module load (Powertools Logger, Metrics,
 * the idempotency persistence layer) see their own function's values. Code that reads those variables
 * later, at invocation time, sees the values of the last function loaded.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const fns = options.functions ?? functionNames;
  const restoreShared = applyEnvironment(sharedEnvironment(fns, options));
  const restorers = [restoreShared];
  const emulators: EsmEmulator[] = [];
  const schedules: ScheduleEmulator[] = [];
  const summaries: FunctionSummary[] = [];
  let api: RunningApi | undefined;

  const stop = async () => {
    await Promise.all([...schedules, ...emulators].map((emulator) => emulator.stop()));
    await api?.close();
    // The functions' Kafka producer and cached clients: closed, and forgotten for the next start.
    await resetClients().catch((error: unknown) => log(`[runtime] closing the functions' clients: ${error}`));
    for (const restore of restorers.reverse()) restore();
  };

  try {
    for (const fn of fns) {
      const spec = manifest.functions[fn];
      const own = functionEnvironment(fn, options);
      restorers.push(
        applyEnvironment(Object.fromEntries(perFunctionVariables.map((name) => [name, own[name] as string]))),
      );
      const loaded = await loadHandler(spec.entry);
      const handler = options.wrapHandler ? options.wrapHandler(fn, loaded) : loaded;
      const identity = { functionName: fn, memoryMb: spec.memoryMb, timeoutSeconds: spec.timeoutSeconds };
      if (spec.trigger.kind === 'http') {
        api = await startApiEmulator({
          ...identity,
          handler,
          ...(options.apiHost ? { host: options.apiHost } : {}),
          port: options.apiPort ?? 3000,
          log,
        });
        summaries.push({ name: fn, trigger: `HTTP ${api.url}` });
        continue;
      }
      if (spec.trigger.kind === 'schedule') {
        const schedule = new ScheduleEmulator({
          ...identity,
          intervalMs: options.scheduleIntervalMs ?? spec.trigger.rateMinutes * 60_000,
          handler,
          log,
        });
        schedule.start();
        schedules.push(schedule);
        summaries.push({ name: fn, trigger: `Schedule every ${formatInterval(schedule.intervalMs)}` });
        continue;
      }
      const groupId = options.groupIdOf?.(fn) ?? consumerGroupId(fn);
      const emulator = new EsmEmulator({
        ...identity,
        trigger: spec.trigger,
        groupId,
        bootstrapBrokers: options.kafkaBrokers,
        handler,
        ...(options.retryBackoff ? { retryBackoff: options.retryBackoff } : {}),
        log,
      });
      await emulator.start();
      emulators.push(emulator);
      summaries.push({ name: fn, trigger: `Kafka ${spec.trigger.topic}`, groupId });
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { apiUrl: api?.url, emulators, schedules, functions: summaries, stop };
}

const formatInterval = (ms: number): string =>
  !Number.isFinite(ms)
    ? 'never (on demand)'
    : ms % 60_000 === 0
      ? `${ms / 60_000} min`
      : `${Number((ms / 1000).toFixed(3))} s`;
