import type { MSKEvent, MSKRecord } from 'aws-lambda';
import type { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { LOCAL_ACCOUNT_ID, localRegion } from './lambda-context.ts';

/** A record as the consumer hands it over (the subset of @platformatic/kafka's `Message` used here). */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null | undefined;
  value: Buffer | null | undefined;
  headerEntries: Array<[Buffer, Buffer | null | undefined]>;
}

/** One record of the MSK event: like AWS, no `key` when the record has none, no `value` for a tombstone. */
export type MskEventRecord = Omit<MSKRecord, 'key' | 'value'> & { key?: string; value?: string };

export interface MskEvent extends Omit<MSKEvent, 'records'> {
  records: Record<string, MskEventRecord[]>;
}

/** A fake but well-formed MSK cluster ARN: the local broker has no ARN of its own. */
export const localClusterArn = (): string =>
  `arn:aws:kafka:${localRegion()}:${LOCAL_ACCOUNT_ID}:cluster/local-order-pipeline/00000000-0000-0000-0000-000000000000-1`;

function toMskRecord(record: ConsumedRecord): MskEventRecord {
  const { topic, partition, key, value } = record;
  // In the AWS example's key order. Lambda sends offsets and timestamps as JSON numbers; topics here use the
  // broker default message.timestamp.type=CreateTime.
  return {
    topic,
    partition,
    offset: Number(record.offset),
    timestamp: Number(record.timestamp),
    timestampType: 'CREATE_TIME',
    ...(key ? { key: key.toString('base64') } : {}),
    ...(value ? { value: value.toString('base64') } : {}),
    headers: record.headerEntries.map(([name, v]) => ({ [name.toString('utf8')]: [...(v ?? [])] })),
  };
}

/** What a record weighs in the JSON event, whose size Lambda's 6 MB payload limit counts. */
export const eventRecordBytes = (record: ConsumedRecord): number =>
  Buffer.byteLength(JSON.stringify(toMskRecord(record)));

export type EventSource = Pick<MskEvent, 'eventSourceArn' | 'bootstrapServers'>;

/** Groups records under `"<topic>-<partition>"` keys, each list in offset order, as Lambda does. */
export function buildMskEvent(source: EventSource, records: readonly ConsumedRecord[]): MskEvent {
  const grouped: MskEvent['records'] = {};
  for (const record of records) {
    const key = `${record.topic}-${record.partition}`;
    grouped[key] ??= [];
    grouped[key].push(toMskRecord(record));
  }
  for (const list of Object.values(grouped)) list.sort((a, b) => a.offset - b.offset);
  return { eventSource: 'aws:kafka', ...source, records: grouped };
}

/**
 * Why a record went to on-failure and what carried it. The record is `LambdaKafkaFailureRecord`
 * (events/schemas/events.ts, with AWS's page); local/README.md lists what the docs leave open.
 * `RecordAgeExceeded` is this emulator's name for an expired record (the page shows `RetriesExhausted` only).
 */
export interface FailureContext {
  requestId: string;
  functionArn: string;
  approximateInvokeCount: number;
  condition?: 'RetriesExhausted' | 'RecordAgeExceeded';
}

type FailedMskRecord = LambdaKafkaFailureRecord['payload']['records'][string][number];

/** A key or headers above this are left out of a reduced failure record too. */
const REDUCED_PART_MAX_BYTES = 16 * 1024;

/** The record without its value, and without a key or headers that are large themselves (not an AWS shape). */
function reduce(record: MskEventRecord): FailedMskRecord {
  const { value, key, headers, ...coordinates } = record;
  const keyBytes = key === undefined ? 0 : Buffer.byteLength(key, 'base64');
  const keepKey = key !== undefined && keyBytes <= REDUCED_PART_MAX_BYTES;
  const keepHeaders = Buffer.byteLength(JSON.stringify(headers)) <= REDUCED_PART_MAX_BYTES;
  return {
    ...coordinates,
    ...(keepKey ? { key } : {}),
    headers: keepHeaders ? headers : [],
    ...(value !== undefined ? { valueBytes: Buffer.byteLength(value, 'base64'), valueTruncated: true } : {}),
    ...(key !== undefined && !keepKey ? { keyBytes, keyTruncated: true } : {}),
    ...(keepHeaders ? {} : { headersTruncated: true }),
  };
}

export function onFailureRecord(
  source: EventSource,
  failure: FailureContext,
  record: ConsumedRecord,
  options: { reduced?: boolean } = {},
): LambdaKafkaFailureRecord {
  const full = buildMskEvent(source, [record]);
  const records = { [`${record.topic}-${record.partition}`]: [reduce(toMskRecord(record))] };
  return {
    requestContext: {
      requestId: failure.requestId,
      functionArn: `${failure.functionArn}:$LATEST`,
      condition: failure.condition ?? 'RetriesExhausted',
      approximateInvokeCount: failure.approximateInvokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    // ISO-8601 with milliseconds, like the page's example.
    timestamp: new Date().toISOString(),
    KafkaBatchInfo: {
      batchSize: 1,
      ...source,
      // The byte length of the JSON payload (of the original record's, when reduced).
      payloadSize: Buffer.byteLength(JSON.stringify(full)),
      recordInfo: {
        offset: record.offset.toString(),
        timestamp: new Date(Number(record.timestamp)).toISOString(),
      },
    },
    payload: { ...full, ...(options.reduced ? { records } : {}) },
  };
}
