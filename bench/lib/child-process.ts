/** Parent side of ./child.ts: starts it, collects its reports, stops it politely or kills it. */
import { type ChildProcess, fork } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ChildConfig, ChildMessage, ChildStats, Completion } from './protocol.ts';

export interface RunningChild {
  pid: number;
  apiUrl: string | undefined;
  /** Bytes the functions wrote to stdout and stderr (log lines, EMF metrics): what CloudWatch Logs would ingest. */
  logBytes(): number;
  stats(): Promise<ChildStats>;
  /** The counters of the child's last report (after `stop()`: its final ones), if it sent any. */
  lastStats(): ChildStats | undefined;
  /** Stops the runtime (in-flight invocations finish) and returns the final counters. */
  stop(timeoutMs?: number): Promise<ChildStats | undefined>;
  /** `kill -9`: no cleanup, no goodbye. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
  /** Resolves once everything the child wrote is in `logFile`. */
  logClosed: Promise<void>;
}

export interface ChildOptions {
  config: ChildConfig;
  onCompleted: (completions: Completion[]) => void;
  /** The child's output is appended here. */
  logFile: string;
  startTimeoutMs?: number;
}

const childScript = join(import.meta.dirname, 'child.ts');

export async function startChild(options: ChildOptions): Promise<RunningChild> {
  const child: ChildProcess = fork(childScript, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_CHILD_CONFIG: JSON.stringify(options.config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const out: WriteStream = createWriteStream(options.logFile, { flags: 'a' });
  let logBytes = 0;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      logBytes += chunk.length;
      out.write(chunk);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // 'close' (not 'exit'): the child's last output may still be in the pipes when it exits.
  child.once('close', () => out.end());
  const logClosed = new Promise<void>((resolve) => out.once('close', () => resolve()));

  let statsWaiters: ((stats: ChildStats) => void)[] = [];
  let lastStats: ChildStats | undefined;
  const ready = new Promise<{ apiUrl: string | undefined }>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `the runtime child did not start within ${(options.startTimeoutMs ?? 120_000) / 1000} s (log: ${options.logFile})`,
          ),
        ),
      options.startTimeoutMs ?? 120_000,
    );
    child.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'ready':
          clearTimeout(timer);
          resolve({ apiUrl: message.apiUrl });
          break;
        case 'failed':
          clearTimeout(timer);
          reject(new Error(`the runtime child failed to start: ${message.error}`));
          break;
        case 'completed':
          options.onCompleted(message.completions);
          break;
        case 'stats': {
          lastStats = message.stats;
          const waiters = statsWaiters;
          statsWaiters = [];
          for (const waiter of waiters) waiter(message.stats);
          break;
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the runtime child exited during startup (code ${code}); see ${options.logFile}`));
    });
  });

  const askStats = () =>
    new Promise<ChildStats>((resolve, reject) => {
      statsWaiters.push(resolve);
      // A child that died meanwhile: the callback takes the error (no 'error' event to crash the run).
      child.send({ type: 'stats' }, (error) => error && reject(error));
    });

  let started: { apiUrl: string | undefined };
  try {
    started = await ready;
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }

  return {
    pid: child.pid as number,
    apiUrl: started.apiUrl,
    logBytes: () => logBytes,
    stats: askStats,
    lastStats: () => lastStats,
    async stop(timeoutMs = 60_000) {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const final = new Promise<ChildStats>((resolve) => statsWaiters.push(resolve));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const stats = await Promise.race([final, exited.then(() => undefined)]);
      await exited;
      clearTimeout(timer);
      return stats;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    exited,
    logClosed,
  };
}
