/**
 * The faults `npm run chaos` injects while orders flow. Each one waits for its moment (a share of the
 * orders accepted, an invocation in flight), breaks something for real (a process killed, a process
 * added to the consumer groups, records that can never succeed) and reports what it did.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, paginateListTables } from '@aws-sdk/client-dynamodb';
import { Producer, stringSerializer } from '@platformatic/kafka';
import { startDynamoDb } from '../../local/infra/dynamodb.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { startKafka } from '../../local/infra/kafka.ts';
import { isProcessAlive } from '../../local/infra/process.ts';
import { localTableName, tableNames } from '../../topology/manifest.ts';
import { deadLetterTopic, isKafkaConsumer, kafkaConsumers } from '../../topology/topics.ts';
import type { CrashPoisonFigures } from './chaos-crash.ts';
import type { ChaosRun } from './chaos-run.ts';
import type { RunningChild } from './child-process.ts';
import type { ChildStats } from './protocol.ts';
import type { BenchStack } from './stack.ts';
import { consumerTopics } from './topics.ts';
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

export type Fault = (run: ChaosRun) => Promise<FaultRun>;

/** Reads `child`'s counters every `everyMs` until `done` holds of `read`'s value, or `timeoutMs` passed. */
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

/** Waits (up to `timeoutMs`) until `child` runs an invocation of a Kafka-triggered function: their names. */
export const batchInFlight = (child: RunningChild, timeoutMs = 60_000): Promise<string[]> =>
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
 * kill -9 a service this run started (its pid in `pidFile` of `dir`) once a third of the orders are in
 * (`whileBusy`: and an invocation runs), and start it again after `pauseMs`, on the same ports and data dir.
 */
async function killAndRestart<T extends { stop(): Promise<void> }>(
  h: ChaosRun,
  service: { name: string; dir: string; pidFile: string; pauseMs: number; whileBusy?: boolean },
  restart: () => Promise<T>,
): Promise<{ restarted: T; after: string }> {
  await h.acceptedAtLeast(Math.ceil(h.session.orders / 3));
  const busy = service.whileBusy ? await batchInFlight(h.runtimes.current()) : undefined;
  const { pid } = JSON.parse(readFileSync(join(service.dir, service.pidFile), 'utf8')) as { pid: number };
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
  const restarted = await restart();
  h.stack.onStop(() => restarted.stop());
  return { restarted, after: seconds(Date.now() - killedAt) };
}

/** kill -9 the broker once a third of the orders are in, restart it on the same ports and data dir. */
export const brokerKill: Fault = async (h) => {
  const kafka = h.stack.kafka as NonNullable<BenchStack['kafka']>; // cannotRun checked it
  const broker = { name: 'broker', dir: kafka.dir, pidFile: 'kafka.pid', pauseMs: 3_000 };
  const during = killAndRestart(h, broker, () => startKafka({ ...kafka, log: () => undefined })).then(
    ({ after }) => h.note(`broker restarted on the same ports and data dir, ${after} after the kill`),
  );
  return { during };
};

/**
 * kill -9 the DynamoDB endpoint while invocations run, once a third of the orders are in; start the same
 * server again on the same port and data dir (its SQLite database brings the tables back).
 */
export const dynamodbKill: Fault = async (h) => {
  const dynamodb = h.stack.dynamodb as NonNullable<BenchStack['dynamodb']>; // cannotRun checked it
  const endpoint = { name: 'DynamoDB endpoint', dir: dynamodb.dir, pidFile: 'dynoxide.pid', pauseMs: 2_000 };
  const failures: string[] = [];
  const during = (async () => {
    const { restarted, after } = await killAndRestart(h, { ...endpoint, whileBusy: true }, () =>
      startDynamoDb({ ...dynamodb, log: () => undefined }),
    );
    const client = new DynamoDBClient(localDynamoDbConfig(restarted.endpoint));
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
      const records = `after ${Object.values(stats.functions).reduce((n, f) => n + f.records, 0)} records`;
      const leaving = Date.now();
      if (leave === 'graceful') {
        await visitor.stop();
        h.note(
          `second runtime stopped (graceful: in-flight invocations finished, groups left) ${inFlight(busy)}, ${records}; gone in ${seconds(Date.now() - leaving)}`,
        );
      } else {
        await visitor.kill();
        h.note(
          `second runtime killed with SIGKILL ${inFlight(busy)}, ${records}; its partitions move back after the session timeout`,
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

/** A producer of raw records, for the records no genuine client would write. */
export type RawProducer = Producer<string, Buffer, string, string>;

/**
 * Sends `count` records (`send(producer, i)`) on a producer of its own, spread between the first and the
 * last accepted orders so that they land among genuine records.
 */
export async function spreadAmongOrders(
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
