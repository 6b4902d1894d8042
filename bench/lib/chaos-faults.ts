/**
 * The faults `npm run chaos` injects while orders flow. Each one waits for its moment (a share of the
 * orders accepted, an invocation in flight), breaks something for real (a process killed, a process
 * added to the consumer groups, records that can never succeed) and reports what it did.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { Producer, stringSerializer } from '@platformatic/kafka';
import type { CrashKind } from '../../local/faults/crash-poison.ts';
import { startDynamoDb } from '../../local/infra/dynamodb.ts';
import { isProcessAlive } from '../../local/infra/file-lock.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { startKafka } from '../../local/infra/kafka.ts';
import { localTableName, tableNames } from '../../topology/manifest.ts';
import { deadLetterTopic, isKafkaConsumer, kafkaConsumers } from '../../topology/topics.ts';
import type { CrashPoisonFigures } from './chaos-crash.ts';
import type { RunningChild } from './child-process.ts';
import type { CompletionTracker } from './driver.ts';
import type { ChildStats } from './protocol.ts';
import type { PipelineSession } from './session.ts';
import type { BenchStack } from './stack.ts';
import { consumerTopics } from './topics.ts';
import type { DeadLetter } from './verify.ts';

export interface Harness {
  stack: BenchStack;
  session: PipelineSession & { orders: number };
  tracker: CompletionTracker;
  /** The runtime that serves the API the orders are sent to. */
  child: () => RunningChild;
  /** Replaces the main runtime (same API port). */
  startRuntime: () => Promise<RunningChild>;
  /** Starts another runtime in the same consumer groups, on the same tables; its API takes orders too while it runs. */
  startVisitor: () => Promise<RunningChild>;
  /** The visitor is going: no more orders to its API. */
  retireVisitor: (visitor: RunningChild) => void;
  note: (line: string) => void;
  /** Resolves once `count` orders were accepted (or every order was sent). */
  acceptedAtLeast: (count: number) => Promise<void>;
  /** crash-poison: the kinds of crash injected (default exit and oom). */
  crashKinds?: readonly CrashKind[];
}

/** What a run left behind, read back once every runtime has stopped. */
export interface RunEvidence {
  /** This run's DeadLetterQueue records. */
  deadLetterRecords: readonly { key?: Buffer | null; value?: Buffer | null }[];
  /** This run's dead letters, one per record, as `parseDeadLetter` reads them (no replay markers). */
  deadLetters: readonly DeadLetter[];
  /** Every runtime's last counters (a stopped one's final ones; a killed one's last report). */
  stats: readonly ChildStats[];
  /** Every runtime's log. */
  logFiles: readonly string[];
}

/** A fault's own verdict on the run, beside the invariants every scenario checks. */
export interface FaultVerdict {
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

export type Fault = (harness: Harness) => Promise<FaultRun>;

/**
 * Reads `child`'s counters every `everyMs` until `done` holds of what `read` makes of them, or until
 * `timeoutMs` passed: the last reading.
 */
async function watchStats<T>(
  child: RunningChild,
  timing: { timeoutMs: number; everyMs: number },
  read: (stats: ChildStats) => T[],
  done: (value: T[]) => boolean,
): Promise<T[]> {
  let value: T[] = [];
  for (const deadline = Date.now() + timing.timeoutMs; Date.now() < deadline; await sleep(timing.everyMs)) {
    value = read(await child.stats());
    if (done(value)) break;
  }
  return value;
}

/** Waits (up to `timeoutMs`) until `child` has an invocation of a Kafka-triggered function running. */
export const batchInFlight = (child: RunningChild, timeoutMs = 60_000): Promise<string[]> =>
  watchStats(
    child,
    { timeoutMs, everyMs: 20 },
    (stats) =>
      Object.entries(stats.inFlight).flatMap(([fn, n]) => (n > 0 && isKafkaConsumer(fn) ? [fn] : [])),
    (busy) => busy.length > 0,
  );

/** Kills `pid` with SIGKILL and waits until it is gone. */
async function killHard(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  while (isProcessAlive(pid)) await sleep(50);
}

const pidIn = (dir: string, file: string) =>
  (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { pid: number }).pid;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * kill -9 a service this run started (its pid in `pidFile` of `dir`) once a third of the orders are in
 * (`whileBusy`: and an invocation runs), and start it again after `pauseMs`, on the same ports and data dir.
 */
async function killAndRestart<T extends { stop(): Promise<void> }>(
  h: Harness,
  service: { name: string; dir: string; pidFile: string; pauseMs: number; whileBusy?: boolean },
  restart: () => Promise<T>,
): Promise<{ restarted: T; after: string }> {
  await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
  const busy = service.whileBusy ? await batchInFlight(h.child()) : undefined;
  const pid = pidIn(service.dir, service.pidFile);
  await killHard(pid);
  const killedAt = Date.now();
  const during = busy ? `, while ${busy.join(', ') || 'nothing'} had a batch in flight` : '';
  h.note(
    `${service.name} (pid ${pid}) killed with SIGKILL after ${h.tracker.accepted.size} accepted orders${during}`,
  );
  await sleep(service.pauseMs);
  const restarted = await restart();
  h.stack.onStop(() => restarted.stop());
  return { restarted, after: seconds(Date.now() - killedAt) };
}

/** kill -9 the broker once a third of the orders are in, restart it on the same ports and data dir. */
export const brokerKill: Fault = async (h) => {
  const kafka = h.stack.kafka;
  if (!kafka) throw new Error('unreachable: checked before');
  const during = (async () => {
    const broker = { name: 'broker', dir: kafka.dir, pidFile: 'kafka.pid', pauseMs: 3_000 };
    const { after } = await killAndRestart(h, broker, () => startKafka({ ...kafka, log: () => undefined }));
    h.note(`broker restarted on the same ports and data dir, ${after} after the kill`);
  })();
  return { during };
};

/**
 * kill -9 the DynamoDB endpoint while invocations run, once a third of the orders are in; start the same
 * server again on the same port and data dir (its SQLite database brings the tables back).
 */
export const dynamodbKill: Fault = async (h) => {
  const dynamodb = h.stack.dynamodb;
  if (!dynamodb) throw new Error('unreachable: checked before');
  const failures: string[] = [];
  const during = (async () => {
    const endpoint = {
      name: 'DynamoDB endpoint',
      dir: dynamodb.dir,
      pidFile: 'dynoxide.pid',
      pauseMs: 2_000,
    };
    const { restarted, after } = await killAndRestart(h, { ...endpoint, whileBusy: true }, () =>
      startDynamoDb({ ...dynamodb, log: () => undefined }),
    );
    const tables = await listTables(restarted.endpoint);
    const ours = tableNames.map((t) => localTableName(t, h.session.tablePrefix));
    const gone = ours.filter((t) => !tables.has(t));
    h.note(
      `DynamoDB endpoint restarted on the same port and data dir ${after} after the kill; ${ours.length - gone.length}/${ours.length} of the run's tables back`,
    );
    if (gone.length > 0) {
      failures.push(
        `the restarted DynamoDB endpoint came back without ${gone.join(', ')}: it kept no state across the kill`,
      );
    }
  })();
  return { during, failures };
};

async function listTables(endpoint: string): Promise<Set<string>> {
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  try {
    const names = new Set<string>();
    let start: string | undefined;
    do {
      const page = await client.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
      for (const name of page.TableNames ?? []) names.add(name);
      start = page.LastEvaluatedTableName;
    } while (start);
    return names;
  } finally {
    client.destroy();
  }
}

/** kill -9 the runtime child while an invocation of a Kafka-triggered function runs, start a new one. */
export const runtimeKill: Fault = async (h) => {
  const during = (async () => {
    await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
    const busy = await batchInFlight(h.child());
    const victim = h.child();
    await victim.kill();
    h.note(
      `runtime child (pid ${victim.pid}) killed with SIGKILL while ${busy.join(', ') || 'nothing'} had a batch in flight`,
    );
    await sleep(1_000);
    const started = Date.now();
    await h.startRuntime();
    h.note(`new runtime child ready after ${seconds(Date.now() - started)}`);
  })();
  return { during };
};

/**
 * Waits (up to `timeoutMs`) until `visitor` processed records of every Kafka-triggered function: it
 * took partitions of every group. Returns the functions it processed records of.
 */
function tookPartitions(visitor: RunningChild, timeoutMs: number): Promise<string[]> {
  const wanted: string[] = kafkaConsumers.map(({ name }) => name);
  return watchStats(
    visitor,
    { timeoutMs, everyMs: 200 },
    (stats) => wanted.filter((fn) => (stats.functions[fn]?.records ?? 0) > 0),
    (working) => working.length === wanted.length,
  );
}

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
      const visitor = await h.startVisitor();
      h.note(
        `second runtime (pid ${visitor.pid}) joined the consumer groups after ${h.tracker.accepted.size} accepted orders (ready in ${seconds(Date.now() - joining)})`,
      );
      // Bounded: a short run may leave some of its groups without records to hand over.
      const working = await tookPartitions(visitor, 20_000);
      h.note(
        `second runtime processed records of ${working.length} function(s) (${working.join(', ') || 'none'}) ${seconds(Date.now() - joining)} after joining`,
      );
      await h.acceptedAtLeast(Math.ceil(h.session.orders / 2));
      const busy = await batchInFlight(visitor, 20_000);
      h.retireVisitor(visitor);
      const stats = await visitor.stats();
      const records = Object.values(stats.functions).reduce((n, f) => n + f.records, 0);
      if (leave === 'graceful') {
        const leaving = Date.now();
        await visitor.stop();
        h.note(
          `second runtime stopped (graceful: in-flight invocations finished, groups left) while ${busy.join(', ') || 'nothing'} had a batch in flight, after ${records} records; gone in ${seconds(Date.now() - leaving)}`,
        );
      } else {
        await visitor.kill();
        h.note(
          `second runtime killed with SIGKILL while ${busy.join(', ') || 'nothing'} had a batch in flight, after ${records} records; its partitions move back after the session timeout`,
        );
      }
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

/** Poison records of four kinds, spread over the consumed topics while the orders flow. */
function poisonValue(kind: number, topic: string): Buffer {
  switch (kind % 4) {
    case 0:
      return Buffer.from('{"this is": not JSON');
    case 1:
      // The topic's event type, but nothing an envelope needs.
      return Buffer.from(JSON.stringify({ eventType: topic, version: 1 }));
    case 2:
      return Buffer.from(JSON.stringify({ eventType: 'SomethingElse', eventId: 'not-a-uuid' }));
    default:
      return Buffer.alloc(0);
  }
}

/** A producer of raw records, for the records no genuine client would write. */
export type RawProducer = Producer<string, Buffer, string, string>;

/**
 * Sends `count` records (`send(producer, i)`) on a producer of its own, spread between the first and the
 * last accepted orders so that they land among genuine records.
 */
export async function spreadAmongOrders(
  h: Harness,
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

/** 1% of the orders (at least one per consumed topic) in poison records, between the accepted orders. */
export const poison: Fault = async (h) => {
  const topics = consumerTopics();
  const count = Math.max(topics.length, Math.ceil(h.session.orders / 100 / topics.length) * topics.length);
  const injected = new Set<string>();
  const during = spreadAmongOrders(h, 'bench-chaos-poison', count, async (producer, i) => {
    const topic = topics[i % topics.length] as string;
    const key = `poison-${h.session.runId}-${i}`;
    await producer.send({ messages: [{ topic, key, value: poisonValue(i, topic) }] });
    injected.add(key);
  }).then(() => h.note(`${count} poison records injected over ${topics.join(', ')}`));
  return { during, verdict: ({ deadLetters }) => poisonVerdict(injected, deadLetters) };
};
