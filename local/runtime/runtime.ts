import { consumerGroupId, type FunctionName, functionNames, manifest } from '../../topology/index.ts';
import type { FaultProfile } from '../faults/profile.ts';
import { type FaultLayer, startFaultLayer } from '../faults/proxy.ts';
import type { ProvisionOptions } from '../infra/provision.ts';
import { type RunningApi, startApiEmulator } from './api-emulator.ts';
import { functionEnvironment, passedThroughVariables } from './environment.ts';
import { EnvironmentPool, type InvocationReport } from './environments/pool.ts';
import { EsmEmulator } from './esm-emulator.ts';
import type { RetryBackoff } from './esm-lane.ts';
import { failedOutcome, type Invoker } from './lambda-context.ts';
import { ScheduleEmulator } from './scheduler.ts';
import { localIamVerifier, type SigV4VerifierOptions } from './sigv4-verifier.ts';

/** The endpoints and table prefix are provisioning's: the functions reach what it created. */
export interface LocalRuntimeOptions extends ProvisionOptions {
  /** API emulator port on 127.0.0.1; 0 picks a free one. Defaults to 3000. */
  apiPort?: number;
  /** Which functions to run (default: all of the manifest). */
  functions?: readonly FunctionName[];
  /** Consumer group of a function's mapping; defaults to `consumerGroupId(fn)`, as on AWS. */
  groupIdOf?: (fn: FunctionName) => string;
  /** Wraps a function's invocations as Invoke's caller sees them (tests); a wrapper's throw fails one. */
  wrapInvoker?: (fn: FunctionName, invoke: Invoker) => Invoker;
  /** Modules (from the project root) an environment imports before its function (bench counters, KPI feed). */
  preload?: readonly string[] | ((fn: FunctionName) => readonly string[]);
  /** A module exporting `wrapHandler(functionName, handler)`, bundled around every handler (tests). */
  handlerWrapper?: string;
  /** Every invocation's REPORT, as its line says it. */
  onReport?: (report: InvocationReport) => void;
  /** What a preloaded module posts from inside an environment. */
  onTelemetry?: (fn: FunctionName, data: unknown) => void;
  /** Where the START / END / REPORT lines go; defaults to `log`. */
  invocationLog?: (line: string) => void;
  retryBackoff?: RetryBackoff;
  /** Overrides every schedule's rate; `Infinity` runs them only on `schedules[i].runNow()`. */
  scheduleIntervalMs?: number;
  /** Injected AWS errors (local/faults/): DynamoDB and SNS reached through a fault layer's proxies. */
  faults?: FaultProfile;
  /**
   * API Gateway's AWS_IAM authorization on the routes the manifest signs (`npm start -- --iam`): `true`
   * checks SigV4 signatures against the environment's credentials or the local defaults (./sigv4-verifier.ts), or
   * give the credentials and region. Off when absent: the API accepts unsigned requests.
   */
  iam?: true | SigV4VerifierOptions;
  log?: (line: string) => void;
}

export interface LocalRuntime {
  apiUrl: string | undefined;
  emulators: EsmEmulator[];
  /** The scheduled functions' timers; `runNow()` runs one at once (tests). */
  schedules: ScheduleEmulator[];
  pools: EnvironmentPool[];
  functions: { name: FunctionName; trigger: string; groupId?: string }[];
  /** The fault layer in front of DynamoDB and SNS, when `faults` was given: its counters, its profile. */
  faults?: FaultLayer;
  /** Stops the emulators and the API (an invocation in flight finishes), then ends every environment. */
  stop(): Promise<void>;
}

/** A wrapper's throw fails the invocation, as a failing function would; it never escapes to the emulators. */
function guarded(invoke: Invoker): Invoker {
  return async (event) => {
    try {
      return await invoke(event);
    } catch (error) {
      return failedOutcome(error);
    }
  };
}

/**
 * Runs the manifest's functions like Lambda runs them: each in execution environments of its own
 * (processes with exactly its variables, its own modules and clients, its memory cap; see
 * ./environments/pool.ts), order-api behind an API Gateway emulator, every Kafka-triggered function behind
 * its own MSK event source mapping emulator, every scheduled function on a timer (its EventBridge rule).
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let stopped: Promise<void> | undefined;
  const runtime: LocalRuntime = {
    apiUrl: undefined,
    emulators: [],
    schedules: [],
    pools: [],
    functions: [],
    // Once: a second stop (a test's teardown after an explicit stop) waits for the first.
    stop: () => {
      stopped ??= (async () => {
        await Promise.all([...runtime.schedules, ...runtime.emulators].map((emulator) => emulator.stop()));
        await api?.close();
        await Promise.all(runtime.pools.map((pool) => pool.stop()));
        await runtime.faults?.close();
      })();
      return stopped;
    },
  };
  let api: RunningApi | undefined;
  try {
    if (options.faults) {
      runtime.faults = await startFaultLayer({ ...options, profile: options.faults, log });
    }
    // With faults, the functions reach DynamoDB and SNS through the fault layer's proxies.
    const { dynamodbEndpoint, snsEndpoint } = runtime.faults ?? options;
    const endpoints = { ...options, dynamodbEndpoint, snsEndpoint };
    runtime.pools = (options.functions ?? functionNames).map((fn) => poolOf(fn, endpoints, log));
    // Every bundle first, together, as a deployment builds them: one that does not build stops the start.
    await Promise.all(runtime.pools.map((pool) => pool.prepare()));
    for (const pool of runtime.pools) {
      const fn = pool.functionName as FunctionName;
      const spec = manifest.functions[fn];
      const invoke = guarded(options.wrapInvoker ? options.wrapInvoker(fn, pool.invoke) : pool.invoke);
      const identity = { functionName: fn, memoryMb: spec.memoryMb, timeoutSeconds: spec.timeoutSeconds };
      if (spec.trigger.kind === 'http') {
        const iam = options.iam === true ? localIamVerifier() : options.iam;
        api = await startApiEmulator({
          ...identity,
          invoke,
          port: options.apiPort,
          iam,
          log,
        });
        runtime.apiUrl = api.url;
        runtime.functions.push({ name: fn, trigger: `HTTP ${api.url}` });
      } else if (spec.trigger.kind === 'schedule') {
        const intervalMs = options.scheduleIntervalMs ?? spec.trigger.rateMinutes * 60_000;
        const schedule = new ScheduleEmulator({ ...identity, intervalMs, invoke, log });
        schedule.start();
        runtime.schedules.push(schedule);
        runtime.functions.push({ name: fn, trigger: `Schedule every ${formatInterval(intervalMs)}` });
      } else {
        const groupId = options.groupIdOf?.(fn) ?? consumerGroupId(fn);
        const { trigger } = spec;
        const { kafkaBrokers: bootstrapBrokers, retryBackoff } = options;
        const emulator = new EsmEmulator({
          ...identity,
          trigger,
          groupId,
          bootstrapBrokers,
          invoke,
          retryBackoff,
          log,
        });
        await emulator.start();
        runtime.emulators.push(emulator);
        runtime.functions.push({ name: fn, trigger: `Kafka ${trigger.topic}`, groupId });
      }
    }
  } catch (error) {
    await runtime.stop().catch(() => undefined);
    throw error;
  }
  return runtime;
}

function poolOf(
  fn: FunctionName,
  options: LocalRuntimeOptions,
  log: (line: string) => void,
): EnvironmentPool {
  const { onTelemetry } = options;
  return new EnvironmentPool({
    ...manifest.functions[fn],
    functionName: fn,
    env: { ...passedThroughVariables(), ...functionEnvironment(fn, options) },
    log: options.invocationLog ?? log,
    preload: typeof options.preload === 'function' ? options.preload(fn) : options.preload,
    wrapper: options.handlerWrapper,
    onReport: options.onReport,
    onTelemetry: onTelemetry && ((data: unknown) => onTelemetry(fn, data)),
  });
}

const formatInterval = (ms: number): string =>
  !Number.isFinite(ms)
    ? 'never (on demand)'
    : ms % 60_000 === 0
      ? `${ms / 60_000} min`
      : `${Number((ms / 1000).toFixed(3))} s`;
