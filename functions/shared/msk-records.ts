import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { decode, EventDecodeError, Headers, newEvent } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { DeadLettered } from '../../events/schemas/events.ts';
import type { EventOf, TopicName } from '../../events/topics.ts';
import { type DeadLetterTopic, deadLetterTopic } from '../../topology/topics.ts';
import { RecordTooLargeError } from './errors.ts';

/**
 * Larger than any event of the pipeline (an order at its schema's limits is far smaller): such a record
 * is poison by its size alone, and is never decoded or parsed.
 */
export const MAX_RECORD_BYTES = 256 * 1024;
/**
 * The most a dead letter may weigh, well under the DeadLetterQueue topic's limit (the broker's default
 * max.message.bytes, ~1 MiB): a dead letter that the broker refused would block the partition forever.
 */
export const MAX_DEAD_LETTER_BYTES = 256 * 1024;
/** What a dead letter keeps of a value too large to copy whole: the first bytes, for a first look. */
export const VALUE_PREFIX_BYTES = 16 * 1024;
/** Keys up to this size are copied whole even into a reduced dead letter (order ids are ≤ 128 chars). */
const KEY_WHOLE_BYTES = 16 * 1024;
const KEY_PREFIX_BYTES = 1024;
/** A reduced dead letter's headers: at most this many bytes of JSON, each value cut to its first KiB. */
const HEADERS_BUDGET_BYTES = 16 * 1024;
const HEADER_VALUE_PREFIX_BYTES = 1024;
const HEADER_KEY_CHARS = 256;
const ERROR_MESSAGE_CHARS = 4_000;

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

/** Bytes held in a base64 text, counted without decoding it. */
export const base64Bytes = (text: string | null): number => (text ? Buffer.byteLength(text, 'base64') : 0);

/** A record's size as the broker stores it, near enough: key, value and headers. */
export function recordSize(record: RawRecord): {
  total: number;
  key: number;
  value: number;
  headers: number;
} {
  const key = base64Bytes(record.key);
  const value = base64Bytes(record.value);
  const headers = record.headers.reduce((n, h) => n + Buffer.byteLength(h.key) + base64Bytes(h.value), 0);
  return { total: key + value + headers, key, value, headers };
}

export type Classified<T extends TopicName> =
  | { kind: 'event'; event: EventOf<T> }
  | { kind: 'poison'; error: EventDecodeError | RecordTooLargeError };

/**
 * Decides whether a record is an event this step can process, or poison that can never succeed: a topic
 * the step does not consume, larger than any event ({@link MAX_RECORD_BYTES}, not even parsed), not JSON,
 * not valid against its topic's schema, or another event type.
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
  const size = recordSize(record);
  if (size.total > MAX_RECORD_BYTES) {
    return {
      kind: 'poison',
      error: new RecordTooLargeError(
        `the record is ${size.total} bytes (key ${size.key}, value ${size.value}, headers ${size.headers}), ` +
          `more than the ${MAX_RECORD_BYTES} bytes of any event`,
      ),
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

/** `base64`'s first `bytes` bytes, decoding no more than needed. */
function base64Prefix(base64: string, bytes: number): string {
  return Buffer.from(base64.slice(0, Math.ceil(bytes / 3) * 4), 'base64')
    .subarray(0, bytes)
    .toString('base64');
}

type DeadLetterRecord = DeadLettered['data']['record'];

/** The record as the dead letter carries it: whole. */
function wholeCopy(record: RawRecord): DeadLetterRecord {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    ...(record.timestamp !== undefined ? { timestamp: record.timestamp } : {}),
    key: record.key,
    value: record.value,
    headers: record.headers,
  };
}

/**
 * The record reduced to a bounded size, for one too large to copy whole: coordinates, sizes and prefixes.
 * Bounded by construction (~16 KiB of value, ≤ 16 KiB of key, ~16 KiB of headers), whatever the record.
 */
function reducedCopy(record: RawRecord): DeadLetterRecord {
  const size = recordSize(record);
  const copy: DeadLetterRecord = { ...wholeCopy(record), headers: [] };
  if (record.value !== null && size.value > VALUE_PREFIX_BYTES) {
    copy.value = base64Prefix(record.value, VALUE_PREFIX_BYTES);
    copy.valueBytes = size.value;
    copy.valueTruncated = true;
  }
  if (record.key !== null && size.key > KEY_WHOLE_BYTES) {
    copy.key = base64Prefix(record.key, KEY_PREFIX_BYTES);
    copy.keyBytes = size.key;
    copy.keyTruncated = true;
  }
  let budget = HEADERS_BUDGET_BYTES;
  let truncated = false;
  for (const header of record.headers) {
    const key = header.key.slice(0, HEADER_KEY_CHARS);
    const value =
      base64Bytes(header.value) > HEADER_VALUE_PREFIX_BYTES
        ? base64Prefix(header.value, HEADER_VALUE_PREFIX_BYTES)
        : header.value;
    const cost = Buffer.byteLength(JSON.stringify({ key, value })) + 1;
    if (cost > budget) {
      truncated = true;
      break;
    }
    budget -= cost;
    truncated ||= key !== header.key || value !== header.value;
    copy.headers.push({ key, value });
  }
  if (truncated) copy.headersTruncated = true;
  return copy;
}

/**
 * The dead letter (`DeadLettered`, on the manifest's dead-letter topic) for a record: its coordinates, key, headers and original bytes, the error and
 * the function. The id derives from the record's coordinates, so a redelivered poison record produces the
 * same dead letter again rather than a new one.
 *
 * Never larger than {@link MAX_DEAD_LETTER_BYTES}: a record too large to copy whole is carried reduced
 * (its sizes, the first bytes of its value, flagged `valueTruncated`). The original is not lost: it stays
 * on its topic, at the coordinates the dead letter names, for the topic's retention period.
 */
export function deadLetterEvent(input: DeadLetterInput): EventOf<DeadLetterTopic> {
  const { record } = input;
  // Only a key short enough to be an order id is decoded (a hostile key may be a megabyte).
  const key = base64Bytes(record.key) <= 128 ? keyText(record) : undefined;
  const correlationId =
    input.correlationId ?? (key !== undefined && CorrelationId.test(key) ? key : 'unknown');
  const eventId = headerText(record, Headers.eventId);
  const recordId = `${record.topic}/${record.partition}/${record.offset}`;
  const build = (copy: DeadLetterRecord) =>
    newEvent(deadLetterTopic, {
      correlationId,
      causationId: eventId && CorrelationId.test(eventId) ? eventId : recordId.slice(0, 128),
      source: input.step,
      discriminator: `${input.step}|${recordId}`,
      occurredAt: input.now,
      data: {
        reason: input.reason,
        function: input.step,
        error: { name: input.error.name, message: input.error.message.slice(0, ERROR_MESSAGE_CHARS) },
        attempts: input.attempts,
        record: copy,
      },
    });
  // Base64 adds a third: a record above three quarters of the limit can never be copied whole.
  if (recordSize(record).total <= (MAX_DEAD_LETTER_BYTES * 3) / 4) {
    const whole = build(wholeCopy(record));
    if (Buffer.byteLength(JSON.stringify(whole)) <= MAX_DEAD_LETTER_BYTES) return whole;
  }
  return build(reducedCopy(record));
}
