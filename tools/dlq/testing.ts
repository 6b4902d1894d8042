import { encode, newEvent } from '../../events/index.ts';
import { deadLetterTopic } from '../../topology/topics.ts';

/** Test fixture: what a function's dead letter of one record looks like on the dead-letter topic. */
export interface LetterFixture {
  /** The original record's key (an order id). */
  key: string;
  topic: string;
  partition: number;
  offset: string | bigint;
  /** What the letter holds of the value: all of it, or its prefix when `truncated`. */
  value: Buffer;
  headers?: Record<string, string | Buffer>;
  reason?: 'poison' | 'retries-exhausted';
  /** The fields a writer adds for a record too large to copy (written as is, whatever the schema knows). */
  truncated?: { valueBytes: number; headersTruncated?: boolean; key?: { prefix: string; keyBytes: number } };
}

/** The bytes of a `DeadLettered` event for `fixture`, as a consumer would have written them. */
export function functionLetter(fixture: LetterFixture): Buffer {
  const event = newEvent(deadLetterTopic, {
    correlationId: fixture.key,
    causationId: `${fixture.topic}:${fixture.partition}:${fixture.offset}`,
    source: 'notification',
    data: {
      reason: fixture.reason ?? 'poison',
      function: 'notification',
      error: { name: 'EventDecodeError', message: 'schema: data.value: expected number' },
      attempts: 1,
      record: {
        topic: fixture.topic,
        partition: fixture.partition,
        offset: String(fixture.offset),
        key: Buffer.from(fixture.key).toString('base64'),
        value: fixture.value.toString('base64'),
        headers: Object.entries(fixture.headers ?? {}).map(([key, value]) => ({
          key,
          value: Buffer.from(value).toString('base64'),
        })),
      },
    },
  });
  const json = JSON.parse(encode(deadLetterTopic, event).value.toString('utf8')) as {
    data: { record: Record<string, unknown> };
  };
  if (fixture.truncated) {
    json.data.record.valueBytes = fixture.truncated.valueBytes;
    json.data.record.valueTruncated = true;
    if (fixture.truncated.key) {
      json.data.record.key = Buffer.from(fixture.truncated.key.prefix).toString('base64');
      json.data.record.keyBytes = fixture.truncated.key.keyBytes;
      json.data.record.keyTruncated = true;
    }
    if (fixture.truncated.headersTruncated !== undefined) {
      json.data.record.headersTruncated = fixture.truncated.headersTruncated;
    }
  }
  return Buffer.from(JSON.stringify(json));
}
