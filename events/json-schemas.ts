import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as z from 'zod';
import { compareVersions, describeReport, type JsonSchema } from './json-schema-compatibility.ts';
import { DeadLetterReplayed } from './schemas/dead-letter-replayed.ts';
import { isTopicName, type TopicName, topicNames, topicVersions } from './topics.ts';
import type { TopicVersions } from './versions.ts';

/**
 * The JSON Schema of every event, per topic and version, as committed under
 * `events/schemas/<Topic>/v<N>.schema.json` (`npm run schemas` writes them), and
 * `<Topic>/<EventType>.v<N>.schema.json` for another event type a topic carries. A file is the contract of
 * that version: what a consumer of it accepts (zod's input side, so a field with a default is optional),
 * in JSON Schema draft-07, which AWS Glue Schema Registry also takes (Glue developer guide, "AWS Glue
 * Schema registry": Draft-04, Draft-06 and Draft-07).
 */
export const SCHEMAS_DIR = join(import.meta.dirname, 'schemas');

export interface VersionedSchema {
  topic: TopicName;
  eventType: string;
  version: number;
  /** The file's path under SCHEMAS_DIR, e.g. `OrderReceived/v1.schema.json`: its identity. */
  file: string;
  schema: JsonSchema;
}

/**
 * Versions a topic reads besides the one its producers write, while a breaking change rolls out (the next
 * one before producers switch to it, the previous one after): the `read` list of its declaration in
 * topics.ts (events/README.md, "Making a breaking change"). Their files are written and checked like the
 * written version's.
 */
export const otherVersions = (versions: TopicVersions): z.ZodObject[] =>
  versions.read.filter((r) => r.version !== versions.write.shape.version.value).map((r) => r.schema);

/**
 * Other event types a topic carries beside its own: `DeadLetterQueue` also holds the replay tool's markers.
 * (Lambda's own failure records there, `LambdaKafkaFailureRecord`, are AWS's format, not versioned here.)
 */
export const otherEventTypes: Partial<Record<TopicName, z.ZodObject[]>> = {
  DeadLetterQueue: [DeadLetterReplayed],
};

const literalOf = (schema: z.ZodObject, field: 'version' | 'eventType'): unknown => {
  const literal = schema.shape[field];
  if (!(literal instanceof z.ZodLiteral)) throw new Error(`an event schema needs a literal \`${field}\``);
  return literal.value;
};

const primaryEventType = (topic: TopicName): string => topicVersions[topic].eventType;

export const schemaFileName = (topic: TopicName, eventType: string, version: number): string =>
  eventType === primaryEventType(topic)
    ? `${topic}/v${version}.schema.json`
    : `${topic}/${eventType}.v${version}.schema.json`;

export function jsonSchemaOf(topic: TopicName, schema: z.ZodObject): VersionedSchema {
  const version = Number(literalOf(schema, 'version'));
  const eventType = String(literalOf(schema, 'eventType'));
  const generated = z.toJSONSchema(schema, { io: 'input', target: 'draft-7' });
  return {
    topic,
    eventType,
    version,
    file: schemaFileName(topic, eventType, version),
    schema: { ...generated, title: `${eventType} v${version} (topic ${topic})` },
  };
}

/** The schemas of one topic's declaration: the written version, the other versions read, the other types. */
export const schemasOf = (topic: TopicName, versions: TopicVersions): VersionedSchema[] =>
  [versions.write, ...otherVersions(versions), ...(otherEventTypes[topic] ?? [])].map((schema) =>
    jsonSchemaOf(topic, schema),
  );

/** The schemas the code defines today: each topic's written version, the versions still read, the other types. */
export function currentSchemas(): VersionedSchema[] {
  return topicNames.flatMap((topic) => schemasOf(topic, topicVersions[topic]));
}

/** Every committed schema file, whether or not the code still defines its version. */
export async function committedSchemas(): Promise<VersionedSchema[]> {
  const found: VersionedSchema[] = [];
  for (const entry of await readdir(SCHEMAS_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory() || !isTopicName(entry.name)) continue;
    const topic = entry.name;
    for (const name of await readdir(join(SCHEMAS_DIR, topic))) {
      const match = /^(?:([A-Za-z]+)\.)?v(\d+)\.schema\.json$/.exec(name);
      if (!match) continue;
      const text = await readFile(join(SCHEMAS_DIR, topic, name), 'utf8');
      const [eventType, version] = [match[1] ?? primaryEventType(topic), Number(match[2])];
      found.push({ topic, eventType, version, file: `${topic}/${name}`, schema: JSON.parse(text) });
    }
  }
  return found;
}

export type SchemaPlan =
  | { action: 'new' | 'unchanged' | 'compatible-change'; next: VersionedSchema }
  | { action: 'incompatible'; next: VersionedSchema; problems: string[] };

const nameOf = (s: VersionedSchema) => `${s.topic}/${s.eventType} v${s.version}`;

/**
 * What `npm run schemas` does with each current schema: write a new version, leave an identical one,
 * overwrite a committed one with a compatible change, or refuse an incompatible one (problems name the fields).
 */
export function planSchemaWrites(current: VersionedSchema[], committed: VersionedSchema[]): SchemaPlan[] {
  return current.map((next) => {
    const old = committed.find((c) => c.file === next.file);
    if (!old) return { action: 'new', next };
    if (isDeepStrictEqual(old.schema, next.schema)) return { action: 'unchanged', next };
    const problems = describeReport(nameOf(next), compareVersions(old.schema, next.schema));
    return problems.length === 0
      ? { action: 'compatible-change', next }
      : { action: 'incompatible', next, problems };
  });
}
