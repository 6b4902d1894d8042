import type { KafkaTrigger, KeySpec, Manifest } from './types.ts';

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(readonly problems: string[]) {
    super(`invalid topology manifest:\n  - ${problems.join('\n  - ')}`);
  }
}

/** MaximumRecordAgeInSeconds: -1 (never expire) or 60..604800 (AWS Lambda, Kafka error handling controls). */
export const RECORD_AGE_SECONDS = { never: -1, min: 60, max: 604_800 } as const;
const MAPPING_METRICS = ['EventCount', 'ErrorCount', 'KafkaMetrics'] as const;
const SYSTEM_LOG_LEVELS = ['DEBUG', 'INFO', 'WARN'] as const;

/**
 * The Kafka mapping's error-handling controls, with AWS's ranges
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html, EventSourceMappingMetricsConfig,
 * EventSourceMappingLoggingConfig). The manifest is also read by the local emulator, which must not accept
 * a value that CloudFormation would refuse at deploy time.
 */
function errorHandlingProblems(name: string, t: KafkaTrigger): string[] {
  const problems: string[] = [];
  for (const flag of ['bisectBatchOnFunctionError', 'reportBatchItemFailures'] as const) {
    if (typeof t[flag] !== 'boolean') problems.push(`function ${name}: ${flag} must be true or false`);
  }
  const age = t.maximumRecordAgeSeconds;
  if (
    !Number.isInteger(age) ||
    (age !== RECORD_AGE_SECONDS.never && (age < RECORD_AGE_SECONDS.min || age > RECORD_AGE_SECONDS.max))
  )
    problems.push(
      `function ${name}: maximumRecordAgeSeconds must be -1 (never) or an integer ${RECORD_AGE_SECONDS.min}..${RECORD_AGE_SECONDS.max}, got ${age}`,
    );
  const metrics: readonly string[] = Array.isArray(t.metrics) ? t.metrics : [];
  const unknown = metrics.filter((m) => !(MAPPING_METRICS as readonly string[]).includes(m));
  if (!Array.isArray(t.metrics) || unknown.length > 0)
    problems.push(
      `function ${name}: metrics must be among ${MAPPING_METRICS.join(', ')}${unknown.length ? `, got ${unknown.join(', ')}` : ''}`,
    );
  if (new Set(metrics).size !== metrics.length) problems.push(`function ${name}: metrics lists one twice`);
  // The dead-letter alarm counts OnFailureDestinationDeliveredEventCount, an EventCount metric.
  if (!metrics.includes('EventCount'))
    problems.push(`function ${name}: metrics must include EventCount (the dead-letter alarm reads it)`);
  if (!(SYSTEM_LOG_LEVELS as readonly string[]).includes(t.systemLogLevel))
    problems.push(`function ${name}: systemLogLevel must be one of ${SYSTEM_LOG_LEVELS.join(', ')}`);
  return problems;
}

/** Checks the cross-references a type cannot express, and returns the manifest unchanged. */
export function validateManifest<M extends Manifest>(manifest: M): M {
  const problems: string[] = [];
  const topics = new Set(Object.keys(manifest.topics));
  const tables = new Set(Object.keys(manifest.tables));

  for (const [name, topic] of Object.entries(manifest.topics)) {
    if (!Number.isInteger(topic.partitions) || topic.partitions < 1)
      problems.push(`topic ${name}: partitions must be a positive integer`);
    if (!(topic.retentionHours > 0)) problems.push(`topic ${name}: retentionHours must be positive`);
  }

  // Object keys are unique already; physical names (topics, tables, Lambda functions) must also be unique
  // ignoring case within their kind, since several AWS and Kafka tools treat them case-insensitively.
  for (const [kind, names] of [
    ['topic', topics],
    ['table', tables],
    ['function', Object.keys(manifest.functions)],
  ] as const) {
    const seen = new Map<string, string>();
    for (const name of names) {
      const other = seen.get(name.toLowerCase());
      if (other !== undefined)
        problems.push(
          `${kind} name "${name}" collides with "${other}" (names must be unique, ignoring case)`,
        );
      seen.set(name.toLowerCase(), name);
    }
  }

  for (const [name, table] of Object.entries(manifest.tables)) {
    const indexes = Object.entries(table.indexes ?? {});
    // DynamoDB: at most 20 global secondary indexes; an index name is 3..255 of [A-Za-z0-9_.-].
    if (indexes.length > 20) problems.push(`table ${name}: at most 20 indexes, found ${indexes.length}`);
    // One type per attribute: the table's and its indexes' keys share the table's attribute definitions.
    const types = new Map<string, string>();
    const keyOf = (owner: string, key: KeySpec | undefined) => {
      if (!key) return;
      const seen = types.get(key.name);
      if (seen !== undefined && seen !== key.type)
        problems.push(`table ${name}: ${owner} key ${key.name} is ${key.type}, elsewhere ${seen}`);
      types.set(key.name, key.type);
    };
    keyOf('table', table.partitionKey);
    keyOf('table', table.sortKey);
    for (const [indexName, index] of indexes) {
      if (!/^[A-Za-z0-9_.-]{3,255}$/.test(indexName))
        problems.push(`table ${name}: index name "${indexName}" must be 3..255 of A-Z a-z 0-9 _ . -`);
      keyOf(`index ${indexName}`, index.partitionKey);
      keyOf(`index ${indexName}`, index.sortKey);
    }
  }

  const channels = new Set(Object.keys(manifest.channels));
  for (const name of channels) {
    // The name becomes an environment variable (`<NAME>_TOPIC_ARN`) and part of a local topic name.
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(name))
      problems.push(`channel "${name}" must be 1..64 of a-z 0-9 - starting with a letter`);
    const { displayName } = manifest.channels[name] as Manifest['channels'][string];
    if (displayName.length < 1 || displayName.length > 100)
      problems.push(`channel ${name}: displayName must be 1..100 characters`);
  }

  for (const [name, fn] of Object.entries(manifest.functions)) {
    // Lambda's own default account concurrency is 1000; the local pool is bounded the same way.
    if (!Number.isInteger(fn.maxConcurrency) || fn.maxConcurrency < 1 || fn.maxConcurrency > 1000)
      problems.push(`function ${name}: maxConcurrency must be an integer 1..1000`);
    for (const channel of fn.publishes ?? []) {
      if (!channels.has(channel)) problems.push(`function ${name}: publishes to unknown channel ${channel}`);
    }
    for (const topic of fn.produces) {
      if (!topics.has(topic)) problems.push(`function ${name}: produces to unknown topic ${topic}`);
    }
    for (const table of Object.keys(fn.tables)) {
      if (!tables.has(table)) problems.push(`function ${name}: uses unknown table ${table}`);
    }
    if (fn.trigger.kind === 'http') {
      const seen = new Set<string>();
      for (const route of fn.trigger.routes) {
        const id = `${route.method} ${route.resource}`;
        if (seen.has(id)) problems.push(`function ${name}: route ${id} is declared twice`);
        if (!/^(\/([A-Za-z0-9_-]+|\{[A-Za-z0-9_]+\}))+$/.test(route.resource))
          problems.push(
            `function ${name}: route resource "${route.resource}" is not a path like /orders/{id}`,
          );
        seen.add(id);
      }
      continue;
    }
    if (fn.trigger.kind === 'schedule') {
      const { rateMinutes } = fn.trigger;
      if (!Number.isInteger(rateMinutes) || rateMinutes < 1 || rateMinutes > 1440)
        problems.push(`function ${name}: rateMinutes must be an integer 1..1440`);
      continue;
    }
    const t = fn.trigger;
    if (!topics.has(t.topic)) problems.push(`function ${name}: trigger topic ${t.topic} is not declared`);
    if (!topics.has(t.onFailure))
      problems.push(`function ${name}: on-failure destination ${t.onFailure} is not declared`);
    if (t.onFailure === t.topic)
      problems.push(`function ${name}: on-failure destination must differ from its trigger topic ${t.topic}`);
    if (!Number.isInteger(t.batchSize) || t.batchSize < 1 || t.batchSize > 10_000)
      problems.push(`function ${name}: batchSize must be 1..10000`);
    if (
      !Number.isInteger(t.maximumBatchingWindowSeconds) ||
      t.maximumBatchingWindowSeconds < 0 ||
      t.maximumBatchingWindowSeconds > 300
    )
      problems.push(`function ${name}: maximumBatchingWindowSeconds must be an integer 0..300`);
    if (!Number.isInteger(t.retryAttempts) || t.retryAttempts < 0 || t.retryAttempts > 10_000)
      problems.push(`function ${name}: retryAttempts must be 0..10000`);
    problems.push(...errorHandlingProblems(name, t));
  }

  const triggers = Object.entries(manifest.functions).filter(([, fn]) => fn.trigger.kind === 'http');
  if (triggers.length > 1)
    problems.push(`only one function may serve HTTP, found ${triggers.map(([n]) => n).join(', ')}`);

  if (problems.length > 0) throw new ManifestError(problems);
  return manifest;
}
