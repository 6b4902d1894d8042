/**
 * `npm run chaos`: fault runs on the local stack. Each scenario sends orders through POST /orders (a
 * careful client: retries with the same Idempotency-Key), breaks something mid-run, lets the pipeline
 * drain, then reads back what happened from DynamoDB and the DeadLetterQueue topic.
 *
 *   npm run chaos -- [--scenario broker-kill|runtime-kill|replay|poison|all] [--orders N] [--rate R]
 *
 * - broker-kill:  kill -9 the Kafka broker mid-run, restart it (same data dir, same ports);
 * - runtime-kill: kill -9 the process running the emulators and functions while a batch is in flight,
 *                 start a new one;
 * - replay:       after a full run, reset every consumer group of the run to where the run began (on a
 *                 broker of its own: the beginning of the topics) and let everything be delivered again;
 * - poison:       inject 1% (at least one per consumed topic) of records that can never succeed.
 * Pass: no accepted order lost, no stock reserved twice, no notification delivered twice (one per kind
 * and order), every poison record in the DeadLetterQueue. Exits 1 when a scenario fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Producer, stringSerializer } from '@platformatic/kafka';
import { isProcessAlive } from '../local/infra/file-lock.ts';
import { findFreePorts, InfraError, stopAllManaged } from '../local/infra/index.ts';
import { type RunningKafka, startKafka } from '../local/infra/kafka.ts';
import { functionNames, manifest } from '../topology/manifest.ts';
import { type RunningChild, startChild } from './lib/child-process.ts';
import { CompletionTracker, drive } from './lib/driver.ts';
import { benchOrder, stockFor } from './lib/orders.ts';
import type { Completion } from './lib/protocol.ts';
import { commandLine, currentLoad, machineInfo, resultsDir, table, writeJson } from './lib/report.ts';
import { commitGroupsAt, logFileFor, type PipelineSession, preparePipeline } from './lib/session.ts';
import {
  type BenchStack,
  benchGroupId,
  committedOffsets,
  endOffsets,
  lagOf,
  newAdmin,
  newRunId,
  type Offsets,
  startBenchStack,
} from './lib/stack.ts';
import { postOrder } from './lib/submit.ts';
import { consumerTopics } from './lib/topics.ts';
import { parseDeadLetter, readEffects, readRange } from './lib/verify.ts';

// Replay first: on a broker of its own it then really starts from the beginning of every topic.
export const scenarioNames = ['replay', 'poison', 'runtime-kill', 'broker-kill'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface ScenarioResult {
  scenario: ScenarioName;
  pass: boolean;
  skipped?: string;
  sent: number;
  accepted: number;
  /** Accepted orders with their order-shipped notification recorded. */
  completed: number;
  /** Accepted orders that never got there. */
  lost: number;
  /** POSTs that never got a 202, despite the client's retries. */
  notAccepted: number;
  duplicateNotifications: number;
  /** Notifications of shipped orders that were never delivered (order-packed). */
  missingNotifications: number;
  doubleReservedUnits: number;
  stockMismatches: number;
  poison?: { injected: number; inDeadLetterQueue: number };
  /** This run's DeadLetterQueue records, by reason. */
  deadLettered: Record<string, number>;
  orderStatuses: Record<string, number>;
  durationS: number;
  failures: string[];
  events: string[];
  logFile: string;
}

export interface ChaosOptions {
  orders: number;
  rate: number;
  stallMs: number;
  log: (line: string) => void;
}

const DLQ = 'DeadLetterQueue';

/** Records not yet committed by this run's groups, over all consumed topics. */
async function pipelineLag(stack: BenchStack, runId: string, start: Offsets): Promise<number> {
  const admin = newAdmin(stack.kafkaBrokers);
  try {
    const ends = await endOffsets(admin, consumerTopics());
    let lag = 0;
    for (const fn of functionNames) {
      const trigger = manifest.functions[fn].trigger;
      if (trigger.kind !== 'kafka') continue;
      const committed = await committedOffsets(admin, benchGroupId(runId, fn), [trigger.topic]);
      lag += lagOf(new Map([[trigger.topic, ends.get(trigger.topic) ?? new Map()]]), committed, start);
    }
    return lag;
  } finally {
    await admin.close();
  }
}

/**
 * Waits until every accepted order reported its order-shipped notification, or the pipeline is idle
 * (nothing left to consume) and nothing progressed for `stallMs`. Completions reported by a killed
 * runtime may be lost on the way: an idle pipeline is then checked against DynamoDB by the caller.
 */
async function waitForDrain(
  stack: BenchStack,
  session: PipelineSession,
  tracker: CompletionTracker,
  stallMs: number,
): Promise<void> {
  let last = -1;
  let lastProgress = Date.now();
  let idleSince: number | undefined;
  for (;;) {
    if (tracker.missing().length === 0) return;
    const lag = await pipelineLag(stack, session.runId, session.startOffsets).catch(() => Number.NaN);
    const progress = tracker.completed.size * 1_000_000 - (Number.isNaN(lag) ? 0 : lag);
    if (progress !== last) {
      last = progress;
      lastProgress = Date.now();
    }
    idleSince = lag === 0 ? (idleSince ?? Date.now()) : undefined;
    // Idle for a while: whatever was going to finish has finished.
    if (idleSince !== undefined && Date.now() - idleSince > 10_000) return;
    if (Date.now() - lastProgress > stallMs) return;
    await sleep(1_000);
  }
}

interface Harness {
  stack: BenchStack;
  session: PipelineSession & { orders: number };
  tracker: CompletionTracker;
  child: () => RunningChild;
  startRuntime: () => Promise<RunningChild>;
  events: string[];
  note: (line: string) => void;
  /** Resolves once `count` orders were accepted. */
  acceptedAtLeast: (count: number) => Promise<void>;
}

type Fault = (harness: Harness) => Promise<{ during?: Promise<void>; injectedPoison?: Set<string> }>;

/** kill -9 the broker once a third of the orders are in, restart it on the same ports and data dir. */
const brokerKill: Fault = async (h) => {
  const kafka = h.stack.kafka;
  if (!kafka) throw new Error('unreachable: checked before');
  const during = (async () => {
    await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
    const { pid } = JSON.parse(readFileSync(join(kafka.dir, 'kafka.pid'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL');
    while (isProcessAlive(pid)) await sleep(50);
    const killedAt = Date.now();
    h.note(`broker (pid ${pid}) killed with SIGKILL after ${h.tracker.accepted.size} accepted orders`);
    await sleep(3_000);
    const restarted: RunningKafka = await startKafka({ ...kafka, log: () => undefined });
    h.stack.onStop(() => restarted.stop());
    h.note(
      `broker restarted on the same ports and data dir, ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
    );
  })();
  return { during };
};

/** kill -9 the runtime child while an invocation of a Kafka-triggered function runs, start a new one. */
const runtimeKill: Fault = async (h) => {
  const during = (async () => {
    await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
    const deadline = Date.now() + 60_000;
    let busy: string[] = [];
    while (Date.now() < deadline) {
      const stats = await h.child().stats();
      busy = Object.entries(stats.inFlight)
        .filter(
          ([fn, n]) =>
            n > 0 && manifest.functions[fn as keyof typeof manifest.functions]?.trigger.kind === 'kafka',
        )
        .map(([fn]) => fn);
      if (busy.length > 0) break;
      await sleep(20);
    }
    const victim = h.child();
    await victim.kill();
    h.note(
      `runtime child (pid ${victim.pid}) killed with SIGKILL while ${busy.join(', ') || 'nothing'} had a batch in flight`,
    );
    await sleep(1_000);
    const started = Date.now();
    await h.startRuntime();
    h.note(`new runtime child ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  })();
  return { during };
};

/** Poison records of four kinds, spread over the consumed topics while the orders flow. */
function poisonValue(kind: number, topic: string): Buffer {
  switch (kind % 4) {
    case 0:
      return Buffer.from('{"this is": not JSON');
    case 1:
      // The topic's event type, but nothing an envelope needs.
      return Buffer.from(JSON.stringify({ eventType: manifestEventType(topic), version: 1 }));
    case 2:
      return Buffer.from(JSON.stringify({ eventType: 'SomethingElse', eventId: 'not-a-uuid' }));
    default:
      return Buffer.alloc(0);
  }
}

const manifestEventType = (topic: string) =>
  ({
    OrderReceived: 'OrderReceived',
    OrderConfirmed: 'OrderConfirmed',
    OrderPickedAndPacked: 'OrderPickedAndPacked',
    Notification: 'Notification',
  })[topic] ?? topic;

const poison: Fault = async (h) => {
  const topics = consumerTopics();
  const count = Math.max(topics.length, Math.ceil(h.session.orders / 100 / topics.length) * topics.length);
  const injected = new Set<string>();
  const producer = new Producer<string, Buffer, string, string>({
    clientId: 'bench-chaos-poison',
    bootstrapBrokers: h.stack.kafkaBrokers,
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
  });
  const during = (async () => {
    try {
      for (let i = 0; i < count; i++) {
        // Spread between the first and the last accepted orders, so poison lands among real records.
        await h.acceptedAtLeast(Math.floor(((i + 1) * h.session.orders) / (count + 1)));
        const topic = topics[i % topics.length] as string;
        const key = `poison-${h.session.runId}-${i}`;
        await producer.send({ messages: [{ topic, key, value: poisonValue(i, topic) }] });
        injected.add(key);
      }
      h.note(`${count} poison records injected over ${topics.join(', ')}`);
    } finally {
      await producer.close();
    }
  })();
  return { during, injectedPoison: injected };
};

const faults: Record<Exclude<ScenarioName, 'replay'>, Fault> = {
  'broker-kill': brokerKill,
  'runtime-kill': runtimeKill,
  poison,
};

export async function runScenario(
  name: ScenarioName,
  stack: BenchStack,
  options: ChaosOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const runId = newRunId();
  const stock = stockFor(options.orders);
  const logFile = logFileFor(runId, `chaos-${name}`);
  const empty = {
    scenario: name,
    sent: 0,
    accepted: 0,
    completed: 0,
    lost: 0,
    notAccepted: 0,
    duplicateNotifications: 0,
    missingNotifications: 0,
    doubleReservedUnits: 0,
    stockMismatches: 0,
    deadLettered: {},
    orderStatuses: {},
    durationS: 0,
    failures: [],
    events: [],
    logFile,
  };
  if (name === 'broker-kill' && !stack.kafka) {
    return {
      ...empty,
      pass: true,
      skipped: 'the broker is external (KAFKA_BROKERS): only a broker this run started can be killed',
    };
  }

  const prepared = await preparePipeline(stack, runId, stock);
  const session = { ...prepared, orders: options.orders };
  const admin = newAdmin(stack.kafkaBrokers);
  const dlqStart = await endOffsets(admin, [DLQ]);
  const [apiPort] = await findFreePorts(1);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const tracker = new CompletionTracker();
  const events: string[] = [];
  const note = (line: string) => {
    events.push(line);
    options.log(`[chaos:${name}] ${line}`);
  };
  let current: RunningChild | undefined;
  const startRuntime = async () => {
    current = await startChild({
      config: {
        mode: 'pipeline',
        runId,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        tablePrefix: session.tablePrefix,
        apiPort: apiPort as number,
      },
      onCompleted: (completions: Completion[]) => tracker.complete(completions),
      logFile,
    });
    return current;
  };
  const acceptedAtLeast = async (count: number) => {
    while (tracker.accepted.size < count && !driving.done) await sleep(50);
  };
  const driving = { done: false };
  const harness: Harness = {
    stack,
    session,
    tracker,
    child: () => current as RunningChild,
    startRuntime,
    events,
    note,
    acceptedAtLeast,
  };

  try {
    await startRuntime();
    const fault = name === 'replay' ? {} : await faults[name](harness);
    const driven = await drive({
      count: options.orders,
      load: { kind: 'rate', perSecond: options.rate },
      tracker,
      submit: (index) =>
        postOrder(apiUrl, benchOrder(runId, index, session.entries), { deadlineMs: 180_000 }),
    }).finally(() => {
      driving.done = true;
    });
    await fault.during;
    note(`${tracker.accepted.size}/${options.orders} orders accepted; waiting for the pipeline to drain`);
    await waitForDrain(stack, session, tracker, options.stallMs);

    if (name === 'replay') {
      const before = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
      await current?.stop();
      await commitGroupsAt(admin, runId, session.startOffsets);
      const fromTheStart = [...session.startOffsets.values()].every((partitions) =>
        [...partitions.values()].every((offset) => offset === 0n),
      );
      note(
        `consumer groups reset to ${fromTheStart ? 'the beginning of every topic (earliest)' : 'where the run began (the topics hold older records of other runs)'}; ${await pipelineLag(stack, runId, session.startOffsets)} records to deliver again`,
      );
      const runtime = await startRuntime();
      const replayStarted = Date.now();
      for (let idle = 0; idle < 3 && Date.now() - replayStarted < options.stallMs * 2; ) {
        await sleep(1_000);
        idle = (await pipelineLag(stack, runId, session.startOffsets)) === 0 ? idle + 1 : 0;
      }
      const stats = await runtime.stats();
      const reproduced = Object.entries(stats.produced)
        .filter(([topic]) => topic !== 'KPIs')
        .reduce((n, [, c]) => n + c.records, 0);
      note(
        `replayed in ${((Date.now() - replayStarted) / 1000).toFixed(1)} s: ${Object.values(stats.functions).reduce((n, f) => n + f.records, 0)} records delivered again, ${reproduced} pipeline events produced again`,
      );
      const after = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
      if (after.notifications !== before.notifications) {
        note(`notifications went from ${before.notifications} to ${after.notifications} during the replay`);
      }
    }

    await current?.stop();
    const effects = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
    const dlqEnd = await endOffsets(admin, [DLQ]);
    const deadLetters = (await readRange(stack.kafkaBrokers, DLQ, dlqStart, dlqEnd))
      .map(parseDeadLetter)
      .filter((d) => d.reason !== 'replay-marker');
    const ours = deadLetters.filter(
      (d) => d.originalKey?.startsWith(`bench-${runId}-`) || d.originalKey?.startsWith(`poison-${runId}-`),
    );
    const deadLettered: Record<string, number> = {};
    for (const d of ours) deadLettered[d.reason] = (deadLettered[d.reason] ?? 0) + 1;

    const accepted = [...tracker.accepted.keys()];
    const lost = accepted.filter((orderId) => !effects.shipped.has(orderId));
    const injected = fault.injectedPoison;
    const poisonInDlq = injected
      ? new Set(ours.filter((d) => d.originalKey && injected.has(d.originalKey)).map((d) => d.originalKey))
      : undefined;

    const failures: string[] = [];
    if (lost.length > 0)
      failures.push(`${lost.length} accepted order(s) never shipped, e.g. ${lost.slice(0, 3).join(', ')}`);
    if (driven.failed.length > 0)
      failures.push(`${driven.failed.length} order(s) never accepted: ${driven.failed[0]?.error}`);
    if (effects.duplicateNotifications.length > 0) {
      const d = effects.duplicateNotifications[0];
      failures.push(
        `${effects.duplicateNotifications.length} notification(s) delivered more than once, e.g. ${d?.kind} of ${d?.orderId} x${d?.count}`,
      );
    }
    if (effects.missingNotifications.length > 0) {
      const m = effects.missingNotifications[0];
      failures.push(
        `${effects.missingNotifications.length} notification(s) of shipped orders never delivered, e.g. ${m?.kind} of ${m?.orderId}`,
      );
    }
    if (effects.stockMismatches.length > 0) {
      const m = effects.stockMismatches[0];
      failures.push(
        `stock does not add up for ${effects.stockMismatches.length} SKU(s), e.g. ${m?.sku}: available ${m?.available}, reserved ${m?.reserved}, orders need ${m?.expectedReserved} of ${m?.initial}`,
      );
    }
    if (injected && poisonInDlq && poisonInDlq.size < injected.size) {
      failures.push(
        `${injected.size - poisonInDlq.size} of ${injected.size} poison record(s) missing from ${DLQ}`,
      );
    }
    return {
      scenario: name,
      pass: failures.length === 0,
      sent: options.orders,
      accepted: accepted.length,
      completed: accepted.length - lost.length,
      lost: lost.length,
      notAccepted: driven.failed.length,
      duplicateNotifications: effects.duplicateNotifications.length,
      missingNotifications: effects.missingNotifications.length,
      doubleReservedUnits: effects.doubleReservedUnits,
      stockMismatches: effects.stockMismatches.length,
      ...(injected ? { poison: { injected: injected.size, inDeadLetterQueue: poisonInDlq?.size ?? 0 } } : {}),
      deadLettered,
      orderStatuses: effects.statuses,
      durationS: Math.round((Date.now() - started) / 100) / 10,
      failures,
      events,
      logFile,
    };
  } finally {
    await current?.stop().catch(() => undefined);
    await admin.close().catch(() => undefined);
    await session.dispose().catch(() => undefined);
  }
}

const usage = `usage: npm run chaos -- [--scenario ${scenarioNames.join('|')}|all] [--orders N] [--rate R] [--out file]
  --orders N   orders per scenario (default 60)
  --rate R     orders/s sent (default 4)
  --out file   results JSON (default bench/results/chaos.json)`;

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        scenario: { type: 'string' },
        orders: { type: 'string' },
        rate: { type: 'string' },
        out: { type: 'string' },
        'stall-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    log(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const wanted = String(values.scenario ?? 'all');
  const scenarios = wanted === 'all' ? [...scenarioNames] : [wanted];
  const unknown = scenarios.filter((s) => !(scenarioNames as readonly string[]).includes(s));
  const orders = Number(values.orders ?? 60);
  const rate = Number(values.rate ?? 4);
  const stallS = Number(values['stall-timeout'] ?? 90);
  if (unknown.length > 0 || !(orders > 0) || !(rate > 0) || !(stallS > 0)) {
    log(`${unknown.length > 0 ? `unknown scenario ${unknown.join(', ')}` : 'invalid number'}\n${usage}`);
    return 2;
  }
  const out = String(values.out ?? join(resultsDir, 'chaos.json'));

  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack(log);
    const machine = machineInfo(stack.kafkaVersion);
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios as ScenarioName[]) {
      log(`[chaos] ${scenario}: ${orders} orders at ${rate}/s`);
      results.push(
        await runScenario(scenario, stack, { orders: Math.round(orders), rate, stallMs: stallS * 1000, log }),
      );
    }
    machine.loadAverage.end = currentLoad();
    console.log(
      `\n${table([
        [
          'scenario',
          'sent',
          'accepted',
          'shipped',
          'lost',
          'dup. notif.',
          'missing notif.',
          'double-reserved',
          'poison in DLQ',
          'other DLQ',
          'result',
        ],
        ...results.map((r) => [
          r.scenario,
          r.sent,
          r.accepted,
          r.completed,
          r.lost,
          r.duplicateNotifications,
          r.missingNotifications,
          r.doubleReservedUnits,
          r.poison ? `${r.poison.inDeadLetterQueue}/${r.poison.injected}` : '-',
          Object.entries(r.deadLettered)
            .filter(([reason]) => reason !== 'poison')
            .reduce((n, [, count]) => n + count, 0),
          r.skipped ? 'skipped' : r.pass ? 'PASS' : 'FAIL',
        ]),
      ])}`,
    );
    for (const r of results) {
      for (const line of r.skipped ? [r.skipped] : [...r.events, ...r.failures.map((f) => `FAIL: ${f}`)]) {
        console.log(`  ${r.scenario}: ${line}`);
      }
    }
    const file = await writeJson(out, {
      command: commandLine('chaos'),
      startedAt: new Date().toISOString(),
      machine,
      orders,
      rate,
      pass: results.every((r) => r.pass),
      scenarios: results,
    });
    console.log(`\nwritten: ${file}`);
    return results.every((r) => r.pass) ? 0 : 1;
  } catch (error) {
    log(error instanceof InfraError ? error.message : `[chaos] failed: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await stack?.stop().catch(() => undefined);
    await stopAllManaged();
  }
}

if (import.meta.main) process.exit(await main());
