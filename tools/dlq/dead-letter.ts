import type { MessageToProduce } from '@platformatic/kafka';
import { decode, deterministicEventId } from '../../events/codec.ts';
import { DeadLetterReplayed, type RecordCoordinates } from '../../events/schemas/dead-letter-replayed.ts';
import { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { type FunctionName, manifest } from '../../topology/index.ts';
import { consumersOfTopic, deadLetterTopic } from '../../topology/topics.ts';

/** Header of a replayed record: the dead letter it came back from (`DeadLetterQueue:<partition>:<offset>`). */
export const REPLAYED_FROM_HEADER = 'replayed-from';
/** Header of a replayed record: the coordinates of the original it is a copy of (`<topic>:<partition>:<offset>`). */
export const REPLAYED_RECORD_HEADER = 'replayed-record';

/** The original record a dead letter holds, bytes as they were (a prefix of the value when truncated). */
export interface OriginalRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
}

/** A dead letter, whichever of the two writers put it on the topic. */
export interface DeadLetter {
  /** `function`: a handler's DeadLettered event (poison record); `event-source-mapping`: Lambda's own record. */
  writer: 'function' | 'event-source-mapping';
  reason: 'poison' | 'retries-exhausted';
  /** The step name, or the function ARN for Lambda's records. */
  failedIn: string;
  error: string;
  original: OriginalRecord;
  /** The letter holds only a prefix of the value: the full record is on its source topic until retention trims it. */
  valueTruncated: boolean;
  /** The letter holds only some of the headers, or some cut short. */
  headersTruncated: boolean;
  /** The letter holds only a prefix of the key. */
  keyTruncated: boolean;
  /** The original value's size in bytes, when the writer recorded it. */
  valueBytes: number | undefined;
  /** The original key's size in bytes, when the writer recorded it. */
  keyBytes: number | undefined;
  /** Set when the original record was itself a replay: the letter it came back from, i.e. it failed again. */
  replayOf: { letter: string; original: string | undefined } | undefined;
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

const fromBase64 = (text: string | null | undefined): Buffer | null =>
  text === null || text === undefined ? null : Buffer.from(text, 'base64');

/** `<topic>:<partition>:<offset>`, how the tool names a record. */
export const coordinatesText = (at: { topic: string; partition: number; offset: string | bigint }): string =>
  `${at.topic}:${at.partition}:${at.offset}`;

/**
 * What is replayed at most once: the original record, by its coordinates on its source topic. Two dead
 * letters of one record (a redelivered poison record is dead-lettered again) are one replay; a marker and
 * a replayed record's `replayed-record` header name it the same way.
 */
export const replayId = (original: RecordCoordinates | OriginalRecord): string => coordinatesText(original);

const Coordinates = /^.+:\d+:\d+$/;

function replayOf(headers: Array<[string, Buffer]>): DeadLetter['replayOf'] {
  const header = (name: string) => {
    const text = headers.find(([key]) => key === name)?.[1].toString('utf8');
    return text !== undefined && Coordinates.test(text) ? text : undefined;
  };
  const letter = header(REPLAYED_FROM_HEADER);
  return letter === undefined ? undefined : { letter, original: header(REPLAYED_RECORD_HEADER) };
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
    return marker.success
      ? { kind: 'marker', marker: marker.data }
      : {
          kind: 'unreadable',
          error: `an invalid DeadLetterReplayed marker: ${marker.error.issues[0]?.message}`,
        };
  }
  const ours = decode(deadLetterTopic, value);
  if (ours.ok) {
    const { data } = ours.event;
    const headers = data.record.headers.map((h): [string, Buffer] => [h.key, Buffer.from(h.value, 'base64')]);
    return {
      kind: 'letters',
      letters: [
        {
          writer: 'function',
          reason: data.reason,
          failedIn: data.function,
          error: `${data.error.name}: ${data.error.message}`,
          original: {
            topic: data.record.topic,
            partition: data.record.partition,
            offset: data.record.offset,
            key: fromBase64(data.record.key),
            value: fromBase64(data.record.value),
            headers,
          },
          valueTruncated: data.record.valueTruncated === true,
          headersTruncated: data.record.headersTruncated === true,
          keyTruncated: data.record.keyTruncated === true,
          valueBytes: data.record.valueBytes,
          keyBytes: data.record.keyBytes,
          replayOf: replayOf(headers),
        },
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
  return {
    kind: 'letters',
    letters: Object.values(payload.records)
      .flat()
      .map((record) => {
        const headers = record.headers.flatMap((header) =>
          Object.entries(header).map(([name, bytes]): [string, Buffer] => [name, Buffer.from(bytes)]),
        );
        return {
          writer: 'event-source-mapping' as const,
          reason: 'retries-exhausted' as const,
          failedIn: requestContext.functionArn,
          error: `${requestContext.condition} after ${requestContext.approximateInvokeCount} invocation(s)`,
          original: {
            topic: record.topic,
            partition: record.partition,
            offset: String(record.offset),
            key: fromBase64(record.key),
            value: fromBase64(record.value),
            headers,
          },
          // A reduced failure record (the emulator writes one when the whole is too large for the topic):
          // the original is fetched from its topic, like a truncated DeadLettered.
          valueTruncated: record.valueTruncated === true,
          headersTruncated: record.headersTruncated === true,
          keyTruncated: record.keyTruncated === true,
          valueBytes: record.valueBytes,
          keyBytes: record.keyBytes,
          replayOf: replayOf(headers),
        };
      }),
  };
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
  if (bytes !== undefined && full.length !== bytes) return false;
  return held.length <= full.length && full.subarray(0, held.length).equals(held);
}

/**
 * Whether `full` is the record a truncated letter was cut from: its key and value, each whole or the
 * letter's prefix with the recorded size. Guards against a topic recreated since, whose offsets now hold
 * other records.
 */
export function isOriginalOf(
  letter: DeadLetter,
  full: { key: Buffer | null; value: Buffer | null },
): boolean {
  const { key, value } = letter.original;
  const emptyAsNull = (bytes: Buffer | null) => (bytes !== null && bytes.length === 0 ? null : bytes);
  return (
    sameBytes(emptyAsNull(key), emptyAsNull(full.key), letter.keyTruncated, letter.keyBytes) &&
    sameBytes(emptyAsNull(value), emptyAsNull(full.value), letter.valueTruncated, letter.valueBytes)
  );
}

/** A record as bytes: what a letter holds of its original, or the original read back from its topic. */
export type RecordBytes = { key: Buffer | null; value: Buffer | null; headers: Array<[string, Buffer]> };

const CorrelationId = /^[\x21-\x7e]{1,128}$/;

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
  const replayHeaders = new Map<Buffer, Buffer>([
    ...record.headers
      .filter(([name]) => name !== REPLAYED_FROM_HEADER && name !== REPLAYED_RECORD_HEADER)
      .map(([name, bytes]): [Buffer, Buffer] => [Buffer.from(name), bytes]),
    [Buffer.from(REPLAYED_FROM_HEADER), Buffer.from(letterAt)],
    [Buffer.from(REPLAYED_RECORD_HEADER), Buffer.from(id)],
  ]);
  return [
    {
      topic: at.topic,
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
  ];
}
