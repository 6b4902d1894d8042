import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { InvocationFailureKind, InvokeOutcome } from '../invoke.ts';
import { InvocationTimeoutError } from '../lambda-context.ts';
import type { EnvironmentData, FromEnvironment, ToEnvironment } from './protocol.ts';

/** An environment's death while it ran an invocation (or while it was idle: then nobody is told). */
export interface Death {
  kind: Exclude<InvocationFailureKind, 'function' | 'timeout'>;
  errorType: string;
  errorMessage: string;
}

export interface EnvironmentSettings extends EnvironmentData {
  /** The environment's own code, bundled (./bundle.ts). */
  runtimeUrl: string;
  /** Variables of the function, exactly: the worker's `process.env` is a copy of these and nothing else. */
  env: Record<string, string>;
  /** Lets the runtime see what the preloaded modules report (the bench's counters). */
  onTelemetry?: (data: unknown) => void;
  /** The environment died between invocations (a timer that threw, say): nobody else is told. */
  onIdleDeath?: (death: Death) => void;
}

/** The outcome of one invocation, with what the REPORT line needs. */
export interface EnvironmentInvocation {
  outcome: InvokeOutcome;
  durationMs: number;
  maxMemoryUsedMb: number;
}

/**
 * One execution environment: a worker thread with the function's variables, its own module graph, and a
 * heap capped at the function's memory size. One invocation at a time. A timeout terminates the thread
 * (nothing it started goes on), and an exit, an uncaught exception or running out of memory ends it too:
 * the environment is then `dead` and the pool replaces it.
 */
export class ExecutionEnvironment {
  readonly id = randomUUID().slice(0, 8);
  #dead: Death | undefined;
  #onDeath: ((death: Death) => void) | undefined;
  #pending: ((message: FromEnvironment) => void) | undefined;
  #maxMemoryUsedMb = 0;
  readonly #worker: Worker;

  private constructor(readonly settings: EnvironmentSettings) {
    const { env, runtimeUrl, onTelemetry: _t, onIdleDeath: _d, ...data } = settings;
    this.#worker = new Worker(new URL(runtimeUrl), {
      env,
      workerData: data,
      // No --enable-source-maps, as the stack deploys the functions (infra/lib/bundling.ts): mapping every
      // stack trace costs time where errors are frequent. The maps are beside the bundles for debugging.
      execArgv: [],
      // V8's old generation is most of a function's memory; Lambda counts the whole process, so this cap is
      // a little more lenient than Lambda's (see local/README, "What differs from AWS").
      resourceLimits: { maxOldGenerationSizeMb: settings.memoryMb },
    });
    this.#worker.on('message', (message: FromEnvironment) => this.#receive(message));
    this.#worker.on('error', (error: Error & { code?: string }) => {
      this.#die(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? {
              kind: 'out-of-memory',
              errorType: 'Runtime.OutOfMemory',
              errorMessage: `Runtime exited with error: out of memory (Memory Size: ${settings.memoryMb} MB)`,
            }
          : {
              kind: 'crash',
              errorType: error.name,
              errorMessage: `${error.message} (uncaught: the runtime exited)`,
            },
      );
    });
    this.#worker.on('exit', (code) =>
      this.#die({
        kind: 'crash',
        errorType: 'Runtime.ExitError',
        errorMessage: `Runtime exited with error: exit status ${code}`,
      }),
    );
  }

  /** Creates an environment and runs its init phase; resolves with it and the init duration. */
  static async create(
    settings: EnvironmentSettings,
  ): Promise<{ environment: ExecutionEnvironment; initDurationMs: number }> {
    const environment = new ExecutionEnvironment(settings);
    const first = await environment.#next();
    if (first.type === 'ready') {
      environment.#maxMemoryUsedMb = first.memoryUsedMb;
      return { environment, initDurationMs: first.initDurationMs };
    }
    const death = environment.#dead;
    await environment.discard();
    if (first.type === 'init-error')
      throw Object.assign(new Error(first.errorMessage), { name: first.errorType });
    throw Object.assign(new Error(death?.errorMessage ?? 'the environment did not start'), {
      name: death?.errorType ?? 'Runtime.ExitError',
    });
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Runs one invocation; the environment is dead afterwards when the outcome is a timeout or a crash. */
  async invoke(event: unknown, requestId: string): Promise<EnvironmentInvocation> {
    const { timeoutSeconds } = this.settings;
    const started = performance.now();
    const deadline = Date.now() + timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutSeconds * 1000);
    });
    const answered = this.#next();
    this.#post({ type: 'invoke', requestId, deadline, event });
    const first = await Promise.race([answered, timedOut]).finally(() => clearTimeout(timer));
    const durationMs = performance.now() - started;
    if (first === 'timeout') {
      const timeout = new InvocationTimeoutError(timeoutSeconds);
      await this.discard({ kind: 'crash', errorType: timeout.name, errorMessage: timeout.message });
      return this.#failed(requestId, durationMs, 'timeout', timeout.name, timeout.message);
    }
    if (first.type === 'result') {
      this.#maxMemoryUsedMb = first.memoryUsedMb;
      return {
        outcome: { status: 'ok', requestId, payload: first.payload },
        durationMs,
        maxMemoryUsedMb: first.memoryUsedMb,
      };
    }
    if (first.type === 'error') {
      this.#maxMemoryUsedMb = first.memoryUsedMb;
      return this.#failed(requestId, durationMs, 'function', first.errorType, first.errorMessage);
    }
    const death = this.#dead ?? {
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: 'unexpected message',
    };
    return this.#failed(requestId, durationMs, death.kind, death.errorType, death.errorMessage);
  }

  /** Ends the environment, as Lambda ends one: whatever it was doing stops with it. */
  async discard(death?: Death): Promise<void> {
    this.#dead ??= death ?? { kind: 'crash', errorType: 'Runtime.Shutdown', errorMessage: 'discarded' };
    await this.#worker.terminate();
  }

  #failed(
    requestId: string,
    durationMs: number,
    kind: InvocationFailureKind,
    errorType: string,
    errorMessage: string,
  ): EnvironmentInvocation {
    return {
      outcome: { status: 'error', requestId, kind, errorType, errorMessage },
      durationMs,
      maxMemoryUsedMb: kind === 'out-of-memory' ? this.settings.memoryMb : this.#maxMemoryUsedMb,
    };
  }

  #post(message: ToEnvironment): void {
    if (!this.#dead) this.#worker.postMessage(message);
  }

  /** The environment's next answer, or its death. */
  #next(): Promise<FromEnvironment | { type: 'dead' }> {
    if (this.#dead) return Promise.resolve({ type: 'dead' });
    return new Promise((resolve) => {
      this.#pending = resolve;
      this.#onDeath = () => resolve({ type: 'dead' });
    });
  }

  #receive(message: FromEnvironment): void {
    if (message.type === 'telemetry') {
      this.settings.onTelemetry?.(message.data);
      return;
    }
    const pending = this.#pending;
    this.#pending = undefined;
    this.#onDeath = undefined;
    pending?.(message);
  }

  /** The first death is the one reported; the exit that follows a termination is not another. */
  #die(death: Death): void {
    if (this.#dead) return;
    this.#dead = death;
    const onDeath = this.#onDeath;
    this.#pending = undefined;
    this.#onDeath = undefined;
    if (onDeath) onDeath(death);
    else this.settings.onIdleDeath?.(death);
  }
}
