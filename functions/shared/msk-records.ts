import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { decode, EventDecodeError, Headers, newEvent } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { DeadLettered } from '../../events/schemas/events.ts';
import type { EventOf, TopicName } from '../../events/topics.ts';

/**
 * A Kafka record as the MSK event source mapping delivers it, with what the event type leaves loose
 * made explicit: a record without key or value has no `key`/`value` field at all.
 */
export interface RawRecord {
  topic: string;
  partition: number;
  /** Decimal text: offsets are 64-bit. */
  offset: string;
  timestamp: number | undefined;
  /** Base64, as delivered. */
  key: string | null;
  /** Base64, as delivered. */
  value: string | null;
  /** Header values base64-encoded, so that any bytes survive. */
  headers: { key: string; value: string }[];
}

export function rawRecordOf(record: MSKRecord): RawRecord {
  const loose = record as Partial<MSKRecord>;
  return {
    topic: record.topic,
    partition: record.partition,
    offset: String(record.offset),
    timestamp: typeof loose.timestamp === 'number' ? loose.timestamp : undefined,
    key: typeof loose.key === 'string' ? loose.key : null,
    value: typeof loose.value === 'string' ? loose.value : null,
    headers: (loose.headers ?? []).flatMap((header) =>
      Object.entries(header).map(([key, bytes]) => ({ key, value: Buffer.from(bytes).toString('base64') })),
    ),
  };
}

/**
 * The records of an MSK event, one list per partition in offset order. Partitions are independent
 * (records are keyed by order id), so they may be processed concurrently; records of one partition
 * may not.
 */
export function recordsByPartition(event: Pick<MSKEvent, 'records'>): RawRecord[][] {
  return Object.values(event.records ?? {}).map((records) =>
    records.map(rawRecordOf).sort((a, b) => {
      const left = BigInt(a.offset);
      const right = BigInt(b.offset);
      return left < right ? -1 : left > right ? 1 : 0;
    }),
  );
}

export function headerText(record: RawRecord, name: string): string | undefined {
  const header = record.headers.find((h) => h.key === name);
  return header ? Buffer.from(header.value, 'base64').toString('utf8') : undefined;
}

export function keyText(record: RawRecord): string | undefined {
  return record.key === null ? undefined : Buffer.from(record.key, 'base64').toString('utf8');
}

export type Classified<T extends TopicName> =
  | { kind: 'event'; event: EventOf<T> }
  | { kind: 'poison'; error: EventDecodeError };

/**
 * Decides whether a record is an event this step can process, or poison that can never succeed:
 * not JSON, not valid against its topic's schema, another event type, or a topic the step does not consume.
 */
export function classify<T extends TopicName>(expectedTopic: T, record: RawRecord): Classified<T> {
  if (record.topic !== expectedTopic) {
    return {
      kind: 'poison',
      error: new EventDecodeError('unknown-topic', [
        { path: '', message: `expected a record of topic ${expectedTopic}, got one of "${record.topic}"` },
      ]),
    };
  }
  const decoded = decode(expectedTopic, record.value === null ? null : Buffer.from(record.value, 'base64'));
  return decoded.ok ? { kind: 'event', event: decoded.event } : { kind: 'poison', error: decoded.error };
}

/** Where a record came from, for log lines (never its value: it may hold personal data). */
export const coordinates = (record: RawRecord): string =>
  `${record.topic}-${record.partition}@${record.offset}`;

const CorrelationId = /^[\x21-\x7e]{1,128}$/;

export interface DeadLetterInput {
  step: StepName;
  record: RawRecord;
  reason: DeadLettered['data']['reason'];
  error: { name: string; message: string };
  attempts: number;
  /** The order id, when the record could be decoded; else the record key is used if it looks like one. */
  correlationId?: string | undefined;
  now: Date;
}

/**
 * The DeadLetterQueue event for a record: its coordinates, key, headers and original bytes, the error and
 * the function. The id derives from the record's coordinates, so a redelivered poison record
 * produces the same dead letter again rather than a new one.
 */
export function deadLetterEvent(input: DeadLetterInput): EventOf<'DeadLetterQueue'> {
  const { record } = input;
  const key = keyText(record);
  const correlationId =
    input.correlationId ?? (key !== undefined && CorrelationId.test(key) ? key : 'unknown');
  const eventId = headerText(record, Headers.eventId);
  const recordId = `${record.topic}/${record.partition}/${record.offset}`;
  return newEvent('DeadLetterQueue', {
    correlationId,
    causationId: eventId && CorrelationId.test(eventId) ? eventId : recordId.slice(0, 128),
    source: input.step,
    discriminator: `${input.step}|${recordId}`,
    occurredAt: input.now,
    data: {
      reason: input.reason,
      function: input.step,
      error: { name: input.error.name, message: input.error.message.slice(0, 4_000) },
      attempts: input.attempts,
      record: {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        ...(record.timestamp !== undefined ? { timestamp: record.timestamp } : {}),
        key: record.key,
        value: record.value,
        headers: record.headers,
      },
    },
  });
}
