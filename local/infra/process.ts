import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { InfraError, type InfraService } from './errors.ts';
import { isProcessAlive } from './file-lock.ts';
import { assertPortFree } from './ports.ts';

const run = promisify(execFile);

export interface ManagedProcessOptions {
  /** Short name used in messages, e.g. `kafka`. */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here (by the OS, so nothing is lost if this process dies). */
  logFile: string;
  /** Records the child's pid so that a later start can kill a child orphaned by a `kill -9` of its parent. */
  pidFile: string;
  /** Text of the child's command line that proves a pid in `pidFile` is still ours (pids get reused). */
  marker: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the child has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ManagedProcess>();
let handlersInstalled = false;
let deathSignalSupport: Promise<boolean> | undefined;

/**
 * On Linux, `setpriv --pdeathsig SIGKILL` (util-linux) makes the kernel kill the child when this
 * process dies, even by `kill -9`, so no JVM outlives a crashed parent. Elsewhere the pid file and the
 * exit handlers are the safety net.
 */
function canUseDeathSignal(): Promise<boolean> {
  deathSignalSupport ??=
    process.platform === 'linux'
      ? run('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'true']).then(
          () => true,
          () => false,
        )
      : Promise.resolve(false);
  return deathSignalSupport;
}

export async function spawnManaged(options: ManagedProcessOptions): Promise<ManagedProcess> {
  installExitHandlers();
  const withDeathSignal = await canUseDeathSignal();
  const [command, args] = withDeathSignal
    ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', options.command, ...options.args]]
    : [options.command, options.args];
  const logFd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', logFd, logFd],
      // Its own process group keeps a terminal's Ctrl-C away from the child: this process stops it in
      // order instead. Only when the kernel kills it for us should we die first.
      detached: withDeathSignal,
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw error;
  }

  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = { code, signal };
      live.delete(managed);
      resolve(exitStatus);
    });
  });
  // A failed spawn also emits 'exit'; the error itself is reported through the log tail.
  child.on('error', () => {});

  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    hasExited: () => exitStatus !== undefined,
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (exitStatus === undefined) {
          signal(pid, 'SIGTERM', withDeathSignal);
          // An unref'd timer: once the child is gone, nothing here may hold the event loop open.
          const stopped = await Promise.race([
            exited.then(() => true),
            sleep(graceMs, false, { ref: false }),
          ]);
          if (!stopped) {
            signal(pid, 'SIGKILL', withDeathSignal);
            await exited;
          }
        }
        await rm(options.pidFile, { force: true });
      })();
      return stopping;
    },
  };
  live.add(managed);
  await writeFile(options.pidFile, JSON.stringify({ pid, marker: options.marker }));
  return managed;
}

function signal(pid: number, name: NodeJS.Signals, wholeGroup: boolean) {
  try {
    process.kill(wholeGroup ? -pid : pid, name);
  } catch {
    // Already gone.
  }
}

/** Stops every child this process started; used by the signal handlers and by callers that bail out. */
export async function stopAllManaged(graceMs?: number): Promise<void> {
  await Promise.all([...live].map((child) => child.stop(graceMs)));
}

function installExitHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort when the event loop is already gone: no waiting possible, so kill outright.
  process.on('exit', () => {
    for (const child of live) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(name, () => {
      void stopAllManaged(10_000).finally(() => {
        // Someone else (the CLI, a test runner) also listens: they decide when to exit.
        if (process.listenerCount(name) === 0) process.exit(128 + constants.signals[name]);
      });
    });
  }
}

/**
 * Kills a child left behind by an earlier run whose parent was killed with `kill -9` (and where no
 * death signal could reach it), found through its pid file. Only a process whose command line still
 * contains `marker` is touched.
 */
export async function killStaleProcess(pidFile: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  let recorded: { pid?: unknown; marker?: unknown };
  try {
    recorded = JSON.parse(await readFile(pidFile, 'utf8')) as typeof recorded;
  } catch {
    await rm(pidFile, { force: true });
    return;
  }
  const { pid, marker } = recorded;
  if (typeof pid === 'number' && typeof marker === 'string' && isProcessAlive(pid)) {
    const commandLine = await commandLineOf(pid);
    if (commandLine?.includes(marker)) {
      log(`stopping a process left over by an earlier run (pid ${pid})`);
      signal(pid, 'SIGTERM', false);
      const deadline = Date.now() + 15_000;
      while (isProcessAlive(pid) && Date.now() < deadline) await sleep(200);
      if (isProcessAlive(pid)) signal(pid, 'SIGKILL', false);
      while (isProcessAlive(pid)) await sleep(100);
    }
  }
  await rm(pidFile, { force: true });
}

async function commandLineOf(pid: number): Promise<string | undefined> {
  try {
    if (existsSync('/proc')) return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    const { stdout } = await run('ps', ['-o', 'command=', '-p', String(pid)]);
    return stdout;
  } catch {
    return undefined;
  }
}

/** The last lines of a child's log file, for error messages. */
export async function logTail(logFile: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(logFile, 'utf8');
    return text.split('\n').filter(Boolean).slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

/**
 * Polls `probe` until it resolves true (a service answering), failing early when the service's process
 * exits, and with a timeout that quotes the last error. One loop for every local service.
 */
export interface ReadyOptions {
  service: InfraService;
  /** e.g. `DynamoDB at http://127.0.0.1:8000`. */
  what: string;
  /** e.g. `the Kafka broker`, in "… exited during startup". */
  processName: string;
  probe: () => Promise<boolean>;
  timeoutMs: number;
  intervalMs?: number;
  process?: ManagedProcess;
}

export async function waitUntilReady(options: ReadyOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (options.process?.hasExited()) {
      const { code, signal } = await options.process.exited;
      throw new InfraError(
        options.service,
        'start-failed',
        `${options.processName} exited during startup (code ${code}, signal ${signal}).`,
      );
    }
    try {
      if (await options.probe()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(options.intervalMs ?? 300);
  }
  throw new InfraError(
    options.service,
    'timeout',
    `${options.what} did not answer within ${Math.round(options.timeoutMs / 1000)} s${lastError instanceof Error ? ` (last error: ${lastError.message})` : ''}.`,
  );
}

/** How long to wait for a service, and (when this process started it) the process whose exit ends the wait. */
export interface WaitOptions {
  timeoutMs: number;
  process?: ManagedProcess;
}

/** The local AWS endpoints, as their waits name them. */
const AWS_ENDPOINTS = {
  dynamodb: { name: 'DynamoDB', processName: 'the DynamoDB endpoint (dynoxide)' },
  sns: { name: 'SNS', processName: 'the moto server' },
} as const;

/**
 * {@link waitUntilReady} for a local AWS endpoint at `url`: ready once `command` (a cheap list call, given a
 * 3 s abort signal) succeeds through `client`, which is destroyed afterwards.
 */
export async function waitForAwsEndpoint<Command>(
  service: keyof typeof AWS_ENDPOINTS,
  url: string,
  client: {
    send(command: NoInfer<Command>, options: { abortSignal: AbortSignal }): Promise<unknown>;
    destroy(): void;
  },
  command: Command,
  wait: WaitOptions,
): Promise<void> {
  const { name, processName } = AWS_ENDPOINTS[service];
  try {
    await waitUntilReady({
      service,
      what: `${name} at ${url}`,
      processName,
      ...wait,
      probe: async () => {
        await client.send(command, { abortSignal: AbortSignal.timeout(3_000) });
        return true;
      },
    });
  } finally {
    client.destroy();
  }
}

/** A service this process started: its log, its process, and how to stop it. */
export interface RunningService {
  logFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** How {@link startService} starts one of the local services (Kafka, dynoxide, moto). */
export interface ServiceStart extends Pick<ManagedProcessOptions, 'command' | 'args' | 'marker'> {
  service: InfraService;
  /** Holds its pid file `<file>.pid` and, unless `logFile` names another, its log `<file>.log`. */
  dir: string;
  file: string;
  logFile?: string;
  log: (line: string) => void;
  /** Checked free first, so that "port taken" is reported as such and not as a crash. */
  ports: Array<{ host: string; port: number; what: string }>;
  /** What to do about a port in use. */
  portHint: string;
  /** Work between the port check and the spawn: dynoxide's reset, Kafka's config and storage. */
  prepare?: () => Promise<void>;
  /** Resolves once the service answers; should fail early when `child` exits. */
  ready: (child: ManagedProcess) => Promise<void>;
  /** Added to the error of a start that never answered; default: the last lines of the log. */
  failureDetail?: () => Promise<string>;
}

/**
 * The one way a local service starts: a process left over by an earlier run killed, its ports checked,
 * the child spawned and waited for; a child that does not answer is stopped, and its log's tail goes into
 * the error.
 */
export async function startService(start: ServiceStart): Promise<RunningService> {
  const { service, dir, log } = start;
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, `${start.file}.pid`);
  await killStaleProcess(pidFile, (line) => log(`[${service}] ${line}`));
  for (const { host, port, what } of start.ports)
    await assertPortFree(port, host, what, service, start.portHint);
  await start.prepare?.();
  const logFile = start.logFile ?? join(dir, `${start.file}.log`);
  const { command, args, marker } = start;
  const child = await spawnManaged({ name: service, command, args, cwd: dir, logFile, pidFile, marker });
  try {
    await start.ready(child);
  } catch (error) {
    await child.stop(5_000);
    if (error instanceof InfraError)
      error.message += `\n${await (start.failureDetail?.() ?? logTail(logFile).then((tail) => `Last lines of ${logFile}:\n${tail}`))}`;
    throw error;
  }
  return { logFile, process: child, stop: () => child.stop() };
}

/** What a local AWS endpoint (dynoxide, moto) answers at `http://<host>:<port>`, and how to wait for it. */
export interface EndpointStart extends Omit<ServiceStart, 'ports' | 'portHint' | 'ready'> {
  host: string;
  port: number;
  /** e.g. `DynamoDB (dynoxide)`. */
  what: string;
  /** The `npm run infra` flag that moves it, and the variable that names a running endpoint instead. */
  portFlag: string;
  envVar: string;
  wait: (endpoint: string, options: WaitOptions) => Promise<void>;
  /** Default 60 s. */
  startTimeoutMs?: number;
}

/** {@link startService} for a local AWS endpoint on one port. */
export async function startEndpoint(start: EndpointStart): Promise<RunningService & { endpoint: string }> {
  const { host, port, what, portFlag, envVar, wait, startTimeoutMs, ...service } = start;
  const endpoint = `http://${host}:${port}`;
  const running = await startService({
    ...service,
    ports: [{ host, port, what }],
    portHint: `Stop whatever holds it, choose another port (npm run infra -- --${portFlag} <port>), or set ${envVar} to use an endpoint that is already running.`,
    ready: (child) => wait(endpoint, { timeoutMs: startTimeoutMs ?? 60_000, process: child }),
  });
  return { ...running, endpoint };
}
