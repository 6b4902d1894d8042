import { v5 as uuidv5 } from 'uuid';
import type { z } from 'zod';
import type { AnyEnvelope, StepName } from './envelope.ts';
import {
  type AnyEvent,
  type EventOf,
  isTopicName,
  type TopicName,
  topicVersions,
  type WrittenEventOf,
} from './topics.ts';
import type { EventSchema, TopicVersions } from './versions.ts';

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

export type DecodeFailureKind =
  | 'empty'
  | 'not-json'
  | 'unknown-topic'
  | 'wrong-event-type'
  /** A `version` the topic's consumers do not read (versions.ts): a producer ahead of them, or a stale one. */
  | 'unknown-version'
  | 'schema';

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

/** Parses and validates a record value read from `topic`, in any version its consumers read. Never throws. */
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
  // Indexed by a generic T, the declaration is the union of all topics'; the one of `topic` reads EventOf<T>.
  return decodeWith<AnyEvent>(topic, topicVersions[topic], bytes) as DecodeResult<EventOf<T>>;
}

const failure = (kind: DecodeFailureKind, issues: Issue[]) =>
  ({ ok: false, error: new EventDecodeError(kind, issues) }) as const;

/**
 * `decode` against one declaration of a topic's versions (versions.ts). The value's `version` picks the
 * schema (the `event-version` header is for tools: the value is what gets validated); the event comes back
 * upcast to the type consumers work with.
 */
export function decodeWith<C>(
  topic: string,
  versions: TopicVersions<EventSchema, C>,
  bytes: Uint8Array | string | null | undefined,
): DecodeResult<C> {
  if (bytes === null || bytes === undefined || bytes.length === 0) {
    return failure('empty', [{ path: '', message: 'the record has no value' }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    return failure('not-json', [{ path: '', message: (error as Error).message }]);
  }
  const envelope = json as { eventType?: unknown; version?: unknown } | null;
  const actualType = envelope?.eventType;
  if (actualType !== undefined && actualType !== versions.eventType) {
    const message = `topic ${topic} carries "${versions.eventType}", got ${JSON.stringify(actualType)}`;
    return failure('wrong-event-type', [{ path: 'eventType', message }]);
  }
  const version = envelope?.version;
  const reader = versions.read.find((r) => r.version === version);
  if (!reader && typeof version === 'number') {
    const reads = versions.read.map((r) => r.version).join(', ');
    const message = `topic ${topic} reads version ${reads} of ${versions.eventType}, got ${version}`;
    return failure('unknown-version', [{ path: 'version', message }]);
  }
  // No version, or not a number: the written version's schema reports it with every other issue.
  const read = (reader ?? versions.written).read(json);
  return read.ok ? read : failure('schema', issuesOf(read.error));
}

/** Validates `event` against the version its topic's producers write and serialises it, keyed by order id. Throws on invalid events. */
export function encode<T extends TopicName>(topic: T, event: WrittenEventOf<T>): EncodedRecord {
  return encodeWith(topic, topicVersions[topic].write, event);
}

/** `encode` with the written version's schema given: the record's `version` and `event-version` header are its. */
export function encodeWith<W extends EventSchema>(
  topic: TopicName,
  write: W,
  event: z.output<W>,
): EncodedRecord {
  const parsed = write.safeParse(event);
  if (!parsed.success) throw new EventDecodeError('schema', issuesOf(parsed.error));
  // Every EventSchema is an envelope (envelope.ts); its generic output type does not show those fields.
  const valid = parsed.data as Omit<AnyEnvelope, 'version'> & { version: number };
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

export interface NewEventInput<T extends TopicName> extends NewEventFields<WrittenEventOf<T>['data']> {}

export interface NewEventFields<D> {
  correlationId: string;
  causationId: string;
  source: StepName;
  data: D;
  /** Defaults to a deterministic id derived from the cause, the event type and `discriminator`. */
  eventId?: string;
  discriminator?: string;
  occurredAt?: Date;
}

/** Builds a valid envelope for `topic`, in the version its producers write. */
export function newEvent<T extends TopicName>(topic: T, input: NewEventInput<T>): WrittenEventOf<T> {
  // The generic T indexes a union of schemas; each one's output is WrittenEventOf<T>.
  return newEventWith(topicVersions[topic].write as EventSchema, input) as WrittenEventOf<T>;
}

/** `newEvent` with the written version's schema given: the envelope's `version` is that schema's. */
export function newEventWith<W extends EventSchema>(
  write: W,
  input: NewEventFields<z.output<W>['data']>,
): z.output<W> {
  const eventType = write.shape.eventType.value;
  return write.parse({
    eventId: input.eventId ?? deterministicEventId(input.causationId, eventType, input.discriminator),
    eventType,
    version: write.shape.version.value,
    occurredAt: (input.occurredAt ?? new Date()).toISOString(),
    correlationId: input.correlationId,
    causationId: input.causationId,
    source: input.source,
    data: input.data,
  });
}
