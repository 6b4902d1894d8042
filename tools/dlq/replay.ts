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
  fetchRecord,
  newReader,
  partitionRanges,
  ReplayTimeoutError,
  readRanges,
  type Timeouts,
  within,
} from './read.ts';

export { ReplayTimeoutError, type Timeouts } from './read.ts';

export const defaultTimeouts: Timeouts = { overallMs: 300_000, idleMs: 30_000 };

/**
 * How much longer than its produce may take a claim is held: a run that has not completed its claim by
 * then is taken for dead, and a later run may take the letter over. Covers clocks a minute apart.
 */
export const LEASE_MARGIN_MS = 60_000;

export interface ReplayOptions {
  /** The cluster (functions/shared/kafka/connection.ts): plaintext locally, TLS + MSK IAM on AWS. */
  connection: KafkaConnection;
  /** Where each replay is claimed before it goes out (ledger.ts): the only record trusted to skip a letter. */
  ledger: ReplayLedger;
  filter: ReplayFilter;
  dryRun: boolean;
  /**
   * Also replay letters of records that were themselves replays and failed again (each of those still at
   * most once). Off by default, so a record that keeps failing adds one dead letter per deliberate retry,
   * not one per run.
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

export interface ReplaySummary {
  /** Records read from the dead-letter topic, of every kind. */
  scanned: number;
  /** Dead letters among them (one of Lambda's records may hold several). */
  letters: number;
  /** Replay markers among them (informational: never a reason to skip a letter). */
  markers: number;
  unreadable: number;
  /** Dead letters that match the filter. */
  matched: number;
  /** Matched, but their record went back before: its claim in the ledger is completed. */
  alreadyReplayed: number;
  replayed: number;
  /** Dry run: how many would go back. */
  wouldReplay: number;
  /** Stopped by `signal` before every matched letter was looked at. */
  interrupted: boolean;
  /** Matched letters left where they are: which kind of reason, and the reason itself. */
  skipped: Array<{ letter: string; kind: SkipKind; reason: string }>;
}

interface Candidate {
  letter: DeadLetter;
  /** The dead letter's own coordinates, `<dead-letter topic>:<partition>:<offset>`. */
  at: { topic: string; partition: number; offset: bigint };
  kafkaKey: Buffer | null;
}

type Budget = () => Timeouts;

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
  const log = options.log ?? (() => {});
  const timeouts = { ...defaultTimeouts, ...options.timeouts };
  const deadline = Date.now() + timeouts.overallMs;
  const budget: Budget = () => {
    const left = deadline - Date.now();
    if (left <= 0) throw new ReplayTimeoutError(`dlq:replay timed out after ${timeouts.overallMs} ms`);
    return { overallMs: left, idleMs: Math.min(timeouts.idleMs, left) };
  };
  const summary: ReplaySummary = {
    scanned: 0,
    letters: 0,
    markers: 0,
    unreadable: 0,
    matched: 0,
    alreadyReplayed: 0,
    replayed: 0,
    wouldReplay: 0,
    interrupted: false,
    skipped: [],
  };
  const candidates = await readCandidates(options, summary, budget, log);
  summary.matched = candidates.length;
  const producer = options.dryRun
    ? undefined
    : new Producer<Buffer, Buffer, Buffer, Buffer>(pipelineProducerSettings(options.connection));
  // Records this run looked at already (two letters of one record are one replay), for dry runs too.
  const handled = new Set<string>();
  try {
    for (const candidate of candidates) {
      if (options.signal?.aborted) {
        summary.interrupted = true;
        break;
      }
      await replayOne(candidate, {
        options,
        summary,
        budget,
        log,
        producer,
        handled,
        leaseMs: timeouts.idleMs + LEASE_MARGIN_MS,
      });
    }
  } finally {
    await producer?.close().catch(() => {});
  }
  return summary;
}

/** Every dead letter of the topic that matches the filter; counts what else the topic holds. */
async function readCandidates(
  options: ReplayOptions,
  summary: ReplaySummary,
  budget: Budget,
  log: (line: string) => void,
): Promise<Candidate[]> {
  const dlq = options.deadLetterTopic ?? deadLetterTopic;
  const candidates: Candidate[] = [];
  const consumer = newReader(options.connection);
  try {
    const ranges = await partitionRanges(consumer, dlq, budget().idleMs);
    await readRanges(
      consumer,
      dlq,
      ranges,
      (message) => {
        summary.scanned++;
        const at = { topic: dlq, partition: message.partition, offset: message.offset };
        const parsed = parseDeadLetterQueueRecord(message.value ?? null);
        if (parsed.kind === 'unreadable') {
          summary.unreadable++;
          log(`skip ${coordinatesText(at)}: unreadable (${parsed.error})`);
          return;
        }
        if (parsed.kind === 'marker') {
          summary.markers++;
          return;
        }
        for (const letter of parsed.letters) {
          summary.letters++;
          if (matches(letter, options.filter)) candidates.push({ letter, at, kafkaKey: message.key ?? null });
        }
      },
      budget(),
    );
  } finally {
    await consumer.close(true).catch(() => {});
  }
  return candidates;
}

interface Run {
  options: ReplayOptions;
  summary: ReplaySummary;
  budget: Budget;
  log: (line: string) => void;
  producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined;
  handled: Set<string>;
  leaseMs: number;
}

/** One matched letter: looked up in the ledger, then skipped, or claimed, sent back and completed. */
async function replayOne({ letter, at, kafkaKey }: Candidate, run: Run): Promise<void> {
  const { options, summary, budget, log, producer, handled } = run;
  const { original } = letter;
  const letterAt = coordinatesText(at);
  const id = replayId(original);
  const what = `${letterAt} → ${original.topic} (was ${id}, ${letter.reason} in ${letter.failedIn}: ${letter.error})`;
  const apply = (decision: Decision): boolean => {
    if (decision.action === 'replay') return true;
    if (decision.action === 'already-replayed') {
      summary.alreadyReplayed++;
      log(`skip ${what}: already replayed`);
    } else {
      summary.skipped.push({ letter: letterAt, kind: decision.kind, reason: decision.reason });
      log(`skip ${what}: ${decision.reason}`);
    }
    return false;
  };
  if (handled.has(id)) {
    apply({ action: 'already-replayed' });
    return;
  }
  handled.add(id);
  const { state, copyOf } = await within(
    options.ledger.look(id),
    budget().idleMs,
    `reading the claim of ${id}`,
  );
  const decision = decide(state, copyOf, options.includeFailedReplays ?? false, Date.now());
  if (!apply(decision)) return;
  const isTarget =
    options.isReplayTarget ?? ((topic: string) => isTopicName(topic) && topic !== deadLetterTopic);
  if (!isTarget(original.topic) || original.topic === (options.deadLetterTopic ?? deadLetterTopic)) {
    apply({ action: 'skip', kind: 'not a pipeline topic', reason: 'not a pipeline topic' });
    return;
  }
  const record = await recordOf(letter, options.connection, budget);
  if ('skip' in record) {
    apply(record.skip);
    return;
  }
  const from = record.fromSource ? ', full record from its topic' : '';
  if (!producer) {
    summary.wouldReplay++;
    log(`would replay ${what}${from}`);
    return;
  }
  const claim = await within(
    options.ledger.claim(id, letterAt, Date.now(), run.leaseMs),
    budget().idleMs,
    `claiming ${id}`,
  );
  if (!claim.won) {
    // Another run claimed it between the look and the claim: what it left decides.
    const now = decide(claim.state, copyOf, true, Date.now());
    apply(
      now.action === 'replay'
        ? {
            action: 'skip',
            kind: 'being replayed by another run',
            reason: 'claimed by another run meanwhile',
          }
        : now,
    );
    return;
  }
  if (decision.action === 'replay' && decision.takeOver) log(`taking over ${id}: ${decision.takeOver}`);
  const copy = await within(
    produceReplay(producer, { letter, at, kafkaKey }, record),
    budget().idleMs,
    `replaying ${letterAt}`,
  );
  await within(
    options.ledger.complete(id, claim.token, letterAt, copy, Date.now()),
    budget().idleMs,
    `completing the claim of ${id} (the record went back as ${copy})`,
  );
  summary.replayed++;
  log(`replayed ${what}${from}, as ${copy}`);
}

/** The bytes to send back: the letter's own, or, when it holds only part of them, the original's from its topic. */
async function recordOf(
  letter: DeadLetter,
  connection: KafkaConnection,
  budget: Budget,
): Promise<(RecordBytes & { fromSource: boolean }) | { skip: Decision & { action: 'skip' } }> {
  const { original } = letter;
  const fromSource = letter.valueTruncated || letter.headersTruncated || letter.keyTruncated;
  if (!fromSource) return { key: original.key, value: original.value, headers: original.headers, fromSource };
  const fetched = await fetchRecord(
    connection,
    { topic: original.topic, partition: original.partition, offset: BigInt(original.offset) },
    budget(),
  );
  if ('missing' in fetched) {
    const reason = `truncated in the letter, and the original is ${fetched.missing}`;
    return { skip: { action: 'skip', kind: 'truncated, original gone from its topic', reason } };
  }
  const full = {
    key: fetched.found.key ?? null,
    value: fetched.found.value ?? null,
    headers: fetched.found.headerEntries.map(([name, bytes]): [string, Buffer] => [
      name.toString('utf8'),
      bytes,
    ]),
  };
  if (!isOriginalOf(letter, full)) {
    const reason = `truncated in the letter, and the record at ${replayId(original)} is not its original (key, size or prefix differ)`;
    return { skip: { action: 'skip', kind: 'truncated, not the original at its coordinates', reason } };
  }
  return { ...full, fromSource };
}

/** Sends the record back to its topic, with its marker (dead-letter.ts, replayMessages); answers where the copy landed. */
async function produceReplay(
  producer: Producer<Buffer, Buffer, Buffer, Buffer>,
  { letter, at, kafkaKey }: Candidate,
  record: RecordBytes & { fromSource: boolean },
): Promise<string> {
  const result = await producer.send({ messages: replayMessages(letter, at, kafkaKey, record) });
  const landed = result.offsets?.find((o) => o.topic === letter.original.topic);
  if (!landed)
    throw new Error(`the broker acknowledged the replay of ${replayId(letter.original)} without its offset`);
  return coordinatesText(landed);
}
