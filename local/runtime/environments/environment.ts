import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  /** Variables of the function, exactly: the process's environment is these and nothing else. */
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

type Answer = FromEnvironment | { type: 'dead' };

/**
 * Node's flags as Lambda's Node.js runtime starts it (`/var/runtime/bootstrap` of the
 * public.ecr.aws/lambda/nodejs images): a tenth of the memory for the young generation, half of that a
 * semi-space, the rest for the old one. A larger young generation than Node's default means fewer scavenges.
 */
export function lambdaNodeFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [
    '--expose-gc',
    '--max-http-header-size=81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMb - newSpace}`,
  ];
}

/** What V8 prints when a heap reaches its limit, before it aborts the process. */
const OUT_OF_MEMORY = /JavaScript heap out of memory|Reached heap limit/;

/**
 * One execution environment: a process of its own running the function's bundle, with exactly its
 * variables and a heap capped at its memory size, one invocation at a time. A timeout kills it (nothing it
 * started goes on); an exit, an uncaught exception or running out of memory ends it too: it is then `dead`
 * and the pool replaces it. A process, not a worker thread: a thread's heap limit is best effort, and an
 * allocation past it can abort the whole runtime (nodejs/node#47224; seen in the crash-poison chaos run).
 */
export class ExecutionEnvironment {
  readonly id = randomUUID().slice(0, 8);
  #dead: Death | undefined;
  #uncaught: { errorType: string; errorMessage: string } | undefined;
  #outOfMemory = false;
  #pending: ((answer: Answer) => void) | undefined;
  #maxMemoryUsedMb = 0;
  readonly #child: ChildProcess;

  private constructor(readonly settings: EnvironmentSettings) {
    const { env, runtimeUrl, onTelemetry: _t, onIdleDeath: _d, ...data } = settings;
    const runtimeFile = fileURLToPath(runtimeUrl);
    this.#child = fork(runtimeFile, [JSON.stringify(data)], {
      env,
      // Like Lambda's task root: the function's code directory.
      cwd: dirname(runtimeFile),
      // No --enable-source-maps, as the stack deploys the functions (infra/lib/bundling.ts): mapping every
      // stack trace costs time where errors are frequent. The maps are beside the bundles for debugging.
      execArgv: lambdaNodeFlags(settings.memoryMb),
      // The function's logs go where the runtime's go; stderr is read on the way for V8's out-of-memory line.
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    // Each line named after its function: what an environment prints (V8's fatal out-of-memory report, say)
    // is never taken for the runtime's own.
    let partial = '';
    this.#child.stderr?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      if (OUT_OF_MEMORY.test(text)) this.#outOfMemory = true;
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) process.stderr.write(`[${settings.functionName}] ${line}\n`);
    });
    this.#child.stderr?.on('end', () => {
      if (partial) process.stderr.write(`[${settings.functionName}] ${partial}\n`);
    });
    this.#child.on('message', (message: FromEnvironment) => this.#receive(message));
    this.#child.on('error', () => undefined);
    this.#child.on('exit', (code, signal) => this.#die(this.#deathOf(code, signal)));
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
    if (first.type === 'result' || first.type === 'error') this.#maxMemoryUsedMb = first.memoryUsedMb;
    if (first.type === 'result') {
      const outcome = { status: 'ok' as const, requestId, payload: first.payload };
      return { outcome, durationMs, maxMemoryUsedMb: first.memoryUsedMb };
    }
    if (first.type === 'error') {
      return this.#failed(requestId, durationMs, 'function', first.errorType, first.errorMessage);
    }
    const death = this.#dead ?? {
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: 'unexpected answer',
    };
    return this.#failed(requestId, durationMs, death.kind, death.errorType, death.errorMessage);
  }

  /** Ends the environment, as Lambda ends one: whatever it was doing stops with it. */
  async discard(death?: Death): Promise<void> {
    this.#dead ??= death ?? { kind: 'crash', errorType: 'Runtime.Shutdown', errorMessage: 'discarded' };
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.kill('SIGKILL');
    await exited;
  }

  #deathOf(code: number | null, signal: NodeJS.Signals | null): Death {
    if (this.#outOfMemory) {
      const errorMessage = `Runtime exited with error: out of memory (Memory Size: ${this.settings.memoryMb} MB)`;
      return { kind: 'out-of-memory', errorType: 'Runtime.OutOfMemory', errorMessage };
    }
    if (this.#uncaught) return { kind: 'crash', ...this.#uncaught };
    const status = signal ? `signal: ${signal}` : `exit status ${code}`;
    return {
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: `Runtime exited with error: ${status}`,
    };
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
    if (!this.#dead && this.#child.connected) this.#child.send(message);
  }

  /** The environment's next answer, or its death. */
  #next(): Promise<Answer> {
    if (this.#dead) return Promise.resolve({ type: 'dead' });
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }

  #receive(message: FromEnvironment): void {
    if (message.type === 'telemetry') {
      this.settings.onTelemetry?.(message.data);
      return;
    }
    if (message.type === 'uncaught') {
      this.#uncaught = { errorType: message.errorType, errorMessage: message.errorMessage };
      return;
    }
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.(message);
  }

  /** The first death is the one reported; the exit that follows a kill is not another. */
  #die(death: Death): void {
    if (this.#dead) return;
    this.#dead = death;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) pending({ type: 'dead' });
    else this.settings.onIdleDeath?.(death);
  }
}
