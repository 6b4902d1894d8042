import { Producer } from '@platformatic/kafka';
import { isTopicName } from '../../events/topics.ts';
import type { KafkaConnection } from '../../functions/shared/kafka/connection.ts';
import { pipelineProducerSettings } from '../../functions/shared/kafka/producer.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import {
  coordinatesText,
  type DeadLetter,
  isOriginalOf,
  matches,
  parseDeadLetterQueueRecord,
  type RecordBytes,
  type ReplayFilter,
  replayId,
  replayMessages,
} from './dead-letter.ts';
import { type Decision, decide, type ReplayLedger, type SkipKind } from './ledger.ts';
import {
  newReader,
  partitionRanges,
  type RawMessage,
  ReplayTimeoutError,
  readRanges,
  type Timeouts,
  within,
} from './read.ts';

export const defaultTimeouts: Timeouts = { overallMs: 300_000, idleMs: 30_000 };

/**
 * How much longer than its produce may take a claim is held: a run that has not completed its claim by
 * then is taken for dead, and a later run may take the letter over. Covers clocks a minute apart.
 */
const LEASE_MARGIN_MS = 60_000;

export interface ReplayOptions {
  /** The cluster (functions/shared/kafka/connection.ts): plaintext locally, TLS + MSK IAM on AWS. */
  connection: KafkaConnection;
  /** Where each replay is claimed before it goes out (ledger.ts): the only record trusted to skip a letter. */
  ledger: ReplayLedger;
  filter: ReplayFilter;
  dryRun: boolean;
  /**
   * Also replay letters of records that were themselves replays and failed again (each still at most
   * once). Off by default, so a record that keeps failing adds one dead letter per deliberate retry.
   */
  includeFailedReplays?: boolean;
  timeouts?: Partial<Timeouts>;
  /** The topic of the dead letters and their markers: the manifest's `onFailure` (tests use one of their own). */
  deadLetterTopic?: string;
  /** Which topics a letter may go back to: by default the pipeline's, never the dead-letter topic. */
  isReplayTarget?: (topic: string) => boolean;
  log?: (line: string) => void;
  /** Stops between two letters (Ctrl-C), never between a claim, its replay and its completion. */
  signal?: AbortSignal;
}

/**
 * Records read (`scanned`): dead letters (one of Lambda's records may hold several), replay markers
 * (informational: never a reason to skip a letter), unreadable. Of the letters that match the filter:
 * already replayed (their claim is completed), replayed, or would be (dry run), or skipped and why.
 * `interrupted`: stopped by the signal before every matched letter was looked at.
 */
const emptySummary = () => ({
  scanned: 0,
  letters: 0,
  markers: 0,
  unreadable: 0,
  matched: 0,
  alreadyReplayed: 0,
  replayed: 0,
  wouldReplay: 0,
  interrupted: false,
  skipped: [] as Array<{ letter: string; kind: SkipKind; reason: string }>,
});
export type ReplaySummary = ReturnType<typeof emptySummary>;

interface Candidate {
  letter: DeadLetter;
  /** The dead letter's own coordinates. */
  at: { topic: string; partition: number; offset: bigint };
  kafkaKey: Buffer | null;
}

/** A run's state: its options, its summary so far, its time left, and the records it has handled. */
function newRun(options: ReplayOptions) {
  const timeouts = { ...defaultTimeouts, ...options.timeouts };
  const deadline = Date.now() + timeouts.overallMs;
  /** What is left of the run's time; a `ReplayTimeoutError` when none is. */
  const budget = (): Timeouts => {
    const left = deadline - Date.now();
    if (left <= 0) throw new ReplayTimeoutError(`dlq:replay timed out after ${timeouts.overallMs} ms`);
    return { overallMs: left, idleMs: Math.min(timeouts.idleMs, left) };
  };
  return {
    options,
    summary: emptySummary(),
    budget,
    /** `promise`, bounded by the idle timeout (and what is left of the run's). */
    bounded: <T>(promise: Promise<T>, what: string) => within(promise, budget().idleMs, what),
    log: options.log ?? (() => {}),
    producer: undefined as Producer<Buffer, Buffer, Buffer, Buffer> | undefined,
    /** Records this run looked at already (two letters of one record are one replay), for dry runs too. */
    handled: new Set<string>(),
    leaseMs: timeouts.idleMs + LEASE_MARGIN_MS,
  };
}
type Run = ReturnType<typeof newRun>;

/**
 * Reads the dead-letter topic from each partition's earliest retained offset to its current end, and sends
 * every dead letter that matches `filter` back to its source topic with its original key, value and
 * headers, through the consumers' idempotency again: a record that was in fact processed has no second
 * effect. Each original record goes back at most once per claim: the run claims it in the ledger (a
 * conditional write, so of concurrent runs exactly one wins) before producing it, and completes the
 * claim after. A letter that holds only a prefix of its value is replayed from the original on its source
 * topic, or skipped when retention has trimmed it. Nothing is committed; every wait is bounded by `timeouts`.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const run = newRun(options);
  const candidates = await readCandidates(run);
  run.summary.matched = candidates.length;
  if (!options.dryRun)
    run.producer = new Producer<Buffer, Buffer, Buffer, Buffer>(pipelineProducerSettings(options.connection));
  try {
    for (const candidate of candidates) {
      run.summary.interrupted = options.signal?.aborted === true;
      if (run.summary.interrupted) break;
      await replayOne(candidate, run);
    }
  } finally {
    await run.producer?.close().catch(() => {});
  }
  return run.summary;
}

/** Every dead letter of the topic that matches the filter; counts what else the topic holds. */
async function readCandidates({ options, summary, budget, log }: Run): Promise<Candidate[]> {
  const dlq = options.deadLetterTopic ?? deadLetterTopic;
  const candidates: Candidate[] = [];
  const consumer = newReader(options.connection);
  try {
    const ranges = await partitionRanges(consumer, dlq, budget().idleMs);
    const onMessage = (message: RawMessage) => {
      summary.scanned++;
      const at = { topic: dlq, partition: message.partition, offset: message.offset };
      const parsed = parseDeadLetterQueueRecord(message.value ?? null);
      if (parsed.kind === 'unreadable') {
        summary.unreadable++;
        log(`skip ${coordinatesText(at)}: unreadable (${parsed.error})`);
      } else if (parsed.kind === 'marker') {
        summary.markers++;
      } else {
        summary.letters += parsed.letters.length;
        for (const letter of parsed.letters.filter((l) => matches(l, options.filter)))
          candidates.push({ letter, at, kafkaKey: message.key ?? null });
      }
    };
    await readRanges(consumer, dlq, ranges, onMessage, budget());
  } finally {
    await consumer.close(true).catch(() => {});
  }
  return candidates;
}

/** Whether the letter's record is a topic it may go back to. */
function isTarget({ isReplayTarget, deadLetterTopic: dlq = deadLetterTopic }: ReplayOptions, topic: string) {
  return (isReplayTarget ?? isTopicName)(topic) && topic !== dlq && topic !== deadLetterTopic;
}

/** One matched letter: looked up in the ledger, then skipped, or claimed, sent back and completed. */
async function replayOne(candidate: Candidate, run: Run): Promise<void> {
  const { options, summary, budget, bounded, log, producer } = run;
  const { letter, at } = candidate;
  const letterAt = coordinatesText(at);
  const id = replayId(letter.original);
  const what = `${letterAt} → ${letter.original.topic} (was ${id}, ${letter.reason} in ${letter.failedIn}: ${letter.error})`;
  const replays = (decision: Decision): boolean => {
    if (decision.action === 'replay') return true;
    if (decision.action === 'already-replayed') summary.alreadyReplayed++;
    else summary.skipped.push({ letter: letterAt, kind: decision.kind, reason: decision.reason });
    log(`skip ${what}: ${decision.action === 'skip' ? decision.reason : 'already replayed'}`);
    return false;
  };
  if (run.handled.has(id)) return void replays({ action: 'already-replayed' });
  run.handled.add(id);
  const { state, copyOf } = await bounded(options.ledger.look(id), `reading the claim of ${id}`);
  const decision = decide(state, copyOf, options.includeFailedReplays ?? false, Date.now());
  if (!replays(decision)) return;
  const notPipeline = 'not a pipeline topic';
  if (!isTarget(options, letter.original.topic))
    return void replays({ action: 'skip', kind: notPipeline, reason: notPipeline });
  const record = await recordOf(letter, options.connection, budget);
  if ('skip' in record) return void replays(record.skip);
  const from = record.fromSource ? ', full record from its topic' : '';
  if (!producer) {
    summary.wouldReplay++;
    return log(`would replay ${what}${from}`);
  }
  const claim = await bounded(options.ledger.claim(id, letterAt, Date.now(), run.leaseMs), `claiming ${id}`);
  if (!claim.won) {
    // Another run claimed it between the look and the claim: what it left decides.
    const now = decide(claim.state, copyOf, true, Date.now());
    const kind = 'being replayed by another run';
    return void replays(
      now.action === 'replay' ? { action: 'skip', kind, reason: 'claimed by another run meanwhile' } : now,
    );
  }
  if (decision.action === 'replay' && decision.takeOver) log(`taking over ${id}: ${decision.takeOver}`);
  // The record and its marker (dead-letter.ts, replayMessages) in one send; the copy is where the record landed.
  const messages = replayMessages(letter, at, candidate.kafkaKey, record);
  const sent = await bounded(producer.send({ messages }), `replaying ${letterAt}`);
  const landed = sent.offsets?.find((o) => o.topic === letter.original.topic);
  if (!landed) throw new Error(`the broker acknowledged the replay of ${id} without its offset`);
  const copy = coordinatesText(landed);
  await bounded(
    options.ledger.complete(id, claim.token, letterAt, copy, Date.now()),
    `completing the claim of ${id} (the record went back as ${copy})`,
  );
  summary.replayed++;
  log(`replayed ${what}${from}, as ${copy}`);
}

/**
 * The bytes to send back: the letter's own, or, when it holds only part of them, the original's read back
 * from its topic (skipped when retention trimmed it, or when the record at its coordinates is another one).
 */
async function recordOf(
  letter: DeadLetter,
  connection: KafkaConnection,
  budget: Run['budget'],
): Promise<(RecordBytes & { fromSource: boolean }) | { skip: Decision & { action: 'skip' } }> {
  const { original } = letter;
  const fromSource = letter.valueTruncated || letter.headersTruncated || letter.keyTruncated;
  if (!fromSource) return { ...original, fromSource };
  const { topic, partition } = original;
  const offset = BigInt(original.offset);
  const skip = (kind: SkipKind, why: string) => ({
    skip: { action: 'skip' as const, kind, reason: `truncated in the letter, and ${why}` },
  });
  const gone = (why: string) => skip('truncated, original gone from its topic', `the original is ${why}`);
  const consumer = newReader(connection);
  let found: RawMessage | undefined;
  try {
    const ranges = await partitionRanges(consumer, topic, budget().idleMs);
    const range = ranges[partition];
    if (!range) return gone(`not on ${topic}: it has no partition ${partition}`);
    if (offset < range.start)
      return gone(
        `gone from ${topic}: partition ${partition} now starts at offset ${range.start} (trimmed by retention)`,
      );
    if (offset >= range.end)
      return gone(`not on ${topic}: partition ${partition} ends at offset ${range.end}`);
    const only = ranges.map((r, p) =>
      p === partition ? { start: offset, end: offset + 1n } : { start: r.end, end: r.end },
    );
    await readRanges(consumer, topic, only, (message) => (found = message), budget());
  } finally {
    await consumer.close(true).catch(() => {});
  }
  if (!found) return gone(`not on ${topic}: no record at ${replayId(original)}`);
  const full = {
    key: found.key ?? null,
    value: found.value ?? null,
    headers: found.headerEntries.map(([name, bytes]): [string, Buffer] => [name.toString('utf8'), bytes]),
  };
  if (!isOriginalOf(letter, full))
    return skip(
      'truncated, not the original at its coordinates',
      `the record at ${replayId(original)} is not its original (key, size or prefix differ)`,
    );
  return { ...full, fromSource };
}
