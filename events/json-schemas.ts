import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as z from 'zod';
import { compareVersions, describeReport, type JsonSchema } from './json-schema-compatibility.ts';
import { type TopicName, topicNames, topicSchemas } from './topics.ts';

/**
 * The JSON Schema of every event, per topic and version, as committed under
 * `events/schemas/<Topic>/v<N>.schema.json` (`npm run schemas` writes them). A file is the contract of that
 * version: what a consumer of it accepts (zod's input side, so a field with a default is optional), in
 * JSON Schema draft-07, which AWS Glue Schema Registry also takes (Glue developer guide, "AWS Glue Schema
 * registry": Draft-04, Draft-06 and Draft-07).
 */
export const SCHEMAS_DIR = join(import.meta.dirname, 'schemas');

export interface VersionedSchema {
  topic: TopicName;
  version: number;
  schema: JsonSchema;
}

export const schemaFile = (topic: string, version: number): string =>
  join(SCHEMAS_DIR, topic, `v${version}.schema.json`);

/**
 * Versions a topic still has to read besides the current one in topics.ts, while a breaking change rolls
 * out (events/README.md, "Making a breaking change"): their files stay checked against these schemas.
 */
export const previousVersions: Partial<Record<TopicName, z.ZodObject[]>> = {};

const versionOf = (schema: z.ZodObject): number => {
  const version = schema.shape.version;
  if (!(version instanceof z.ZodLiteral) || typeof version.value !== 'number') {
    throw new Error('an event schema needs a numeric literal `version`');
  }
  return version.value;
};

export function jsonSchemaOf(topic: TopicName, schema: z.ZodObject): VersionedSchema {
  const version = versionOf(schema);
  const generated = z.toJSONSchema(schema, { io: 'input', target: 'draft-7' });
  return { topic, version, schema: { ...generated, title: `${topic} v${version}` } };
}

/** The schemas the code defines today: each topic's current version and the versions still read. */
export function currentSchemas(): VersionedSchema[] {
  return topicNames.flatMap((topic) =>
    [topicSchemas[topic] as z.ZodObject, ...(previousVersions[topic] ?? [])].map((schema) =>
      jsonSchemaOf(topic, schema),
    ),
  );
}

/** Every committed schema file, whether or not the code still defines its version. */
export async function committedSchemas(): Promise<VersionedSchema[]> {
  const found: VersionedSchema[] = [];
  for (const entry of await readdir(SCHEMAS_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const file of await readdir(join(SCHEMAS_DIR, entry.name))) {
      const match = /^v(\d+)\.schema\.json$/.exec(file);
      if (!match) continue;
      const text = await readFile(join(SCHEMAS_DIR, entry.name, file), 'utf8');
      found.push({ topic: entry.name as TopicName, version: Number(match[1]), schema: JSON.parse(text) });
    }
  }
  return found;
}

export type SchemaPlan =
  | { action: 'new' | 'unchanged' | 'compatible-change'; next: VersionedSchema }
  | { action: 'incompatible'; next: VersionedSchema; problems: string[] };

const nameOf = (s: VersionedSchema) => `${s.topic} v${s.version}`;

/**
 * What `npm run schemas` does with each current schema: write a new version, leave an identical one,
 * overwrite a committed one with a compatible change, or refuse an incompatible one (problems name the fields).
 */
export function planSchemaWrites(current: VersionedSchema[], committed: VersionedSchema[]): SchemaPlan[] {
  return current.map((next) => {
    const old = committed.find((c) => c.topic === next.topic && c.version === next.version);
    if (!old) return { action: 'new', next };
    if (isDeepStrictEqual(old.schema, next.schema)) return { action: 'unchanged', next };
    const problems = describeReport(nameOf(next), compareVersions(old.schema, next.schema));
    return problems.length === 0
      ? { action: 'compatible-change', next }
      : { action: 'incompatible', next, problems };
  });
}
