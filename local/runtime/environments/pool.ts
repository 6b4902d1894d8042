import { randomUUID } from 'node:crypto';
import type { InvokeOutcome, Invoker } from '../invoke.ts';
import { type BuiltFunction, buildFunction } from './bundle.ts';
import { type EnvironmentSettings, ExecutionEnvironment } from './environment.ts';
import { endLine, type InvocationReport, reportLine, startLine } from './report.ts';

/** What every environment of the function is given (its name, memory, timeout, variables), and more. */
export interface PoolOptions
  extends Pick<EnvironmentSettings, 'functionName' | 'memoryMb' | 'timeoutSeconds' | 'env' | 'onTelemetry'> {
  /** The handler module, relative to the project root. */
  entry: string;
  /** The most environments at once; an invocation beyond waits for one to be free. */
  maxConcurrency: number;
  /** Modules (relative to the project root) imported in every environment before the function. */
  preload?: readonly string[];
  /** A module whose `wrapHandler(functionName, handler)` wraps the handler inside the environment. */
  wrapper?: string;
  /** Where the START / END / REPORT lines and the runtime's own lines go. */
  log: (line: string) => void;
  onReport?: (report: InvocationReport) => void;
}

export interface PoolStats {
  invocations: number;
  coldStarts: number;
  /** Environments ended by a timeout, a crash or running out of memory. */
  environmentsLost: number;
  /** Environments alive now (busy or idle). */
  environments: number;
}

/**
 * A function's execution environments, as Lambda keeps them: an invocation takes a warm idle one, or
 * creates one (a cold start, its init phase timed) while fewer than `maxConcurrency` exist, or waits for
 * one to be free. An environment that timed out, crashed or ran out of memory is discarded and the next
 * invocation gets a fresh one. Every invocation writes Lambda's START, END and REPORT lines.
 */
export class EnvironmentPool {
  readonly stats: PoolStats = { invocations: 0, coldStarts: 0, environmentsLost: 0, environments: 0 };
  readonly #options: PoolOptions;
  readonly #idle: ExecutionEnvironment[] = [];
  readonly #waiting: (() => void)[] = [];
  readonly #all = new Set<ExecutionEnvironment>();
  #stopped = false;
  #built: Promise<BuiltFunction> | undefined;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Builds the function's bundle (as a deployment would); the first cold start waits for it otherwise. */
  prepare(): Promise<BuiltFunction> {
    const { functionName, entry, preload, wrapper } = this.#options;
    this.#built ??= buildFunction({
      functionName,
      entry,
      ...(preload ? { preload } : {}),
      ...(wrapper ? { wrapper } : {}),
    });
    return this.#built;
  }

  get functionName(): string {
    return this.#options.functionName;
  }

  /** Invokes the function once in one of its environments. */
  readonly invoke: Invoker = async (event) => {
    const requestId = randomUUID();
    const acquired = await this.#acquire();
    if ('outcome' in acquired) return acquired.outcome;
    const { environment, initDurationMs } = acquired;
    const { functionName, memoryMb, log } = this.#options;
    this.stats.invocations += 1;
    log(startLine(requestId));
    const ran = await environment.invoke(event, requestId);
    const { outcome } = ran;
    if (outcome.status === 'error' && outcome.kind !== 'function') {
      log(`${new Date().toISOString()} ${requestId} ${outcome.errorMessage} ${outcome.errorType}`);
    }
    const report: InvocationReport = {
      functionName,
      requestId,
      durationMs: ran.durationMs,
      ...(initDurationMs === undefined ? {} : { initDurationMs }),
      memorySizeMb: memoryMb,
      maxMemoryUsedMb: ran.maxMemoryUsedMb,
      ...(outcome.status === 'error' && outcome.kind !== 'function' ? { status: outcome.kind } : {}),
    };
    log(endLine(requestId));
    log(reportLine(report));
    this.#options.onReport?.(report);
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

  async #acquire(): Promise<
    { environment: ExecutionEnvironment; initDurationMs?: number } | { outcome: InvokeOutcome }
  > {
    const { maxConcurrency } = this.#options;
    for (;;) {
      if (this.#stopped) return { outcome: crashed('Runtime.Unavailable', 'the local runtime is stopping') };
      const warm = this.#idle.pop();
      if (warm && !warm.dead) return { environment: warm };
      if (warm) continue;
      if (this.#all.size + this.#creating < maxConcurrency) return this.#coldStart();
      await new Promise<void>((wake) => this.#waiting.push(wake));
    }
  }

  #creating = 0;

  async #coldStart(): Promise<
    { environment: ExecutionEnvironment; initDurationMs: number } | { outcome: InvokeOutcome }
  > {
    const { functionName, memoryMb, timeoutSeconds, env, log, onTelemetry } = this.#options;
    this.#creating += 1;
    try {
      const { functionUrl, runtimeUrl } = await this.prepare();
      const created = await ExecutionEnvironment.create({
        functionName,
        memoryMb,
        timeoutSeconds,
        entryUrl: functionUrl,
        runtimeUrl,
        env,
        ...(onTelemetry ? { onTelemetry } : {}),
        onIdleDeath: (death) => {
          this.stats.environmentsLost += 1;
          log(`[${functionName}] an idle environment ended: ${death.errorType}: ${death.errorMessage}`);
        },
      });
      this.stats.coldStarts += 1;
      this.#all.add(created.environment);
      this.stats.environments = this.#all.size;
      return created;
    } catch (error) {
      const { name, message } = error as Error;
      log(`[${functionName}] init failed: ${name}: ${message}`);
      return { outcome: crashed(name, message) };
    } finally {
      this.#creating -= 1;
      this.#waiting.shift()?.();
    }
  }

  #release(environment: ExecutionEnvironment): void {
    if (environment.dead || this.#stopped) {
      if (environment.dead) this.stats.environmentsLost += 1;
      this.#all.delete(environment);
      this.stats.environments = this.#all.size;
      void environment.discard().catch(() => undefined);
    } else {
      this.#idle.push(environment);
    }
    this.#waiting.shift()?.();
  }
}

/** An invocation that never reached the function: its environment could not start, or the runtime is stopping. */
const crashed = (errorType: string, errorMessage: string): InvokeOutcome => ({
  status: 'error',
  requestId: randomUUID(),
  kind: 'crash',
  errorType,
  errorMessage,
});
