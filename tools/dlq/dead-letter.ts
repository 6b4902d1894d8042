import { decode } from '../../events/codec.ts';
import { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';

/** The original record a dead letter holds, bytes as they were. */
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
}

const fromBase64 = (text: string | null | undefined): Buffer | null =>
  text === null || text === undefined ? null : Buffer.from(text, 'base64');

/**
 * Reads one `DeadLetterQueue` value. Returns one dead letter per original record (Lambda's records may
 * carry several), or an error message when the value is neither format.
 */
export function parseDeadLetter(value: Buffer | null): DeadLetter[] | { error: string } {
  const ours = decode('DeadLetterQueue', value);
  if (ours.ok) {
    const { data } = ours.event;
    return [
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
          headers: data.record.headers.map((h) => [h.key, Buffer.from(h.value, 'base64')]),
        },
      },
    ];
  }
  let json: unknown;
  try {
    json = JSON.parse(value?.toString('utf8') ?? '');
  } catch {
    return { error: ours.error.message };
  }
  const lambdas = LambdaKafkaFailureRecord.safeParse(json);
  if (!lambdas.success) {
    return { error: `neither a DeadLettered event (${ours.error.message}) nor a Lambda on-failure record` };
  }
  const { requestContext, payload } = lambdas.data;
  return Object.values(payload.records)
    .flat()
    .map((record) => ({
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
        headers: record.headers.flatMap((header) =>
          Object.entries(header).map(([name, bytes]): [string, Buffer] => [name, Buffer.from(bytes)]),
        ),
      },
    }));
}

export interface ReplayFilter {
  topic?: string;
  reason?: DeadLetter['reason'];
  /** Matches the step name, or any part of the function ARN. */
  failedIn?: string;
  /** The record key, i.e. the order id. */
  orderId?: string;
}

export function matches(letter: DeadLetter, filter: ReplayFilter): boolean {
  if (filter.topic !== undefined && letter.original.topic !== filter.topic) return false;
  if (filter.reason !== undefined && letter.reason !== filter.reason) return false;
  if (filter.failedIn !== undefined && !letter.failedIn.includes(filter.failedIn)) return false;
  if (filter.orderId !== undefined && letter.original.key?.toString('utf8') !== filter.orderId) return false;
  return true;
}
