import { randomUUID } from 'node:crypto';
import { failedOutcome, type InvocationFailureKind, type Invoker } from '../lambda-context.ts';
import { type BuiltFunction, buildFunction } from './bundle.ts';
import { type EnvironmentSettings, ExecutionEnvironment } from './environment.ts';

/** What Lambda's REPORT line says of one invocation (and what the bench and the dashboard read). */
export interface InvocationReport {
  functionName: string;
  requestId: string;
  /** Wall time of the invocation phase, ms. */
  durationMs: number;
  /** The init phase of a cold start (the environment was created for this invocation), ms. */
  initDurationMs?: number;
  memorySizeMb: number;
  /** The environment's peak resident memory so far, MB. */
  maxMemoryUsedMb: number;
  /** Absent when the invocation succeeded or the handler threw (the environment lives on). */
  status?: Exclude<InvocationFailureKind, 'function'>;
}

/**
 * Billed duration, as Lambda rounds it: the invocation up to the next millisecond, plus, since
 * 1 August 2025, the init phase of an on-demand cold start (also rounded up).
 */
export function billedDurationMs(report: Pick<InvocationReport, 'durationMs' | 'initDurationMs'>): number {
  const invocation = Math.max(1, Math.ceil(report.durationMs));
  return report.initDurationMs === undefined ? invocation : invocation + Math.ceil(report.initDurationMs);
}

/** The REPORT line in Lambda's text format: tab-separated fields, init and status only when they apply. */
function reportLine(report: InvocationReport): string {
  const fields = [
    `REPORT RequestId: ${report.requestId}`,
    `Duration: ${report.durationMs.toFixed(2)} ms`,
    `Billed Duration: ${billedDurationMs(report)} ms`,
    `Memory Size: ${report.memorySizeMb} MB`,
    `Max Memory Used: ${Math.ceil(report.maxMemoryUsedMb)} MB`,
  ];
  if (report.initDurationMs !== undefined)
    fields.push(`Init Duration: ${report.initDurationMs.toFixed(2)} ms`);
  if (report.status) fields.push(`Status: ${report.status}`);
  return fields.join('\t');
}

/** What every environment of the function is given (its name, memory, timeout, variables), and more. */
export interface PoolOptions
  extends Pick<EnvironmentSettings, 'functionName' | 'memoryMb' | 'timeoutSeconds' | 'env' | 'onTelemetry'>,
    Omit<Parameters<typeof buildFunction>[0], 'functionName'> {
  /** The most environments at once; an invocation beyond waits for one to be free. */
  maxConcurrency: number;
  /** Where the START / END / REPORT lines and the runtime's own lines go. */
  log: (line: string) => void;
  onReport?: (report: InvocationReport) => void;
}

/** An environment for the invocation, or why it never reached the function (none could start, or stopping). */
type Acquired = { environment: ExecutionEnvironment; initDurationMs?: number } | Error;

/**
 * A function's execution environments, as Lambda keeps them: an invocation takes a warm idle one, or
 * creates one (a cold start, its init phase timed) while fewer than `maxConcurrency` exist, or waits for
 * one to be free. An environment that timed out, crashed or ran out of memory is discarded and the next
 * invocation gets a fresh one. Every invocation writes Lambda's START, END and REPORT lines.
 */
export class EnvironmentPool {
  /** `environmentsLost`: ended by a timeout, a crash or running out of memory. */
  readonly #counts = { invocations: 0, coldStarts: 0, environmentsLost: 0 };
  readonly #idle: ExecutionEnvironment[] = [];
  readonly #waiting: (() => void)[] = [];
  readonly #all = new Set<ExecutionEnvironment>();
  #creating = 0;
  #stopped = false;
  #built: Promise<BuiltFunction> | undefined;

  constructor(readonly options: PoolOptions) {}

  /** Builds the function's bundle (as a deployment would); the first cold start waits for it otherwise. */
  prepare(): Promise<BuiltFunction> {
    this.#built ??= buildFunction(this.options);
    return this.#built;
  }

  get functionName(): string {
    return this.options.functionName;
  }

  /** The counters, and the environments alive now (busy or idle). */
  get stats() {
    return { ...this.#counts, environments: this.#all.size };
  }

  /** Invokes the function once in one of its environments. */
  readonly invoke: Invoker = async (event) => {
    const requestId = randomUUID();
    const acquired = await this.#acquire();
    if (acquired instanceof Error) return failedOutcome(acquired, requestId, 'crash');
    const { environment, initDurationMs } = acquired;
    const { functionName, memoryMb, log } = this.options;
    this.#counts.invocations += 1;
    log(`START RequestId: ${requestId} Version: $LATEST`);
    const { outcome, durationMs, maxMemoryUsedMb } = await environment.invoke(event, requestId);
    const status = outcome.status === 'error' && outcome.kind !== 'function' ? outcome.kind : undefined;
    if (status && outcome.status === 'error')
      log(`${new Date().toISOString()} ${requestId} ${outcome.errorMessage} ${outcome.errorType}`);
    const report: InvocationReport = {
      functionName,
      requestId,
      durationMs,
      ...(initDurationMs === undefined ? {} : { initDurationMs }),
      memorySizeMb: memoryMb,
      maxMemoryUsedMb,
      ...(status ? { status } : {}),
    };
    log(`END RequestId: ${requestId}`);
    log(reportLine(report));
    this.options.onReport?.(report);
    this.#release(environment);
    return outcome;
  };

  /** Ends every environment, as Lambda ends one (killed: their clients go with them); waiting invocations fail. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const wake of this.#waiting.splice(0)) wake();
    await Promise.all([...this.#all].map((environment) => environment.discard().catch(() => undefined)));
    this.#all.clear();
    this.#idle.length = 0;
    await this.#built?.then((built) => built.remove()).catch(() => undefined);
  }

  async #acquire(): Promise<Acquired> {
    for (;;) {
      if (this.#stopped)
        return Object.assign(new Error('the local runtime is stopping'), { name: 'Runtime.Unavailable' });
      const warm = this.#idle.pop();
      if (warm && !warm.dead) return { environment: warm };
      if (warm) continue;
      if (this.#all.size + this.#creating < this.options.maxConcurrency) return this.#coldStart();
      await new Promise<void>((wake) => this.#waiting.push(wake));
    }
  }

  async #coldStart(): Promise<Acquired> {
    const { functionName, log } = this.options;
    this.#creating += 1;
    try {
      const { functionUrl } = await this.prepare();
      const created = await ExecutionEnvironment.create({
        ...this.options,
        entryUrl: functionUrl,
        onIdleDeath: (death) => {
          this.#counts.environmentsLost += 1;
          log(`[${functionName}] an idle environment ended: ${death.errorType}: ${death.errorMessage}`);
        },
      });
      this.#counts.coldStarts += 1;
      this.#all.add(created.environment);
      return created;
    } catch (error) {
      const { name, message } = error as Error;
      log(`[${functionName}] init failed: ${name}: ${message}`);
      return error as Error;
    } finally {
      this.#creating -= 1;
      this.#waiting.shift()?.();
    }
  }

  #release(environment: ExecutionEnvironment): void {
    if (environment.dead || this.#stopped) {
      if (environment.dead) this.#counts.environmentsLost += 1;
      this.#all.delete(environment);
      void environment.discard().catch(() => undefined);
    } else {
      this.#idle.push(environment);
    }
    this.#waiting.shift()?.();
  }
}
