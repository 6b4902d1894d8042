import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { InfraError, type InfraService } from './errors.ts';

const run = promisify(execFile);

export interface ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** A service this process started: its log, its process, and how to stop it. */
export interface RunningService {
  logFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

const live = new Set<ManagedProcess>();

/** True when a process with this id exists (signal 0 only checks; EPERM: it exists but is someone else's). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/**
 * On Linux, `setpriv --pdeathsig SIGKILL` (util-linux) makes the kernel kill the child when this process
 * dies, even by `kill -9`, so no JVM outlives a crashed parent.
 */
let deathSignal: Promise<boolean> | undefined;
const canUseDeathSignal = () =>
  (deathSignal ??= run('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'true']).then(
    () => true,
    () => false,
  ));

/** Spawns `command` with its output appended to `logFile` (by the OS: nothing is lost if we die). */
async function spawnManaged(command: string, args: string[], cwd: string, logFile: string) {
  installHandlers();
  const withDeathSignal = await canUseDeathSignal();
  const logFd = openSync(logFile, 'a');
  // Its own process group keeps a terminal's Ctrl-C away from the child: this process stops it in order
  // instead. Only when the kernel kills it for us should we die first.
  const child = withDeathSignal
    ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', command, ...args], {
        cwd,
        stdio: ['ignore', logFd, logFd],
        detached: true,
      })
    : spawn(command, args, { cwd, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw await new Promise<Error>((resolve) => child.once('error', resolve));
  child.on('error', () => {}); // a later failure (of a kill) shows as the exit
  let exitedYet = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      exitedYet = true;
      live.delete(managed);
      resolve({ code, signal });
    }),
  );
  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    pid,
    exited,
    hasExited: () => exitedYet,
    stop: (graceMs = 15_000) => {
      stopping ??= (async () => {
        const target = withDeathSignal ? -pid : pid;
        if (!exitedYet) signal(target, 'SIGTERM');
        // An unref'd timer: once the child is gone, nothing here may hold the event loop open.
        const gone = await Promise.race([exited.then(() => true), sleep(graceMs, false, { ref: false })]);
        if (!gone) signal(target, 'SIGKILL');
        await exited;
      })();
      return stopping;
    },
  };
  live.add(managed);
  return managed;
}

/** Stops every child this process started; used by the signal handlers and by callers that bail out. */
export async function stopAllManaged(graceMs?: number): Promise<void> {
  await Promise.all([...live].map((child) => child.stop(graceMs)));
}

/** What a long-running command stops on a signal before the services: set by {@link stopOnSignal}. */
let command: { what: string; log: (line: string) => void; stop: () => Promise<void> } | undefined;
let stopping: Promise<void> | undefined;
let firstSignalAt = 0;

/**
 * The one signal handler: the command's own work first, then every local service this process started
 * (those still starting too), then the exit, 0 for a command; without one (a test run, a bench), only when
 * nobody else listens. Ctrl-C reaches the process twice (the terminal signals the whole group, and tsx
 * relays it too): only a later, deliberate second one forces the exit (1).
 */
function onSignal(signal: NodeJS.Signals): void {
  const log = command?.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (stopping) {
    if (Date.now() - firstSignalAt < 2_000) return;
    log(`${signal} again: forcing exit`);
    void stopAllManaged().finally(() => process.exit(1));
    return;
  }
  firstSignalAt = Date.now();
  if (command) log(`\n${signal}: stopping ${command.what}...`);
  stopping = (async () => {
    await command?.stop();
    await stopAllManaged();
    if (command) log('stopped.');
    if (command || process.listenerCount(signal) === 1)
      process.exit(command ? 0 : 128 + constants.signals[signal]);
  })();
}

let handlersInstalled = false;
function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort when the event loop is already gone: no waiting possible, so kill outright.
  process.on('exit', () => {
    for (const child of live) signal(child.pid, 'SIGKILL');
  });
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(name, onSignal);
}

/**
 * What a long-running command (`npm start`, `npm run infra`) does on Ctrl-C, SIGTERM or SIGHUP: `stop` its
 * own work, then the local services, and exit 0.
 */
export function stopOnSignal(
  what: string,
  log: (line: string) => void,
  stop: () => Promise<void>,
): { readonly stopping: boolean } {
  command = { what, log, stop };
  installHandlers();
  return {
    get stopping() {
      return stopping !== undefined;
    },
  };
}

/** The last lines of a child's log file for an error message, without stack frames (tab-indented in Java's). */
async function logTail(logFile: string, lines = 30): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '(no log written)');
  const kept = text.split('\n').filter((line) => line && !line.startsWith('\t'));
  return `Last lines of ${logFile}:\n${kept.slice(-lines).join('\n')}`;
}

/**
 * Polls `probe` until it resolves true (a service answering), failing early when the service's process
 * exits, and with a timeout that quotes the last error. One loop for every local service.
 */
export async function waitUntilReady(
  service: InfraService,
  what: string,
  probe: () => Promise<boolean>,
  { timeoutMs, process: child }: { timeoutMs: number; process?: ManagedProcess },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child?.hasExited()) {
      const { code, signal } = await child.exited;
      throw new InfraError(service, `${what} exited during startup (code ${code}, signal ${signal}).`);
    }
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(300);
  }
  const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new InfraError(service, `${what}: not ready after ${Math.round(timeoutMs / 1000)} s${last}.`);
}

/** The probe of a local AWS endpoint (dynoxide, moto): ready once it answers HTTP at all. */
export const answersHttp = (url: string) => (): Promise<boolean> =>
  fetch(url, { signal: AbortSignal.timeout(3_000) }).then(() => true);

/** Per service, the `npm run infra` flag that moves it and the variable that names a running one instead. */
const PORT_HINTS: Partial<Record<InfraService, [flag: string, envVar: string]>> = {
  kafka: ['kafka-port', 'KAFKA_BROKERS'],
  dynamodb: ['dynamodb-port', 'DYNAMODB_ENDPOINT'],
  sns: ['sns-port', 'SNS_ENDPOINT'],
};

/** Where the local services listen: this machine only. */
export const LOCALHOST = '127.0.0.1';

/** True when nothing listens on the port (we could bind it ourselves). */
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(false) : reject(error),
    );
    server.listen({ port, host: LOCALHOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` distinct ports the OS says are free now; tests use them so they never collide with a developer's 9092/8000. */
export async function findFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: LOCALHOST, exclusive: true }, resolve);
    });
    ports.add((server.address() as { port: number }).port);
    await new Promise((resolve) => server.close(resolve));
  }
  return [...ports];
}

export const findFreePort = async (): Promise<number> => (await findFreePorts(1))[0] as number;

/** How {@link startService} starts one of the local services (Kafka, dynoxide, moto). */
export interface ServiceStart {
  service: InfraService;
  command: string;
  args: string[];
  /** Holds, unless `logFile` names another, its log `<file>.log`. */
  dir: string;
  file: string;
  logFile?: string;
  /** Checked free first, so that "port taken" is reported as such and not as a crash. */
  ports: Array<{ port: number; what: string }>;
  /** Work between the port check and the spawn: dynoxide's reset, Kafka's config and storage. */
  prepare?: () => Promise<void>;
  /** The service and its address for messages (`Kafka at 127.0.0.1:9092`), and what says it answers. */
  what: string;
  probe: () => Promise<boolean>;
}

/**
 * The one way a local service starts: its ports checked, the child spawned and waited for; a child that does
 * not answer is stopped, and its log's tail goes into the error.
 */
export async function startService(start: ServiceStart): Promise<RunningService> {
  const { service, dir } = start;
  await mkdir(dir, { recursive: true });
  for (const { port, what } of start.ports) {
    const [flag, envVar] = PORT_HINTS[service] ?? [];
    if (!(await isPortFree(port)))
      throw new InfraError(
        service,
        `${what} cannot start: port ${port} on ${LOCALHOST} is already in use by another process. Stop whatever holds it, choose another port (npm run infra -- --${flag} <port>), or set ${envVar} to use one that is already running.`,
      );
  }
  await start.prepare?.();
  const logFile = start.logFile ?? join(dir, `${start.file}.log`);
  const child = await spawnManaged(start.command, start.args, dir, logFile);
  try {
    const wait = { timeoutMs: 120_000, process: child };
    await waitUntilReady(service, start.what, start.probe, wait);
  } catch (error) {
    await child.stop(5_000);
    if (error instanceof InfraError) error.message += `\n${await logTail(logFile)}`;
    throw error;
  }
  return { logFile, process: child, stop: () => child.stop() };
}
