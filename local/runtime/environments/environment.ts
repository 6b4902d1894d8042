import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  type InvocationFailureKind,
  type InvokeOutcome,
  raceTimeout,
  TIMED_OUT,
  timeoutError,
} from '../lambda-context.ts';

/** What a new environment is told (its argument): the function to load; its variables are its `env`. */
export interface EnvironmentData {
  /** File URL of the function's bundle (./bundle.ts). */
  entryUrl: string;
  functionName: string;
  memoryMb: number;
  timeoutSeconds: number;
}

/** Messages between the local runtime and one execution environment (a process, over IPC). */
export type ToEnvironment = { type: 'invoke'; requestId: string; deadline: number; event: unknown };
export type FromEnvironment =
  | { type: 'ready'; initDurationMs: number; memoryUsedMb: number }
  | { type: 'init-error'; errorType: string; errorMessage: string }
  /** The handler's result or error, as the invocation's caller sees it. */
  | { type: 'answer'; outcome: InvokeOutcome; memoryUsedMb: number }
  /** An exception nobody caught: reported with its type, then the environment exits (as Lambda's runtime does). */
  | { type: 'uncaught'; errorType: string; errorMessage: string }
  /** Anything the preloaded modules want the runtime to know (the bench's counters). */
  | { type: 'telemetry'; data: unknown };

/** An environment's death while it ran an invocation (or while it was idle: then nobody is told). */
export interface Death {
  kind: Exclude<InvocationFailureKind, 'function'>;
  errorType: string;
  errorMessage: string;
}

/**
 * The environment's own code, run as it is: Node.js strips its types (unflagged since 22.18 and 23.6), so
 * only the function is bundled.
 */
const BOOTSTRAP = fileURLToPath(new URL('./bootstrap.ts', import.meta.url));

export interface EnvironmentSettings extends EnvironmentData {
  /** Variables of the function, exactly: the process's environment is these and nothing else. */
  env: Record<string, string>;
  /** Lets the runtime see what the preloaded modules report (the bench's counters). */
  onTelemetry?: (data: unknown) => void;
  /** The environment died between invocations (a timer that threw, say): nobody else is told. */
  onIdleDeath?: (death: Death) => void;
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

/** An answer that is neither the invocation's nor a death (never expected). */
const UNEXPECTED: Death = {
  kind: 'crash',
  errorType: 'Runtime.ExitError',
  errorMessage: 'unexpected answer',
};

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
  #uncaught: Pick<Death, 'errorType' | 'errorMessage'> | undefined;
  #outOfMemory = false;
  #pending: ((answer: Answer) => void) | undefined;
  #maxMemoryUsedMb = 0;
  readonly #child: ChildProcess;

  private constructor(readonly settings: EnvironmentSettings) {
    const { env, entryUrl, functionName, memoryMb, timeoutSeconds } = settings;
    const data: EnvironmentData = { entryUrl, functionName, memoryMb, timeoutSeconds };
    this.#child = fork(BOOTSTRAP, [JSON.stringify(data)], {
      env,
      // Like Lambda's task root: the function's code directory.
      cwd: dirname(fileURLToPath(entryUrl)),
      // No --enable-source-maps, as the stack deploys the functions (infra/lib/bundling.ts): mapping every
      // stack trace costs time where errors are frequent. The maps are beside the bundles for debugging.
      execArgv: lambdaNodeFlags(memoryMb),
      // The function's logs go where the runtime's go; stderr is read on the way for V8's out-of-memory line.
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    // Each line named after its function: what an environment prints (V8's fatal out-of-memory report, say)
    // is never taken for the runtime's own.
    createInterface({ input: this.#child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      if (OUT_OF_MEMORY.test(line)) this.#outOfMemory = true;
      process.stderr.write(`[${functionName}] ${line}\n`);
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
    const { errorType, errorMessage } =
      first.type === 'init-error' ? first : (environment.#dead ?? environment.#deathOf(null, null));
    await environment.discard();
    throw Object.assign(new Error(errorMessage), { name: errorType });
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Runs one invocation; the environment is dead afterwards when the outcome is a timeout or a crash. */
  async invoke(event: unknown, requestId: string) {
    const { timeoutSeconds, memoryMb } = this.settings;
    const started = performance.now();
    const answered = this.#next();
    this.#post({ type: 'invoke', requestId, deadline: Date.now() + timeoutSeconds * 1000, event });
    const answer = await raceTimeout(answered, timeoutSeconds * 1000);
    const durationMs = performance.now() - started;
    if (answer !== TIMED_OUT && answer.type === 'answer') {
      this.#maxMemoryUsedMb = answer.memoryUsedMb;
      return { outcome: answer.outcome, durationMs, maxMemoryUsedMb: this.#maxMemoryUsedMb };
    }
    if (answer === TIMED_OUT) {
      const { name, message } = timeoutError(timeoutSeconds);
      await this.discard({ kind: 'timeout', errorType: name, errorMessage: message });
    }
    // Otherwise the environment ended under the invocation: how it ended is the outcome.
    const death = this.#dead ?? UNEXPECTED;
    const outcome: InvokeOutcome = { status: 'error', requestId, ...death };
    const maxMemoryUsedMb = death.kind === 'out-of-memory' ? memoryMb : this.#maxMemoryUsedMb;
    return { outcome, durationMs, maxMemoryUsedMb };
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
    if (this.#uncaught) {
      const { errorType, errorMessage } = this.#uncaught;
      return { kind: 'crash', errorType, errorMessage };
    }
    const status = signal ? `signal: ${signal}` : `exit status ${code}`;
    return {
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: `Runtime exited with error: ${status}`,
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
    if (message.type === 'telemetry') this.settings.onTelemetry?.(message.data);
    else if (message.type === 'uncaught') this.#uncaught = message;
    else this.#settle(message);
  }

  /** The first death is the one reported; the exit that follows a kill is not another. */
  #die(death: Death): void {
    if (this.#dead) return;
    this.#dead = death;
    if (!this.#settle({ type: 'dead' })) this.settings.onIdleDeath?.(death);
  }

  /** Hands `answer` to the invocation waiting for one; false when none was. */
  #settle(answer: Answer): boolean {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.(answer);
    return pending !== undefined;
  }
}
