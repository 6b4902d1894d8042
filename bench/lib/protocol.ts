/**
 * The child process that runs the functions (or the baseline hops) for a bench or chaos run: ./child.ts,
 * the messages it exchanges with the run over IPC, and the run's side (start it, collect its reports,
 * stop it politely or kill it).
 */
import { fork } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultCounters, FaultProfileInput } from '../../local/faults/profile.ts';
import type { UnitsByTable } from './capacity.ts';

export interface ChildConfig {
  mode: 'pipeline' | 'baseline';
  runId: string;
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  snsEndpoint: string;
  tablePrefix: string;
  /** API emulator port (pipeline); 0 picks a free one. */
  apiPort: number;
  /** Baseline: the topics of the chain, `hops + 1` of them. */
  baselineTopics?: string[];
  /** Pipeline: the runtime's `handlerWrapper` (chaos crash-poison: records that crash their consumer). */
  handlerWrapper?: string;
  /** Pipeline: the runtime's fault layer (local/faults/) in front of DynamoDB and SNS, with this profile. */
  faults?: FaultProfileInput;
}

export interface FunctionCounters {
  memoryMb: number;
  invocations: number;
  failedInvocations: number;
  /** Kafka records handed to the function (sum of batch sizes), or HTTP requests for order-api. */
  records: number;
  /** Billed Duration of every invocation's REPORT (rounded up to the ms, a cold start's init included). */
  billedMs: number;
  /** Invocations that started an environment, and their Init Durations (ms, part of `billedMs`). */
  coldStarts: number;
  initMs: number;
}

/** Key + value + header bytes as the producer was given them. */
export type KafkaCounters = { records: number; bytes: number };

export interface ChildStats {
  functions: Record<string, FunctionCounters>;
  produced: Record<string, KafkaCounters>;
  dynamodb: UnitsByTable;
  emulators: Record<
    string,
    { invocations: number; failedInvocations: number; recordsSentToOnFailure: number; bisects?: number }
  >;
  /** Each function's execution environments: ended by a crash, out of memory or a timeout, and started. */
  environments?: Record<string, { environmentsLost: number; coldStarts: number }>;
  /** Invocations running when the stats were taken, per function (a gauge, not a counter). */
  inFlight: Record<string, number>;
  sns?: { publishes: number };
  faults?: FaultCounters;
}

/** What ./environment-probe.ts posts from an execution environment: counts since its previous post. */
export type ProbeTelemetry = Pick<ChildStats, 'produced' | 'dynamodb'> & { snsPublishes: number };

/** An order's journey ended (`kind`: the final notification delivered), at `at` (epoch ms, fractional). */
export interface Completion {
  orderId: string;
  kind: 'order-shipped' | 'order-rejected' | 'order-cancelled' | 'baseline';
  at: number;
}

export type ChildMessage =
  | { type: 'ready'; apiUrl: string | undefined; pid: number }
  | { type: 'completed'; completions: Completion[] }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'failed'; error: string };

export type ParentMessage = { type: 'stats' } | { type: 'stop' };

/** A wall-clock timestamp with sub-millisecond resolution, comparable across processes of one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

export type RunningChild = Awaited<ReturnType<typeof startChild>>;

const startTimeoutMs = 120_000;

/** Starts ./child.ts with `config`; its output is appended to `logFile`, its finished orders go to `onCompleted`. */
export async function startChild(options: {
  config: ChildConfig;
  onCompleted: (completions: Completion[]) => void;
  logFile: string;
}) {
  // The child writes its output to `logFile` itself (by the OS: nothing is lost when either side dies).
  const logFd = openSync(options.logFile, 'a');
  const logStart = fstatSync(logFd).size;
  const child = fork(join(import.meta.dirname, 'child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_CHILD_CONFIG: JSON.stringify(options.config) },
    stdio: ['ignore', logFd, logFd, 'ipc'],
  });
  closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const reports = new EventEmitter<{ stats: [ChildStats] }>();
  const nextStats = () => once(reports, 'stats').then(([stats]) => stats);
  let lastStats: ChildStats | undefined;
  const started = new Promise<Extract<ChildMessage, { type: 'ready' | 'failed' }>>((resolve) =>
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'completed') options.onCompleted(message.completions);
      else if (message.type !== 'stats') resolve(message);
      else {
        lastStats = message.stats;
        reports.emit('stats', message.stats);
      }
    }),
  );
  // Unref'd: a child that started must not keep a finished run alive for the rest of the timeout.
  const timedOut = sleep(startTimeoutMs, `did not start within ${startTimeoutMs / 1000} s`, { ref: false });
  const startup = await Promise.race([
    started.then((m) => (m.type === 'ready' ? m : `failed to start: ${m.error}`)),
    exited.then((code) => `exited during startup (code ${code})`),
    timedOut,
  ]);
  if (typeof startup === 'string') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the runtime child ${startup}; see ${options.logFile}`);
  }
  const apiUrl = startup.apiUrl;

  return {
    pid: child.pid as number,
    apiUrl,
    /** Bytes the functions wrote to stdout and stderr (log lines, EMF metrics): what CloudWatch Logs would ingest. */
    logBytes: () => statSync(options.logFile).size - logStart,
    stats: () =>
      new Promise<ChildStats>((resolve, reject) => {
        void nextStats().then(resolve);
        // A child that died meanwhile: the callback takes the error (no 'error' event to crash the run).
        child.send({ type: 'stats' }, (error) => error && reject(error));
      }),
    /** The counters of the child's last report (after `stop()`: its final ones), if it sent any. */
    lastStats: () => lastStats,
    /** Stops the runtime (in-flight invocations finish) and returns the final counters. */
    async stop(timeoutMs = 60_000): Promise<ChildStats | undefined> {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const final = nextStats();
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const stats = await Promise.race([final, exited.then(() => undefined)]);
      await exited;
      clearTimeout(timer);
      return stats;
    },
    /** `kill -9`: no cleanup, no goodbye. */
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    exited,
    /** Resolves once everything the child wrote is in `logFile`: it wrote there itself, so at its exit. */
    logClosed: exited.then(() => undefined),
  };
}
