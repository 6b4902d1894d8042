/**
 * The faults `npm run chaos` injects while orders flow. Each one waits for its moment (a share of the
 * orders accepted, an invocation in flight), breaks something for real (a process killed, a process
 * added to the consumer groups, records that can never succeed or that crash their consumer) and reports
 * what it did.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, paginateListTables } from '@aws-sdk/client-dynamodb';
import { Producer, stringSerializer } from '@platformatic/kafka';
import { CRASH_HEADER, type CrashKind } from '../../local/faults/crash-poison.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { isProcessAlive } from '../../local/infra/process.ts';
import { parseDeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';
import { localTableName, manifest, tableNames } from '../../topology/manifest.ts';
import { deadLetterTopic, isKafkaConsumer, kafkaConsumers } from '../../topology/topics.ts';
import type { ChaosRun } from './chaos-run.ts';
import type { ChildStats, RunningChild } from './protocol.ts';
import { consumerTopics, orderPathTopics } from './topics.ts';
import type { DeadLetter } from './verify.ts';

/** What a run left behind, read back once every runtime has stopped. */
export interface RunEvidence {
  deadLetterRecords: readonly { key?: Buffer | null; value?: Buffer | null }[];
  /** One per record, as `parseDeadLetter` reads them (no replay markers). */
  deadLetters: readonly DeadLetter[];
  /** Every runtime's last counters (a stopped one's final ones; a killed one's last report). */
  stats: readonly ChildStats[];
  logFiles: readonly string[];
}

/** A fault's own verdict on the run, beside the invariants every scenario checks. */
interface FaultVerdict {
  failures: string[];
  notes?: string[];
  poison?: { injected: number; inDeadLetterQueue: number };
  crashPoison?: CrashPoisonFigures;
}

export interface FaultRun {
  during?: Promise<void>;
  /** What the fault itself found wrong (e.g. a restarted endpoint without the run's tables). */
  failures?: string[];
  verdict?: (evidence: RunEvidence) => FaultVerdict;
}

export type Fault = (run: ChaosRun) => Promise<FaultRun>;

/**
 * Reads `child`'s counters every `everyMs` until `done` holds of `read`'s value, `timeoutMs` passed or
 * the child exited (a dead child never answers: the wait races its exit).
 */
async function watchStats<T>(
  child: RunningChild,
  timing: { timeoutMs: number; everyMs: number },
  read: (stats: ChildStats) => T[],
  done: (value: T[]) => boolean,
): Promise<T[]> {
  let value: T[] = [];
  const exited = child.exited.then(() => undefined);
  for (const deadline = Date.now() + timing.timeoutMs; Date.now() < deadline; await sleep(timing.everyMs)) {
    const stats = await Promise.race([child.stats().catch(() => undefined), exited]);
    if (stats === undefined) break;
    value = read(stats);
    if (done(value)) break;
  }
  return value;
}

/** Waits (up to `timeoutMs`) until `child` runs an invocation of a Kafka-triggered function: their names. */
const batchInFlight = (child: RunningChild, timeoutMs = 60_000): Promise<string[]> =>
  watchStats(
    child,
    { timeoutMs, everyMs: 20 },
    (stats) =>
      Object.entries(stats.inFlight).flatMap(([fn, n]) => (n > 0 && isKafkaConsumer(fn) ? [fn] : [])),
    (busy) => busy.length > 0,
  );

const inFlight = (busy: string[]) => `while ${busy.join(', ') || 'nothing'} had a batch in flight`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * kill -9 a service this run started once a third of the orders are in (`whileBusy`: and an invocation
 * runs), and start it again after `pauseMs`, on the same ports and data dir.
 */
async function killAndRestart(
  h: ChaosRun,
  service: { name: string; pidOf: 'kafka' | 'dynamodb'; pauseMs: number; whileBusy?: boolean },
) {
  await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
  const busy = service.whileBusy ? await batchInFlight(h.runtimes.current()) : undefined;
  const pid = h.stack.servicePids()[service.pidOf] as number;
  try {
    process.kill(pid, 'SIGKILL');
    while (isProcessAlive(pid)) await sleep(50);
  } catch {
    // Already gone.
  }
  const killedAt = Date.now();
  h.note(
    `${service.name} (pid ${pid}) killed with SIGKILL after ${h.tracker.accepted.size} accepted orders${busy ? `, ${inFlight(busy)}` : ''}`,
  );
  await sleep(service.pauseMs);
  await (h.stack.restart[service.pidOf] as () => Promise<void>)(); // cannotRun checked it
  return seconds(Date.now() - killedAt);
}

/** kill -9 the broker once a third of the orders are in, restart it on the same ports and data dir. */
export const brokerKill: Fault = async (h) => {
  const broker = { name: 'broker', pidOf: 'kafka', pauseMs: 3_000 } as const;
  const during = killAndRestart(h, broker).then((after) =>
    h.note(`broker restarted on the same ports and data dir, ${after} after the kill`),
  );
  return { during };
};

/**
 * kill -9 the DynamoDB endpoint while invocations run, once a third of the orders are in; start the same
 * server again on the same port and data dir (its SQLite database brings the tables back).
 */
export const dynamodbKill: Fault = async (h) => {
  const endpoint = { name: 'DynamoDB endpoint', pidOf: 'dynamodb', pauseMs: 2_000, whileBusy: true } as const;
  const failures: string[] = [];
  const during = (async () => {
    const after = await killAndRestart(h, endpoint);
    const client = new DynamoDBClient(localDynamoDbConfig(h.stack.dynamodbEndpoint));
    const tables = new Set<string>();
    for await (const page of paginateListTables({ client }, {}))
      for (const t of page.TableNames ?? []) tables.add(t);
    client.destroy();
    const ours = tableNames.map((t) => localTableName(t, h.session.tablePrefix));
    const gone = ours.filter((t) => !tables.has(t));
    h.note(
      `DynamoDB endpoint restarted on the same port and data dir ${after} after the kill; ${ours.length - gone.length}/${ours.length} of the run's tables back`,
    );
    if (gone.length > 0)
      failures.push(
        `the restarted DynamoDB endpoint came back without ${gone.join(', ')}: it kept no state across the kill`,
      );
  })();
  return { during, failures };
};

/** kill -9 the runtime child while an invocation of a Kafka-triggered function runs, start a new one. */
export const runtimeKill: Fault = async (h) => {
  const during = (async () => {
    await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
    const busy = await batchInFlight(h.runtimes.current());
    const victim = h.runtimes.current();
    await victim.kill();
    h.note(`runtime child (pid ${victim.pid}) killed with SIGKILL ${inFlight(busy)}`);
    await sleep(1_000);
    const started = Date.now();
    await h.runtimes.startRuntime();
    h.note(`new runtime child ready after ${seconds(Date.now() - started)}`);
  })();
  return { during };
};

/**
 * A second runtime joins every consumer group a quarter into the run (a rebalance: partitions move while
 * the first runtime has batches in flight), works, and leaves again once half the orders are in, while
 * it has a batch in flight: `graceful` stops it (in-flight invocations finish, the groups rebalance at
 * once), otherwise kill -9 (its partitions wait for the session timeout, then move back).
 */
function runtimeJoin(leave: 'graceful' | 'kill'): Fault {
  return async (h) => {
    const during = (async () => {
      await h.acceptedAtLeast(Math.ceil(h.session.orders / 4));
      const joining = Date.now();
      const visitor = await h.runtimes.startVisitor();
      h.note(
        `second runtime (pid ${visitor.pid}) joined the consumer groups after ${h.tracker.accepted.size} accepted orders (ready in ${seconds(Date.now() - joining)})`,
      );
      // Until it processed records of every Kafka-triggered function (took partitions of every group);
      // bounded: a short run may leave some of its groups without records to hand over.
      const wanted: string[] = kafkaConsumers.map(({ name }) => name);
      const working = await watchStats(
        visitor,
        { timeoutMs: 20_000, everyMs: 200 },
        (stats) => wanted.filter((fn) => (stats.functions[fn]?.records ?? 0) > 0),
        (fns) => fns.length === wanted.length,
      );
      h.note(
        `second runtime processed records of ${working.length} function(s) (${working.join(', ') || 'none'}) ${seconds(Date.now() - joining)} after joining`,
      );
      await h.acceptedAtLeast(Math.ceil(h.session.orders / 2));
      const busy = await batchInFlight(visitor, 20_000);
      h.runtimes.retireVisitor(visitor);
      const stats = await visitor.stats();
      const records = Object.values(stats.functions).reduce((n, f) => n + f.records, 0);
      const leaving = Date.now();
      await (leave === 'graceful' ? visitor.stop() : visitor.kill());
      h.note(
        leave === 'graceful'
          ? `second runtime stopped (graceful: in-flight invocations finished, groups left) ${inFlight(busy)}, after ${records} records; gone in ${seconds(Date.now() - leaving)}`
          : `second runtime killed with SIGKILL ${inFlight(busy)}, after ${records} records; its partitions move back after the session timeout`,
      );
    })();
    return { during };
  };
}

export const runtimeJoinLeave: Fault = runtimeJoin('graceful');
export const runtimeJoinKill: Fault = runtimeJoin('kill');

/** Every poison record injected must be on DeadLetterQueue (once or more: a record is poison for good). Pure. */
export function poisonVerdict(
  injected: ReadonlySet<string>,
  deadLetters: readonly DeadLetter[],
): FaultVerdict {
  const found = new Set(
    deadLetters.flatMap((d) => (d.originalKey && injected.has(d.originalKey) ? [d.originalKey] : [])),
  );
  const missing = injected.size - found.size;
  return {
    poison: { injected: injected.size, inDeadLetterQueue: found.size },
    failures:
      missing > 0 ? [`${missing} of ${injected.size} poison record(s) missing from ${deadLetterTopic}`] : [],
  };
}

/** A producer of raw records, for the records no genuine client would write. */
type RawProducer = Producer<string, Buffer, string, string>;

/**
 * Sends `count` records (`send(producer, i)`) on a producer of its own, spread between the first and the
 * last accepted orders so that they land among genuine records.
 */
async function spreadAmongOrders(
  h: ChaosRun,
  clientId: string,
  count: number,
  send: (producer: RawProducer, i: number) => Promise<void>,
): Promise<void> {
  const producer: RawProducer = new Producer({
    clientId,
    bootstrapBrokers: h.stack.kafkaBrokers,
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
  });
  try {
    for (let i = 0; i < count; i++) {
      await h.acceptedAtLeast(Math.floor(((i + 1) * h.session.orders) / (count + 1)));
      await send(producer, i);
    }
  } finally {
    await producer.close();
  }
}

/**
 * 1% of the orders (at least one per consumed topic) in poison records of four kinds in turn, between the
 * accepted orders: not JSON, the topic's event type with nothing an envelope needs, another event type,
 * an empty value.
 */
export const poison: Fault = async (h) => {
  const topics = consumerTopics();
  const count = Math.max(topics.length, Math.ceil(h.session.orders / 100 / topics.length) * topics.length);
  const injected = new Set<string>();
  const during = spreadAmongOrders(h, 'bench-chaos-poison', count, async (producer, i) => {
    const topic = topics[i % topics.length] as string;
    const key = `poison-${h.session.runId}-${i}`;
    const values = [
      '{"this is": not JSON',
      JSON.stringify({ eventType: topic, version: 1 }),
      JSON.stringify({ eventType: 'SomethingElse', eventId: 'not-a-uuid' }),
      '',
    ];
    await producer.send({ messages: [{ topic, key, value: Buffer.from(values[i % 4] as string) }] });
    injected.add(key);
  }).then(() => h.note(`${count} poison records injected over ${topics.join(', ')}`));
  return { during, verdict: ({ deadLetters }) => poisonVerdict(injected, deadLetters) };
};

// ---- crash-poison ---------------------------------------------------------------------------------------
// Records that crash their consumer, among the orders (bench/README.md). Its runtimes bundle
// local/faults/crash-poison.ts around every handler: a record with the header `chaos-crash` ends the
// environment of the invocation that holds it (`process.exit`, out of memory) before the handler sees the
// batch; the mapping bisects the batch until the record is alone, retries it and dead-letters it as
// Lambda's on-failure record. Not `timeout` by default: at the manifest's 30 s, one record would hold its
// partition for 9 invocations plus backoffs, about 5 minutes.

/** The handler wrapper the runtime bundles for this scenario (relative to the project root). */
export const CRASH_WRAPPER = 'local/faults/crash-poison.ts';
/** Crash records per order sent (at least one per partition). */
const CRASH_SHARE = 0.01;
export const DEFAULT_CRASH_KINDS: readonly CrashKind[] = ['exit', 'oom'];
/** How long the fault waits for the runtime to report every crash record sent to on-failure. */
const DEAD_LETTERED_WITHIN_MS = 10 * 60_000;

/**
 * The crash records of a run: CRASH_SHARE of the orders, at least one per partition, over the order
 * path's topics in turn (every consumer of an order crashes), each on an explicit partition in turn (every
 * partition gets some), exit and out of memory alternating per round of topics.
 */
export function planCrashes(
  runId: string,
  orders: number,
  kinds: readonly CrashKind[] = DEFAULT_CRASH_KINDS,
) {
  const partitions = Math.max(...orderPathTopics.map((topic) => manifest.topics[topic].partitions));
  const count = Math.max(partitions, Math.ceil(orders * CRASH_SHARE));
  return Array.from({ length: count }, (_, i) => {
    const topic = orderPathTopics[i % orderPathTopics.length] as (typeof orderPathTopics)[number];
    return {
      key: `crash-${runId}-${i}`,
      topic,
      partition: i % manifest.topics[topic].partitions,
      kind: kinds[Math.floor(i / orderPathTopics.length) % kinds.length] as CrashKind,
    };
  });
}
export type CrashRecord = ReturnType<typeof planCrashes>[number];

export const countBy = <T>(items: readonly T[], of: (item: T) => string) => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[of(item)] = (counts[of(item)] ?? 0) + 1;
  return counts;
};

/** `name n, name n`, or `none` when there are none. */
export const list = (counts: Record<string, number>, none = 'none') =>
  Object.entries(counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || none;

/** Per function, the sum over every runtime of `field` of its `of` counters, only where above 0. */
function perFunction<K extends string>(
  stats: readonly ChildStats[],
  of: (s: ChildStats) => Record<string, Partial<Record<K, number>>> | undefined,
  field: K,
) {
  const sums: Record<string, number> = {};
  for (const s of stats)
    for (const [fn, v] of Object.entries(of(s) ?? {})) sums[fn] = (sums[fn] ?? 0) + (v[field] ?? 0);
  return Object.fromEntries(Object.entries(sums).filter(([, n]) => n > 0));
}

/**
 * Where each crash record ended (key: why it did not end on DeadLetterQueue exactly once, as the
 * mapping's on-failure record holding it alone, from its topic and partition), and the genuine orders'
 * records found there.
 */
function deadLetterProblems(crashes: readonly CrashRecord[], evidence: RunEvidence, runId: string) {
  const holders = new Map<string, { letters: number; writer: string; at: string }[]>();
  const genuine: string[] = [];
  for (const record of evidence.deadLetterRecords) {
    const parsed = parseDeadLetterQueueRecord(record.value ?? null);
    if (parsed.kind !== 'letters') continue;
    for (const { original, reason, writer } of parsed.letters) {
      const key = original.key?.toString('utf8') ?? '';
      if (key.startsWith(`bench-${runId}-`)) genuine.push(`${key} (${original.topic}, ${reason})`);
      const holder = {
        letters: parsed.letters.length,
        writer,
        at: `${original.topic}:${original.partition}`,
      };
      holders.set(key, [...(holders.get(key) ?? []), holder]);
    }
  }
  const problems: Record<string, string> = {};
  for (const crash of crashes) {
    const found = holders.get(crash.key) ?? [];
    const [first] = found;
    const why = !first
      ? `not on ${deadLetterTopic}`
      : found.length > 1
        ? `on ${deadLetterTopic} ${found.length} times`
        : first.writer !== 'event-source-mapping'
          ? 'not an on-failure record'
          : first.letters > 1
            ? `with ${first.letters - 1} other record(s)`
            : first.at !== `${crash.topic}:${crash.partition}`
              ? `from ${first.at}`
              : undefined;
    if (why) problems[crash.key] = `${crash.kind} on ${crash.topic}:${crash.partition}: ${why}`;
  }
  return { problems, genuine };
}

/**
 * Every crash record must be on DeadLetterQueue exactly once, alone, and no record of a genuine order
 * may be there; the runtime process itself must not abort. Functions fed no crash record that lost
 * environments are reported (a timeout on a loaded machine ends one too), not failed. Pure but for the logs.
 */
export function crashVerdict(crashes: readonly CrashRecord[], evidence: RunEvidence, runId: string) {
  const { problems, genuine } = deadLetterProblems(crashes, evidence, runId);
  const bad = Object.entries(problems);
  const failures: string[] = [];
  const fatal = evidence.logFiles.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('FATAL ERROR')),
  );
  if (fatal.length > 0)
    failures.push(
      `the runtime process itself aborted ${fatal.length} time(s) (${fatal[0]}): an environment's crash was not contained`,
    );
  if (bad.length > 0)
    failures.push(
      `${bad.length} of ${crashes.length} crash record(s) not dead-lettered alone once, e.g. ${bad[0]?.join(': ')}`,
    );
  if (genuine.length > 0)
    failures.push(`${genuine.length} genuine order record(s) on ${deadLetterTopic}, e.g. ${genuine[0]}`);
  const { stats } = evidence;
  const figures = {
    injected: crashes.length,
    byKind: countBy(crashes, (c) => c.kind),
    byTopic: countBy(crashes, (c) => c.topic),
    /** Crash records on DeadLetterQueue exactly once, each as an on-failure record holding it alone. */
    deadLetteredAlone: crashes.length - bad.length,
    problems,
    genuineOnDeadLetterQueue: genuine.length,
    environmentsLost: perFunction(stats, (s) => s.environments, 'environmentsLost'),
    failedInvocations: perFunction(stats, (s) => s.emulators, 'failedInvocations'),
    bisects: perFunction(stats, (s) => s.emulators, 'bisects'),
  };
  const crashed = new Set<string | undefined>(crashes.map((c) => consumerOf(c.topic)));
  const bystanders = Object.entries(figures.environmentsLost).filter(([fn]) => !crashed.has(fn));
  const notes = [
    `${figures.deadLetteredAlone}/${crashes.length} crash records dead-lettered alone, once; ${genuine.length} genuine order record(s) on ${deadLetterTopic}`,
    stats.length === 0
      ? 'the runtime reported no counters (environments lost, bisects): it never stopped gracefully'
      : `environments lost: ${list(figures.environmentsLost)}; failed invocations: ${list(figures.failedInvocations)}; bisects: ${list(figures.bisects)}`,
  ];
  if (bystanders.length > 0)
    notes.unshift(
      `functions fed no crash record lost environments too (a timeout on a loaded machine counts): ${list(Object.fromEntries(bystanders))}`,
    );
  const poison = { injected: crashes.length, inDeadLetterQueue: figures.deadLetteredAlone };
  return { failures, poison, crashPoison: figures, notes };
}
type CrashPoisonFigures = ReturnType<typeof crashVerdict>['crashPoison'];

const consumerOf = (topic: string) => kafkaConsumers.find(({ trigger }) => trigger.topic === topic)?.name;

/**
 * Waits until the runtime reports `count` records sent to on-failure (a crash record takes 9 invocations
 * and about 45 s of backoff, longer than the drain's patience without progress), it exits, or a deadline.
 */
async function deadLettered(h: ChaosRun, count: number) {
  const child = h.runtimes.current();
  const started = Date.now();
  const timing = { timeoutMs: DEAD_LETTERED_WITHIN_MS, everyMs: 2_000 };
  const sentToOnFailure = (stats: ChildStats) =>
    Object.values(stats.emulators).map((e) => e.recordsSentToOnFailure);
  await watchStats(child, timing, sentToOnFailure, (sent) => sent.reduce((n, c) => n + c, 0) >= count);
  const exit = await Promise.race([child.exited, sleep(100, 'running' as const)]);
  h.note(
    exit !== 'running'
      ? `the runtime process (pid ${child.pid}) died with code ${exit} while crash records were being dead-lettered`
      : `the runtime reported ${count}+ records sent to on-failure ${((Date.now() - started) / 1000).toFixed(1)} s after the last crash record`,
  );
}

/** CRASH_SHARE of the orders in crash records, spread between the accepted orders. */
export const crashPoison: Fault = async (h) => {
  const crashes = planCrashes(h.session.runId, h.session.orders, h.crashKinds);
  const sent: CrashRecord[] = [];
  const during = (async () => {
    await spreadAmongOrders(h, 'bench-chaos-crash', crashes.length, async (producer, i) => {
      const crash = crashes[i] as CrashRecord;
      const { topic, partition, key, kind } = crash;
      const headers = { [CRASH_HEADER]: kind };
      await producer.send({ messages: [{ topic, partition, key, value: Buffer.from('{}'), headers }] });
      sent.push(crash);
    });
    const partitions = new Set(sent.map((c) => c.partition)).size;
    h.note(
      `${sent.length} crash records (${list(countBy(sent, (c) => c.kind))}) injected over ${orderPathTopics.join(', ')}, on ${partitions} partitions`,
    );
    await deadLettered(h, sent.length);
  })();
  return { during, verdict: (evidence) => crashVerdict(sent, evidence, h.session.runId) };
};
