import { Producer } from '@platformatic/kafka';
import { deterministicEventId } from '../../events/codec.ts';
import { DeadLetterReplayed } from '../../events/schemas/dead-letter-replayed.ts';
import { isTopicName } from '../../events/topics.ts';
import type { KafkaConnection } from '../../functions/shared/kafka/connection.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import {
  coordinatesText,
  type DeadLetter,
  isOriginalOf,
  matches,
  parseDeadLetterQueueRecord,
  REPLAYED_FROM_HEADER,
  REPLAYED_RECORD_HEADER,
  type ReplayFilter,
  replayId,
} from './dead-letter.ts';
import {
  fetchRecord,
  newReader,
  partitionRanges,
  ReplayTimeoutError,
  readRanges,
  type Timeouts,
  within,
} from './read.ts';

export { REPLAYED_FROM_HEADER, REPLAYED_RECORD_HEADER } from './dead-letter.ts';
export { ReplayTimeoutError, type Timeouts } from './read.ts';

export const defaultTimeouts: Timeouts = { overallMs: 300_000, idleMs: 30_000 };

export interface ReplayOptions {
  /** The cluster (functions/shared/kafka/connection.ts): plaintext locally, TLS + MSK IAM on AWS. */
  connection: KafkaConnection;
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
  /** Stops between two letters (Ctrl-C), never between a replay and its marker. */
  signal?: AbortSignal;
}

export interface ReplaySummary {
  /** Records read from the dead-letter topic, of every kind. */
  scanned: number;
  /** Dead letters among them (one of Lambda's records may hold several). */
  letters: number;
  /** Replay markers among them. */
  markers: number;
  unreadable: number;
  /** Dead letters that match the filter. */
  matched: number;
  /** Matched, but their record went back before (a marker names it, or its replay failed again). */
  alreadyReplayed: number;
  replayed: number;
  /** Dry run: how many would go back. */
  wouldReplay: number;
  /** Stopped by `signal` before every matched letter was looked at. */
  interrupted: boolean;
  /** Matched letters left where they are: which kind of reason, and the reason itself. */
  skipped: Array<{ letter: string; kind: SkipKind; reason: string }>;
}

export type SkipKind =
  | 'failed again after a replay'
  | 'not a pipeline topic'
  | 'truncated, original gone from its topic'
  | 'truncated, not the original at its coordinates';

interface Candidate {
  letter: DeadLetter;
  /** The dead letter's own coordinates, `<dead-letter topic>:<partition>:<offset>`. */
  at: { topic: string; partition: number; offset: bigint };
  kafkaKey: Buffer | null;
}

const CorrelationId = /^[\x21-\x7e]{1,128}$/;

/**
 * Reads the dead-letter topic from each partition's earliest retained offset to its current end, and sends
 * every dead letter that matches `filter` back to its source topic with its original key, value and
 * headers, through the consumers' idempotency again: a record that was in fact processed has no second
 * effect. Each original record goes back at most once: the replay and a `DeadLetterReplayed` marker naming
 * it go out in one produce, and later runs skip what a marker (or a failed replay's own dead letter) names.
 * A letter that holds only a prefix of its value is replayed from the original on its source topic, or
 * skipped when retention has trimmed it. Nothing is committed; every wait is bounded by `timeouts`.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const log = options.log ?? (() => {});
  const timeouts = { ...defaultTimeouts, ...options.timeouts };
  const deadline = Date.now() + timeouts.overallMs;
  const budget = (): Timeouts => {
    const left = deadline - Date.now();
    if (left <= 0) throw new ReplayTimeoutError(`dlq:replay timed out after ${timeouts.overallMs} ms`);
    return { overallMs: left, idleMs: Math.min(timeouts.idleMs, left) };
  };
  const dlq = options.deadLetterTopic ?? deadLetterTopic;
  const isTarget =
    options.isReplayTarget ?? ((topic: string) => isTopicName(topic) && topic !== deadLetterTopic);
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

  // Records that went back already, by their coordinates; and letters named by a replay of the tool's
  // first version, which wrote no marker and no replayed-record header.
  const replayed = new Set<string>();
  const replayedLetters = new Set<string>();
  const lettersAt = new Map<string, DeadLetter[]>();
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
          replayed.add(replayId(parsed.marker.data.original));
          return;
        }
        lettersAt.set(coordinatesText(at), parsed.letters);
        for (const letter of parsed.letters) {
          summary.letters++;
          if (letter.replayOf?.original !== undefined) replayed.add(letter.replayOf.original);
          else if (letter.replayOf) replayedLetters.add(letter.replayOf.letter);
          if (matches(letter, options.filter)) candidates.push({ letter, at, kafkaKey: message.key ?? null });
        }
      },
      budget(),
    );
  } finally {
    await consumer.close(true).catch(() => {});
  }
  for (const letterAt of replayedLetters) {
    for (const letter of lettersAt.get(letterAt) ?? []) replayed.add(replayId(letter.original));
  }

  summary.matched = candidates.length;
  const producer = options.dryRun
    ? undefined
    : new Producer<Buffer, Buffer, Buffer, Buffer>({
        ...options.connection,
        idempotent: true,
        autocreateTopics: false,
      });
  try {
    for (const { letter, at, kafkaKey } of candidates) {
      if (options.signal?.aborted) {
        summary.interrupted = true;
        break;
      }
      const { original } = letter;
      const letterAt = coordinatesText(at);
      const id = replayId(original);
      const what = `${letterAt} → ${original.topic} (was ${id}, ${letter.reason} in ${letter.failedIn}: ${letter.error})`;
      const skip = (kind: SkipKind, reason: string = kind) => {
        summary.skipped.push({ letter: letterAt, kind, reason });
        log(`skip ${what}: ${reason}`);
      };
      if (replayed.has(id)) {
        summary.alreadyReplayed++;
        log(`skip ${what}: already replayed`);
        continue;
      }
      if (letter.replayOf && !options.includeFailedReplays) {
        skip(
          'failed again after a replay',
          `failed again after its replay from ${letter.replayOf.letter} (--include-failed-replays sends it again)`,
        );
        continue;
      }
      if (!isTarget(original.topic) || original.topic === dlq) {
        skip('not a pipeline topic');
        continue;
      }
      let record = { key: original.key, value: original.value, headers: original.headers };
      const fromSource = letter.valueTruncated || letter.headersTruncated || letter.keyTruncated;
      if (fromSource) {
        const fetched = await fetchRecord(
          options.connection,
          { topic: original.topic, partition: original.partition, offset: BigInt(original.offset) },
          budget(),
        );
        if ('missing' in fetched) {
          skip(
            'truncated, original gone from its topic',
            `truncated in the letter, and the original is ${fetched.missing}`,
          );
          continue;
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
          skip(
            'truncated, not the original at its coordinates',
            `truncated in the letter, and the record at ${id} is not its original (key, size or prefix differ)`,
          );
          continue;
        }
        record = full;
      }
      replayed.add(id);
      if (!producer) {
        summary.wouldReplay++;
        log(`would replay ${what}${fromSource ? ', full record from its topic' : ''}`);
        continue;
      }
      const key = kafkaKey?.toString('utf8');
      const marker = DeadLetterReplayed.parse({
        eventId: deterministicEventId(id, 'DeadLetterReplayed'),
        eventType: 'DeadLetterReplayed',
        version: 1,
        occurredAt: new Date().toISOString(),
        correlationId: key !== undefined && CorrelationId.test(key) ? key : 'unknown',
        causationId: letterAt.slice(0, 128),
        source: 'dlq-replay',
        data: {
          letter: { topic: at.topic, partition: at.partition, offset: String(at.offset) },
          original: { topic: original.topic, partition: original.partition, offset: original.offset },
          valueFrom: fromSource ? 'source-topic' : 'dead-letter',
        },
      });
      const replayHeaders = new Map<Buffer, Buffer>([
        ...record.headers
          .filter(([name]) => name !== REPLAYED_FROM_HEADER && name !== REPLAYED_RECORD_HEADER)
          .map(([name, bytes]): [Buffer, Buffer] => [Buffer.from(name), bytes]),
        [Buffer.from(REPLAYED_FROM_HEADER), Buffer.from(letterAt)],
        [Buffer.from(REPLAYED_RECORD_HEADER), Buffer.from(id)],
      ]);
      // One produce, the marker first: on one broker a single request; the idempotent producer retries it
      // whole. Only a send that fails for good (the tool then stops, naming the letter) leaves it unknown
      // which of the two landed.
      await within(
        producer.send({
          messages: [
            {
              topic: dlq,
              key: kafkaKey ?? undefined,
              value: Buffer.from(JSON.stringify(marker)),
              headers: new Map([
                [Buffer.from('event-type'), Buffer.from(marker.eventType)],
                [Buffer.from('event-id'), Buffer.from(marker.eventId)],
              ]),
            },
            {
              topic: original.topic,
              key: record.key ?? undefined,
              value: record.value ?? undefined,
              headers: replayHeaders,
            },
          ],
        }),
        budget().idleMs,
        `replaying ${letterAt}`,
      );
      summary.replayed++;
      log(`replayed ${what}${fromSource ? ', full record from its topic' : ''}`);
    }
  } finally {
    await producer?.close().catch(() => {});
  }
  return summary;
}
