import { v5 as uuidv5 } from 'uuid';
import type { z } from 'zod';
import type { StepName } from './envelope.ts';
import { type EventOf, isTopicName, type TopicName, topicSchemas } from './topics.ts';

/** Kafka headers that carry the envelope's ids, so tools can route and trace without parsing the value. */
export const Headers = {
  eventId: 'event-id',
  eventType: 'event-type',
  eventVersion: 'event-version',
  correlationId: 'correlation-id',
  causationId: 'causation-id',
  source: 'source',
  contentType: 'content-type',
} as const;

export interface Issue {
  /** Dotted path into the value, e.g. `data.order.items[0].quantity`; empty for the whole value. */
  path: string;
  message: string;
}

export type DecodeFailureKind = 'empty' | 'not-json' | 'unknown-topic' | 'wrong-event-type' | 'schema';

/** Why bytes could not become an event; `message` lists every issue with its path. */
export class EventDecodeError extends Error {
  override readonly name = 'EventDecodeError';
  constructor(
    readonly kind: DecodeFailureKind,
    readonly issues: Issue[],
  ) {
    super(`${kind}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`);
  }
}

export type DecodeResult<E> = { ok: true; event: E } | { ok: false; error: EventDecodeError };

export interface EncodedRecord {
  topic: TopicName;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => {
    if (typeof part === 'number') return `${acc}[${part}]`;
    return acc ? `${acc}.${String(part)}` : String(part);
  }, '');
}

export function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

/** Parses and validates a record value read from `topic`. Never throws. */
export function decode<T extends TopicName>(
  topic: T,
  bytes: Uint8Array | string | null | undefined,
): DecodeResult<EventOf<T>> {
  if (!isTopicName(topic)) {
    return {
      ok: false,
      error: new EventDecodeError('unknown-topic', [{ path: '', message: `no schema for topic "${topic}"` }]),
    };
  }
  if (bytes === null || bytes === undefined || bytes.length === 0) {
    return {
      ok: false,
      error: new EventDecodeError('empty', [{ path: '', message: 'the record has no value' }]),
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    return {
      ok: false,
      error: new EventDecodeError('not-json', [{ path: '', message: (error as Error).message }]),
    };
  }
  const schema = topicSchemas[topic];
  const expectedType = schema.shape.eventType.value;
  const actualType = (json as { eventType?: unknown } | null)?.eventType;
  if (actualType !== undefined && actualType !== expectedType) {
    return {
      ok: false,
      error: new EventDecodeError('wrong-event-type', [
        {
          path: 'eventType',
          message: `topic ${topic} carries "${expectedType}", got ${JSON.stringify(actualType)}`,
        },
      ]),
    };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, error: new EventDecodeError('schema', issuesOf(parsed.error)) };
  return { ok: true, event: parsed.data as EventOf<T> };
}

/** Validates `event` against its topic's schema and serialises it, keyed by order id. Throws on invalid events. */
export function encode<T extends TopicName>(topic: T, event: EventOf<T>): EncodedRecord {
  const parsed = topicSchemas[topic].safeParse(event);
  if (!parsed.success) throw new EventDecodeError('schema', issuesOf(parsed.error));
  const valid = parsed.data;
  return {
    topic,
    key: valid.correlationId,
    value: Buffer.from(JSON.stringify(valid)),
    headers: {
      [Headers.eventId]: valid.eventId,
      [Headers.eventType]: valid.eventType,
      [Headers.eventVersion]: String(valid.version),
      [Headers.correlationId]: valid.correlationId,
      [Headers.causationId]: valid.causationId,
      [Headers.source]: valid.source,
      [Headers.contentType]: 'application/json',
    },
  };
}

/** Namespace for the deterministic event ids (UUID v5) of this project. */
const EVENT_ID_NAMESPACE = '6f1c1c53-3c1e-4d8c-9a43-2d1f0f5d8a11';

/**
 * The id of an event produced in reaction to `causationId`. The same cause always yields the same id,
 * so a retried step re-produces identical events and consumers drop the duplicates.
 */
export function deterministicEventId(causationId: string, eventType: string, discriminator = ''): string {
  return uuidv5(`${causationId}|${eventType}|${discriminator}`, EVENT_ID_NAMESPACE);
}

export interface NewEventInput<T extends TopicName> {
  correlationId: string;
  causationId: string;
  source: StepName;
  data: EventOf<T>['data'];
  /** Defaults to a deterministic id derived from the cause, the topic and `discriminator`. */
  eventId?: string;
  discriminator?: string;
  occurredAt?: Date;
}

/** Builds a valid envelope for `topic`. */
export function newEvent<T extends TopicName>(topic: T, input: NewEventInput<T>): EventOf<T> {
  const eventType = topicSchemas[topic].shape.eventType.value;
  const event = {
    eventId: input.eventId ?? deterministicEventId(input.causationId, eventType, input.discriminator),
    eventType,
    version: 1,
    occurredAt: (input.occurredAt ?? new Date()).toISOString(),
    correlationId: input.correlationId,
    causationId: input.causationId,
    source: input.source,
    data: input.data,
  };
  return topicSchemas[topic].parse(event) as EventOf<T>;
}
