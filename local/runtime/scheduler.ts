import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ScheduledEvent } from 'aws-lambda';
import {
  type FunctionIdentity,
  failedOutcome,
  type Invoker,
  LOCAL_ACCOUNT_ID,
  localRegion,
} from './lambda-context.ts';

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface ScheduleEmulatorOptions extends FunctionIdentity {
  /** Time between the end of one run and the start of the next; `Infinity`: only `runNow()` runs it. */
  intervalMs: number;
  invoke: Invoker<ScheduledEvent, unknown>;
  log: (line: string) => void;
}

/** The event a scheduled EventBridge rule sends its Lambda target (`Scheduled Event`, from `aws.events`). */
export function scheduledEvent(functionName: string, time: Date): ScheduledEvent {
  const region = localRegion();
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT_ID,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${functionName}-schedule`],
    detail: {},
  };
}

/**
 * An EventBridge schedule for one function: invokes it every `intervalMs`, one run at a time (a run that
 * outlasts the interval delays the next, where EventBridge would start another: the functions it runs
 * must tolerate overlaps on AWS, and do). A failed run is logged and counted; the next tick runs anyway,
 * as the schedule does after Lambda's asynchronous retries.
 */
export class ScheduleEmulator {
  readonly stats = { invocations: 0, failedInvocations: 0 };
  readonly functionName: string;
  readonly intervalMs: number;
  readonly #options: ScheduleEmulatorOptions;
  #running: Promise<unknown> = Promise.resolve();
  /** Ends the schedule; none while it is not running. */
  #stopping: AbortController | undefined;

  constructor(options: ScheduleEmulatorOptions) {
    if (!(options.intervalMs > 0)) throw new Error(`${options.functionName}: the interval must be positive`);
    this.#options = options;
    this.functionName = options.functionName;
    this.intervalMs = options.intervalMs;
  }

  /** Whether a run is scheduled (false once stopped). */
  get scheduled(): boolean {
    return this.#stopping !== undefined;
  }

  /** The first run is one interval from now, as a new schedule's first tick. */
  start(): void {
    if (this.intervalMs > MAX_TIMEOUT_MS) return;
    this.#stopping = new AbortController();
    void this.#tick(this.#stopping.signal).catch(() => undefined);
  }

  /** Runs the function now (after the run in flight, if any) and returns its result; rejects on failure. */
  runNow(): Promise<unknown> {
    this.#running = this.#running.catch(() => undefined).then(() => this.#invoke());
    return this.#running;
  }

  /** Stops the timer and waits for the run in flight. */
  async stop(): Promise<void> {
    this.#stopping?.abort();
    this.#stopping = undefined;
    await this.#running.catch(() => undefined);
  }

  /** Until stopped (the wait then throws): an interval, then a run. The schedule alone keeps no process alive. */
  async #tick(signal: AbortSignal): Promise<never> {
    for (;;) {
      await sleep(this.intervalMs, undefined, { signal, ref: false });
      await this.runNow().catch(() => undefined);
    }
  }

  async #invoke(): Promise<unknown> {
    this.stats.invocations += 1;
    const event = scheduledEvent(this.functionName, new Date());
    const outcome = await this.#options.invoke(event).catch(failedOutcome);
    if (outcome.status === 'ok') return outcome.payload;
    this.stats.failedInvocations += 1;
    this.#options.log(`[${this.functionName}] scheduled invocation failed: ${outcome.errorMessage}`);
    throw Object.assign(new Error(outcome.errorMessage), { name: outcome.errorType });
  }
}
