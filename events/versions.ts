import type * as z from 'zod';

/**
 * The versions of a topic's event: the one producers write and the ones consumers read, each read version
 * upcast to the one type consumers work with. A breaking change rolls out as events/README.md, "Making a
 * breaking change", tells: consumers read both versions first, then producers switch. Pure (zod only): the
 * functions bundle it.
 */

/** An event's schema: an envelope (envelope.ts) whose `eventType` and `version` are literals. */
export type EventSchema = z.ZodObject & {
  shape: { eventType: z.ZodLiteral<string>; version: z.ZodLiteral<number> };
};

export type ReadResult<C> = { ok: true; event: C } | { ok: false; error: z.ZodError };

/** One version consumers read: its schema, and how a valid value of it becomes the type they work with. */
export interface ReadVersion<C> {
  readonly version: number;
  readonly schema: EventSchema;
  /** Validates a value of this version and upcasts it. Never throws (unless the upcast does). */
  readonly read: (value: unknown) => ReadResult<C>;
}

/**
 * A version consumers read: `upcast` turns what its schema parses into the type consumers work with
 * (e.g. version 1 → 2 fills a field version 2 added with a default that the new schema documents).
 */
export function readVersion<S extends EventSchema, C>(
  schema: S,
  upcast: (event: z.output<S>) => C,
): ReadVersion<C> {
  return {
    version: schema.shape.version.value,
    schema,
    read: (value) => {
      const parsed = schema.safeParse(value);
      return parsed.success ? { ok: true, event: upcast(parsed.data) } : { ok: false, error: parsed.error };
    },
  };
}

/** The version consumers work with, read as it is. */
export const sameVersion = <S extends EventSchema>(schema: S): ReadVersion<z.output<S>> =>
  readVersion(schema, (event) => event);

/** A topic's versions: `write` is what `newEvent`/`encode` produce, `read` what `decode` accepts. */
export interface TopicVersions<W extends EventSchema = EventSchema, C = unknown> {
  readonly eventType: string;
  readonly write: W;
  /** The written version's reader, among `read`: it reports a record without a (numeric) version. */
  readonly written: ReadVersion<C>;
  readonly read: readonly ReadVersion<C>[];
}

/**
 * Declares a topic's versions, refusing (at import, so every test sees it) a declaration consumers could
 * not live with: a read version twice, another event type, or a written version consumers do not read.
 */
export function versionsOf<W extends EventSchema, C>(
  write: W,
  read: readonly ReadVersion<C>[],
): TopicVersions<W, C> {
  const eventType = write.shape.eventType.value;
  const versions = read.map((r) => r.version);
  const written = read.find((r) => r.version === write.shape.version.value);
  const problem =
    versions.length !== new Set(versions).size
      ? `a version is read twice (${versions.join(', ')})`
      : read.some((r) => r.schema.shape.eventType.value !== eventType)
        ? 'every version must be the same event type'
        : !written
          ? `version ${write.shape.version.value} is written but not read (reads ${versions.join(', ')})`
          : undefined;
  if (problem || !written) throw new Error(`${eventType}: ${problem}`);
  return { eventType, write, written, read };
}

/** A topic with one version, written and read as it is: every topic until a breaking change. */
export const oneVersion = <S extends EventSchema>(schema: S): TopicVersions<S, z.output<S>> =>
  versionsOf(schema, [sameVersion(schema)]);

/** What consumers of a declaration work with. */
export type ReadType<V> = V extends TopicVersions<EventSchema, infer C> ? C : never;
/** What producers of a declaration write. */
export type WriteType<V> = V extends TopicVersions<infer W, unknown> ? z.output<W> : never;
