import type { MessageToProduce } from '@platformatic/kafka';
import type { MSKRecord } from 'aws-lambda';
import { decode, deterministicEventId } from '../../events/codec.ts';
import { DeadLetterReplayed } from '../../events/schemas/dead-letter-replayed.ts';
import { type DeadLettered, LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { rawRecordOf } from '../../functions/shared/msk-records.ts';
import { type FunctionName, manifest } from '../../topology/index.ts';
import { consumersOfTopic, deadLetterTopic } from '../../topology/topics.ts';

/** Header of a replayed record: the dead letter it came back from (`DeadLetterQueue:<partition>:<offset>`). */
export const REPLAYED_FROM_HEADER = 'replayed-from';
/** Header of a replayed record: the coordinates of the original it is a copy of (`<topic>:<partition>:<offset>`). */
export const REPLAYED_RECORD_HEADER = 'replayed-record';

/** A record as bytes: what a letter holds of its original, or the original read back from its topic. */
export type RecordBytes = { key: Buffer | null; value: Buffer | null; headers: Array<[string, Buffer]> };

/** What a letter says of its record, as a function writes it; Lambda's own records carry the same fields. */
type LetterRecord = DeadLettered['data']['record'];

/** A dead letter, whichever of the two writers put it on the topic. */
export interface DeadLetter
  extends Required<Pick<LetterRecord, 'valueTruncated' | 'headersTruncated' | 'keyTruncated'>>,
    Pick<LetterRecord, 'valueBytes' | 'keyBytes'> {
  /** `function`: a handler's DeadLettered event (poison record); `event-source-mapping`: Lambda's own record. */
  writer: 'function' | 'event-source-mapping';
  reason: 'poison' | 'retries-exhausted';
  /** The step name, or the function ARN for Lambda's records. */
  failedIn: string;
  error: string;
  /** The original record, bytes as they were (a prefix of the value when truncated). */
  original: RecordBytes & { topic: string; partition: number; offset: string };
}

/** What one `DeadLetterQueue` record is. */
export type DeadLetterQueueRecord =
  /** One dead letter per original record (Lambda's records may carry several). */
  | { kind: 'letters'; letters: DeadLetter[] }
  /** A replay marker of `npm run dlq:replay`: that letter's original went back to its topic once. */
  | { kind: 'marker'; marker: DeadLetterReplayed }
  | { kind: 'unreadable'; error: string };

/**
 * The part of Lambda's on-failure record the tool relies on: the failure's context and the record. The
 * batch and response metadata pass through unchecked, so a letter that lacks them is still read.
 */
const LambdaLetter = LambdaKafkaFailureRecord.pick({ requestContext: true, timestamp: true, payload: true });

const fromBase64 = (text: string | null): Buffer | null =>
  text === null ? null : Buffer.from(text, 'base64');

/** `<topic>:<partition>:<offset>`, how the tool names a record. */
export const coordinatesText = (at: { topic: string; partition: number; offset: string | bigint }): string =>
  `${at.topic}:${at.partition}:${at.offset}`;

/**
 * What is replayed at most once: the original record, by its coordinates on its source topic. Two dead
 * letters of one record (a redelivered poison record is dead-lettered again) are one replay; a marker and
 * a replayed record's `replayed-record` header name it the same way.
 */
export const replayId = coordinatesText;

/**
 * One letter from what its writer says of the record. A reduced record (too large to copy whole: a
 * function's, or the emulator's failure record) flags what it cut; the original is then fetched from its topic.
 */
function letterOf(
  failure: Pick<DeadLetter, 'writer' | 'reason' | 'failedIn' | 'error'>,
  record: LetterRecord,
): DeadLetter {
  const headers = record.headers.map((h): [string, Buffer] => [h.key, Buffer.from(h.value, 'base64')]);
  const { topic, partition, offset, key, value } = record;
  return {
    ...failure,
    original: { topic, partition, offset, key: fromBase64(key), value: fromBase64(value), headers },
    valueTruncated: record.valueTruncated === true,
    headersTruncated: record.headersTruncated === true,
    keyTruncated: record.keyTruncated === true,
    valueBytes: record.valueBytes,
    keyBytes: record.keyBytes,
  };
}

/**
 * Reads one `DeadLetterQueue` value: a function's `DeadLettered` event, Lambda's on-failure record (both
 * dead letters), the tool's own replay marker, or something unreadable (with why).
 */
export function parseDeadLetterQueueRecord(value: Buffer | null): DeadLetterQueueRecord {
  let json: unknown;
  try {
    json = JSON.parse(value?.toString('utf8') ?? '');
  } catch {
    json = undefined;
  }
  if ((json as { eventType?: unknown } | undefined)?.eventType === 'DeadLetterReplayed') {
    const marker = DeadLetterReplayed.safeParse(json);
    if (marker.success) return { kind: 'marker', marker: marker.data };
    return {
      kind: 'unreadable',
      error: `an invalid DeadLetterReplayed marker: ${marker.error.issues[0]?.message}`,
    };
  }
  const ours = decode(deadLetterTopic, value);
  if (ours.ok) {
    const { data } = ours.event;
    const error = `${data.error.name}: ${data.error.message}`;
    return {
      kind: 'letters',
      letters: [
        letterOf({ writer: 'function', reason: data.reason, failedIn: data.function, error }, data.record),
      ],
    };
  }
  if (json === undefined) return { kind: 'unreadable', error: ours.error.message };
  const lambdas = LambdaLetter.safeParse(json);
  if (!lambdas.success) {
    return {
      kind: 'unreadable',
      error: `neither a DeadLettered event (${ours.error.message}) nor a Lambda on-failure record`,
    };
  }
  const { requestContext, payload } = lambdas.data;
  const failure = {
    writer: 'event-source-mapping',
    reason: 'retries-exhausted',
    failedIn: requestContext.functionArn,
    error: `${requestContext.condition} after ${requestContext.approximateInvokeCount} invocation(s)`,
  } as const;
  // Lambda's records are MSK records (functions/shared/msk-records.ts reads them), plus the reduction's flags.
  const letters = Object.values(payload.records)
    .flat()
    .map((record) => letterOf(failure, { ...record, ...rawRecordOf(record as unknown as MSKRecord) }));
  return { kind: 'letters', letters };
}

export interface ReplayFilter {
  topic?: string;
  reason?: DeadLetter['reason'];
  /** The step, exactly (`inventory` is not `inventory-release`): see `stepOf`. */
  failedIn?: string;
  /** The record key, i.e. the order id. */
  orderId?: string;
}

const isFunctionName = (name: string): name is FunctionName => Object.hasOwn(manifest.functions, name);

/**
 * The step a letter failed in, by name: a function's letter names it; Lambda's own letter names the
 * function's ARN, whose name is the step locally and a generated one on AWS, so there the step is the
 * one the manifest has consume the record's topic (unknown when that is not exactly one).
 */
export function stepOf(letter: DeadLetter): string | undefined {
  if (letter.writer === 'function') return letter.failedIn;
  const name = /^arn:aws[a-z-]*:lambda:[^:]*:\d*:function:([^:]+)/.exec(letter.failedIn)?.[1];
  if (name !== undefined && isFunctionName(name)) return name;
  const consumers = consumersOfTopic(letter.original.topic);
  return consumers.length === 1 ? consumers[0] : undefined;
}

export function matches(letter: DeadLetter, filter: ReplayFilter): boolean {
  if (filter.topic !== undefined && letter.original.topic !== filter.topic) return false;
  if (filter.reason !== undefined && letter.reason !== filter.reason) return false;
  if (filter.failedIn !== undefined && stepOf(letter) !== filter.failedIn) return false;
  if (filter.orderId !== undefined && letter.original.key?.toString('utf8') !== filter.orderId) return false;
  return true;
}

/** Whether `full` is what the letter holds of it: equal, or (when cut) starting with it and of the recorded size. */
function sameBytes(
  held: Buffer | null,
  full: Buffer | null,
  cut: boolean,
  bytes: number | undefined,
): boolean {
  if (held === null || full === null) return held === full;
  if (!cut) return held.equals(full);
  return (bytes === undefined || full.length === bytes) && full.subarray(0, held.length).equals(held);
}

const emptyAsNull = (bytes: Buffer | null) => (bytes?.length === 0 ? null : bytes);

/**
 * Whether `full` is the record a truncated letter was cut from: its key and value, each whole or the
 * letter's prefix with the recorded size. Guards against a topic recreated since, whose offsets now hold
 * other records.
 */
export function isOriginalOf(letter: DeadLetter, full: Omit<RecordBytes, 'headers'>): boolean {
  const { key, value } = letter.original;
  return (
    sameBytes(emptyAsNull(key), emptyAsNull(full.key), letter.keyTruncated, letter.keyBytes) &&
    sameBytes(emptyAsNull(value), emptyAsNull(full.value), letter.valueTruncated, letter.valueBytes)
  );
}

const CorrelationId = /^[\x21-\x7e]{1,128}$/;
const headersOf = (entries: Array<[string, Buffer | string]>) =>
  new Map(entries.map(([name, bytes]): [Buffer, Buffer] => [Buffer.from(name), Buffer.from(bytes)]));

/**
 * The two messages of one replay, produced together: an informational `DeadLetterReplayed` marker on the
 * dead-letter topic, keyed as the letter, and the record back on its topic, keyed as it was (so the
 * pipeline's partitioner puts it beside its order's other records) with its headers, the replay headers
 * naming this letter and record instead of any it carried.
 */
export function replayMessages(
  letter: DeadLetter,
  at: { topic: string; partition: number; offset: bigint },
  kafkaKey: Buffer | null,
  record: RecordBytes & { fromSource: boolean },
): MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] {
  const { original } = letter;
  const letterAt = coordinatesText(at);
  const id = replayId(original);
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
      valueFrom: record.fromSource ? 'source-topic' : 'dead-letter',
    },
  });
  const replayed = (name: string) => name !== REPLAYED_FROM_HEADER && name !== REPLAYED_RECORD_HEADER;
  return [
    {
      topic: at.topic,
      key: kafkaKey ?? undefined,
      value: Buffer.from(JSON.stringify(marker)),
      headers: headersOf([
        ['event-type', marker.eventType],
        ['event-id', marker.eventId],
      ]),
    },
    {
      topic: original.topic,
      key: record.key ?? undefined,
      value: record.value ?? undefined,
      headers: headersOf([
        ...record.headers.filter(([name]) => replayed(name)),
        [REPLAYED_FROM_HEADER, letterAt],
        [REPLAYED_RECORD_HEADER, id],
      ]),
    },
  ];
}
