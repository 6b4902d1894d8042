/**
 * `npm run chaos -- --scenario crash-poison`: records that crash their consumer, among the orders. The
 * runtime runs with the handler wrapper local/faults/crash-poison.ts bundled around every handler (this
 * scenario only): a record carrying the header `chaos-crash` ends the environment of the invocation that
 * holds it, by `process.exit` or by running out of memory, before the real handler sees the batch. The
 * mapping bisects such a batch until the record is alone, retries it, and writes it to DeadLetterQueue as
 * Lambda's on-failure record; its neighbours are processed exactly once.
 *
 * Not `timeout`: the manifest gives every consumer 30 s, and a record that times out would hold its
 * partition for its 9 invocations (1 + 8 retries) of 30 s each plus the backoffs, about 5 minutes, far
 * beyond a run of a minute (test/integration covers timeouts with short ones).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CRASH_HEADER, type CrashKind } from '../../local/faults/crash-poison.ts';
import { parseDeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';
import { manifest } from '../../topology/manifest.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import { type Fault, type FaultVerdict, type RunEvidence, spreadAmongOrders } from './chaos-faults.ts';
import type { RunningChild } from './child-process.ts';
import type { ChildStats } from './protocol.ts';
import { orderPathTopics } from './topics.ts';

/** The handler wrapper the runtime bundles for this scenario (relative to the project root). */
export const CRASH_WRAPPER = 'local/faults/crash-poison.ts';
/** Crash records per order sent (at least one per partition). */
export const CRASH_SHARE = 0.01;
/** The kinds injected by default (`--crash-kinds` picks others). */
export const DEFAULT_CRASH_KINDS: readonly CrashKind[] = ['exit', 'oom'];
/** How long the fault waits for the runtime to report every crash record sent to on-failure. */
const DEAD_LETTERED_WITHIN_MS = 10 * 60_000;

type PathTopic = (typeof orderPathTopics)[number];

export interface CrashRecord {
  key: string;
  topic: PathTopic;
  partition: number;
  kind: CrashKind;
}

export interface CrashPoisonFigures {
  injected: number;
  byKind: Record<string, number>;
  byTopic: Record<string, number>;
  /** Crash records on DeadLetterQueue exactly once, each as an on-failure record holding it alone. */
  deadLetteredAlone: number;
  /** Crash records missing from DeadLetterQueue, there more than once, or not alone (key: why). */
  problems: Record<string, string>;
  /** Records of the run's genuine orders on DeadLetterQueue (none expected). */
  genuineOnDeadLetterQueue: number;
  /** From the runtimes' pools and mappings, per function (those above 0). */
  environmentsLost: Record<string, number>;
  failedInvocations: Record<string, number>;
  bisects: Record<string, number>;
}

/**
 * The crash records of a run: CRASH_SHARE of the orders, at least one per partition, over the order
 * path's topics in turn (every consumer of an order crashes), each on an explicit partition in turn (every
 * partition gets some), exit and out of memory alternating per round of topics.
 */
export function planCrashes(
  runId: string,
  orders: number,
  kinds: readonly CrashKind[] = DEFAULT_CRASH_KINDS,
): CrashRecord[] {
  const partitions = Math.max(...orderPathTopics.map((topic) => manifest.topics[topic].partitions));
  const count = Math.max(partitions, Math.ceil(orders * CRASH_SHARE));
  return Array.from({ length: count }, (_, i) => {
    const topic = orderPathTopics[i % orderPathTopics.length] as PathTopic;
    return {
      key: `crash-${runId}-${i}`,
      topic,
      partition: i % manifest.topics[topic].partitions,
      kind: kinds[Math.floor(i / orderPathTopics.length) % kinds.length] as CrashKind,
    };
  });
}

const countBy = <T>(items: readonly T[], of: (item: T) => string) => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[of(item)] = (counts[of(item)] ?? 0) + 1;
  return counts;
};

/** Per function, the sum over every runtime of `of`, only where above 0. */
function perFunction(stats: readonly ChildStats[], of: (s: ChildStats) => Record<string, number>) {
  const sums: Record<string, number> = {};
  for (const s of stats) for (const [fn, n] of Object.entries(of(s))) sums[fn] = (sums[fn] ?? 0) + n;
  return Object.fromEntries(Object.entries(sums).filter(([, n]) => n > 0));
}

const pick = <V>(entries: Record<string, V> | undefined, field: (v: V) => number | undefined) =>
  Object.fromEntries(Object.entries(entries ?? {}).map(([fn, v]) => [fn, field(v) ?? 0]));

/**
 * Every crash record must be on DeadLetterQueue exactly once, as an on-failure record of the mapping
 * holding that one record (from its topic and partition), and no record of a genuine order may be there.
 * The runtime process itself must not abort. Functions fed no crash record that lost environments are
 * reported (a timeout on a loaded machine ends one too), not failed.
 */
export function crashVerdict(
  crashes: readonly CrashRecord[],
  evidence: RunEvidence,
  runId: string,
): FaultVerdict {
  const holders = new Map<string, { letters: number; writer: string; at: string }[]>();
  const genuine: string[] = [];
  for (const record of evidence.deadLetterRecords) {
    const parsed = parseDeadLetterQueueRecord(record.value ?? null);
    if (parsed.kind !== 'letters') continue;
    for (const letter of parsed.letters) {
      const key = letter.original.key?.toString('utf8') ?? '';
      if (key.startsWith(`bench-${runId}-`))
        genuine.push(`${key} (${letter.original.topic}, ${letter.reason})`);
      const at = `${letter.original.topic}:${letter.original.partition}`;
      holders.set(key, [
        ...(holders.get(key) ?? []),
        { letters: parsed.letters.length, writer: letter.writer, at },
      ]);
    }
  }
  const problems: Record<string, string> = {};
  for (const crash of crashes) {
    const found = holders.get(crash.key) ?? [];
    const [first] = found;
    const where = `${crash.kind} on ${crash.topic}:${crash.partition}`;
    if (!first) problems[crash.key] = `${where}: not on ${deadLetterTopic}`;
    else if (found.length > 1) problems[crash.key] = `${where}: on ${deadLetterTopic} ${found.length} times`;
    else if (first.writer !== 'event-source-mapping')
      problems[crash.key] = `${where}: not an on-failure record`;
    else if (first.letters > 1) problems[crash.key] = `${where}: with ${first.letters - 1} other record(s)`;
    else if (first.at !== `${crash.topic}:${crash.partition}`)
      problems[crash.key] = `${where}: from ${first.at}`;
  }
  const environmentsLost = perFunction(evidence.stats, (s) =>
    pick(s.environments, (e) => e.environmentsLost),
  );
  const crashed = new Set(
    crashes.map(
      (c) =>
        Object.entries(manifest.functions).find(
          ([, f]) => 'topic' in f.trigger && f.trigger.topic === c.topic,
        )?.[0],
    ),
  );
  const bystanders = Object.keys(environmentsLost).filter((fn) => !crashed.has(fn));
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
  const bad = Object.entries(problems);
  if (bad.length > 0)
    failures.push(
      `${bad.length} of ${crashes.length} crash record(s) not dead-lettered alone once, e.g. ${bad[0]?.join(': ')}`,
    );
  if (genuine.length > 0)
    failures.push(`${genuine.length} genuine order record(s) on ${deadLetterTopic}, e.g. ${genuine[0]}`);
  const figures: CrashPoisonFigures = {
    injected: crashes.length,
    byKind: countBy(crashes, (c) => c.kind),
    byTopic: countBy(crashes, (c) => c.topic),
    deadLetteredAlone: crashes.length - bad.length,
    problems,
    genuineOnDeadLetterQueue: genuine.length,
    environmentsLost,
    failedInvocations: perFunction(evidence.stats, (s) => pick(s.emulators, (e) => e.failedInvocations)),
    bisects: perFunction(evidence.stats, (s) => pick(s.emulators, (e) => e.bisects)),
  };
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  return {
    failures,
    poison: { injected: crashes.length, inDeadLetterQueue: figures.deadLetteredAlone },
    crashPoison: figures,
    notes: [
      ...(bystanders.length > 0
        ? [
            `functions fed no crash record lost environments too (a timeout on a loaded machine counts): ${bystanders.map((fn) => `${fn} ${environmentsLost[fn]}`).join(', ')}`,
          ]
        : []),
      `${figures.deadLetteredAlone}/${crashes.length} crash records dead-lettered alone, once; ${genuine.length} genuine order record(s) on ${deadLetterTopic}`,
      evidence.stats.length === 0
        ? 'the runtime reported no counters (environments lost, bisects): it never stopped gracefully'
        : `environments lost: ${list(environmentsLost)}; failed invocations: ${list(figures.failedInvocations)}; bisects: ${list(figures.bisects)}`,
    ],
  };
}

/**
 * Waits until `child` reports `count` records sent to on-failure (a crash record takes 9 invocations and
 * about 45 s of backoff, longer than the drain's patience without progress), it exits, or a deadline.
 * Its counters are kept (`lastStats`) even if it dies later.
 */
async function deadLettered(child: RunningChild, count: number, note: (line: string) => void) {
  const started = Date.now();
  let exit: number | null | undefined;
  void child.exited.then((code) => {
    exit = code;
  });
  const sentToOnFailure = (s: ChildStats) =>
    Object.values(s.emulators).reduce((n, e) => n + e.recordsSentToOnFailure, 0);
  while (exit === undefined && Date.now() - started < DEAD_LETTERED_WITHIN_MS) {
    const stats = await Promise.race([
      child.stats().catch(() => undefined),
      child.exited.then(() => undefined),
    ]);
    if (stats && sentToOnFailure(stats) >= count) break;
    await sleep(2_000);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  note(
    exit !== undefined
      ? `the runtime process (pid ${child.pid}) died with code ${exit} while crash records were being dead-lettered`
      : `the runtime reported ${count}+ records sent to on-failure ${seconds} s after the last crash record`,
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
    const byKind = Object.entries(countBy(sent, (c) => c.kind)).map(([k, n]) => `${k} ${n}`);
    const partitions = new Set(sent.map((c) => c.partition)).size;
    h.note(
      `${sent.length} crash records (${byKind.join(', ')}) injected over ${orderPathTopics.join(', ')}, on ${partitions} partitions`,
    );
    await deadLettered(h.runtimes.current(), sent.length, h.note);
  })();
  return { during, verdict: (evidence) => crashVerdict(sent, evidence, h.session.runId) };
};
