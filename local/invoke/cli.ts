/**
 * `npm run invoke -- <function> [<sample name> | <event.json>] [--table-prefix <prefix>]`: runs one function's
 * handler once with one event, like `sam local invoke` (local/README.md). Its logs go to stderr, its result to
 * stdout as JSON; exit 0 the handler succeeded, 1 it failed, 2 bad input or unreachable services.
 *
 * It accepts only an event the function's trigger (per the manifest) could deliver. Anything else ‒ `{}`,
 * `null`, another function's event, records of a topic the function does not consume ‒ is a usage error
 * before the handler runs, so nothing is written on its behalf. The shapes are Powertools' parser schemas,
 * the ones a handler would parse its event with.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  APIGatewayProxyEventSchema,
  EventBridgeSchema,
  KafkaMskEventSchema,
} from '@aws-lambda-powertools/parser/schemas';
import type * as z from 'zod';
import { resetClients } from '../../functions/shared/lifecycle.ts';
import { type CommandLine, readCommandLine, UsageError } from '../../tools/command-line.ts';
import { type FunctionName, functionNames, manifest } from '../../topology/index.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import {
  brokersFromEnv,
  DEFAULT_DYNAMODB_PORT,
  DEFAULT_KAFKA_PORT,
  DEFAULT_SNS_PORT,
} from '../infra/index.ts';
import { kafkaAnswers } from '../infra/kafka.ts';
import { answersHttp, waitUntilReady } from '../infra/process.ts';
import { projectRoot } from '../python/venv.ts';
import { applyEnvironment, functionEnvironment } from '../runtime/environment.ts';
import { describeError, inProcessInvoker, type LambdaHandler } from '../runtime/lambda-context.ts';
import { buildSamples, samplesDir, samplesFor, sampleText } from './samples.ts';

const samples = buildSamples();
const usage = [
  'usage: npm run invoke -- <function> [<sample name> | <event.json>] [--table-prefix <prefix>]',
  `  functions: ${functionNames.join(', ')}`,
  `  samples:   ${Object.keys(samples).join(', ')} (events/samples/)`,
  '  uses KAFKA_BROKERS / DYNAMODB_ENDPOINT, default the local ones (npm start or npm run infra)',
].join('\n');

/** The event as `schema` parses it, or why it is not `what`. */
function parse<T extends object>(schema: z.ZodType<T>, what: string, event: unknown): T | string {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join('.');
  return `not ${what}: ${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}`;
}

/** Why the function's trigger could not deliver `event` (for a usage error); undefined when it could. */
export function triggerMismatch(fn: FunctionName, event: unknown): string | undefined {
  const { trigger } = manifest.functions[fn];
  if (trigger.kind === 'kafka') {
    const parsed = parse(KafkaMskEventSchema, 'an MSK event', event);
    if (typeof parsed === 'string') return parsed;
    const groups = Object.entries(parsed.records);
    if (groups.length === 0) return 'an MSK event without records';
    for (const [group, records] of groups)
      for (const { topic, partition } of records) {
        if (topic !== trigger.topic)
          return `a record of ${topic}, and the function consumes only ${trigger.topic}`;
        if (group !== `${topic}-${partition}`)
          return `records["${group}"] holds a record of ${topic}-${partition}`;
      }
    return undefined;
  }
  if (trigger.kind === 'http') {
    const parsed = parse(APIGatewayProxyEventSchema, 'an API Gateway proxy event', event);
    if (typeof parsed === 'string') return parsed;
    const { httpMethod, resource } = parsed;
    if (trigger.routes.some((route) => route.method === httpMethod && route.resource === resource))
      return undefined;
    const known = trigger.routes.map((route) => `${route.method} ${route.resource}`).join(', ');
    return `${httpMethod} ${resource} is not a route of the function (${known})`;
  }
  const parsed = parse(EventBridgeSchema, 'an EventBridge Scheduled Event', event);
  if (typeof parsed === 'string') return parsed;
  const { source, 'detail-type': type } = parsed;
  return source === 'aws.events' && type === 'Scheduled Event'
    ? undefined
    : `not an EventBridge Scheduled Event: ${source} / ${type}`;
}

/** How long each service may take to answer before the invocation is given up (exit 2). */
const REACH_TIMEOUT_MS = 5_000;
/** Physical names are `<prefix>-<table>`: DynamoDB allows 3-255 characters of [A-Za-z0-9_.-]. */
const TablePrefix = /^[A-Za-z0-9_.-]{1,200}$/;

/** The event a sample name or a file gives, when the function's trigger could deliver it; else a UsageError. */
async function readEvent(
  fn: FunctionName,
  arg: string | undefined,
): Promise<{ label: string; event: unknown }> {
  const name = arg ?? (samplesFor(fn)[0] as string);
  const sample = samples[name.replace(/\.json$/, '')];
  const isSample = sample !== undefined && !existsSync(name);
  // A sample's checked-in file when present (the same bytes a user can read and edit), else a file.
  const path = isSample ? join(samplesDir, `${name.replace(/\.json$/, '')}.json`) : name;
  const text = await readFile(path, 'utf8').catch(() => (isSample ? sampleText(sample) : undefined));
  const label = isSample ? `sample ${name}` : name;
  const ownSamples = `${fn}'s samples: ${samplesFor(fn).join(', ')}`;
  if (text === undefined)
    throw new UsageError(
      `"${name}" is neither a sample nor a readable file; ${ownSamples} (all: ${Object.keys(samples).join(', ')})`,
    );
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${name} is not JSON: ${(error as Error).message}`);
  }
  const mismatch = triggerMismatch(fn, event);
  if (mismatch)
    throw new UsageError(`${label} is not an event of ${fn}'s trigger: ${mismatch}; ${ownSamples}`);
  return { label, event };
}

async function checkReachable(brokers: string[], endpoint: string): Promise<void> {
  const [kafka, dynamodb] = await Promise.allSettled([
    waitUntilReady('kafka', 'Kafka', kafkaAnswers(brokers), { timeoutMs: REACH_TIMEOUT_MS }),
    waitUntilReady('dynamodb', 'DynamoDB', answersHttp(endpoint), { timeoutMs: REACH_TIMEOUT_MS }),
  ]);
  const missing = [
    ...(kafka.status === 'rejected' ? [`Kafka at ${brokers.join(',')}`] : []),
    ...(dynamodb.status === 'rejected' ? [`DynamoDB at ${endpoint}`] : []),
  ];
  if (missing.length > 0)
    throw new UsageError(
      `${missing.join(' and ')} not reachable: start them with npm run infra (or npm start) in another shell, or set KAFKA_BROKERS / DYNAMODB_ENDPOINT`,
    );
}

const options = { 'table-prefix': { type: 'string' } } as const;
/** The function, the event argument and the table prefix the command line names; a UsageError if it does not. */
function invocationOf({ values, positionals }: CommandLine<typeof options, true>) {
  const [fn, eventArg, ...extra] = positionals;
  if (fn === undefined) throw new UsageError('which function?');
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!(functionNames as string[]).includes(fn)) throw new UsageError(`unknown function "${fn}"`);
  const tablePrefix = values['table-prefix'];
  if (tablePrefix !== undefined && !TablePrefix.test(tablePrefix))
    throw new UsageError(
      `--table-prefix must be 1-200 characters of A-Z a-z 0-9 _ . -, got "${tablePrefix}"`,
    );
  return { fn: fn as FunctionName, eventArg, tablePrefix };
}

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options, allowPositionals: true }, invocationOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const { fn, eventArg, tablePrefix } = command.settings;
  const brokers = brokersFromEnv() ?? [`127.0.0.1:${DEFAULT_KAFKA_PORT}`];
  const endpoint =
    process.env[RuntimeEnv.dynamodbEndpoint]?.trim() || `http://127.0.0.1:${DEFAULT_DYNAMODB_PORT}`;
  const snsEndpoint = process.env[RuntimeEnv.snsEndpoint]?.trim() || `http://127.0.0.1:${DEFAULT_SNS_PORT}`;
  let invocation: { label: string; event: unknown };
  try {
    invocation = await readEvent(fn, eventArg);
    await checkReachable(brokers, endpoint);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    return 2;
  }
  applyEnvironment(
    functionEnvironment(fn, {
      kafkaBrokers: brokers,
      dynamodbEndpoint: endpoint,
      snsEndpoint,
      ...(tablePrefix !== undefined ? { tablePrefix } : {}),
    }),
  );
  console.error(`START ${fn} with ${invocation.label} (Kafka ${brokers.join(',')}, DynamoDB ${endpoint})`);
  return run(fn, invocation.event);
}

/** Runs the handler; its logs (Powertools writes to stdout) go to stderr, keeping stdout for the result. */
async function run(fn: FunctionName, event: unknown): Promise<number> {
  const spec = manifest.functions[fn];
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  const started = performance.now();
  try {
    // In this process, not an execution environment: one invocation, its logs and result here.
    const module = (await import(pathToFileURL(resolve(projectRoot, spec.entry)).href)) as {
      handler?: unknown;
    };
    if (typeof module.handler !== 'function')
      throw new Error(`${spec.entry} does not export a function named handler`);
    const handler = module.handler as LambdaHandler;
    const identity = { functionName: fn, memoryMb: spec.memoryMb, timeoutSeconds: spec.timeoutSeconds };
    const outcome = await inProcessInvoker(identity, handler)(event);
    console.error(`END RequestId: ${outcome.requestId}`);
    if (outcome.status === 'error') {
      const { errorType, errorMessage } = outcome;
      console.error(JSON.stringify({ errorType, errorMessage }, null, 2));
      return 1;
    }
    const { requestId, payload: result } = outcome;
    console.error(`REPORT RequestId: ${requestId}  Duration: ${(performance.now() - started).toFixed(2)} ms`);
    stdoutWrite(`${JSON.stringify(result ?? null, null, 2)}\n`);
    const { batchItemFailures: failed = [] } = (result ?? {}) as { batchItemFailures?: unknown[] };
    if (failed.length === 0) return 0;
    // A partial batch response: the invocation succeeded, but the mapping would retry these partitions.
    const named = failed.map((failure) => {
      const { partition, offset } =
        (failure as { itemIdentifier?: { partition?: unknown; offset?: unknown } })?.itemIdentifier ?? {};
      return `${String(partition)}@${String(offset)}`;
    });
    console.error(
      `${fn} reported ${failed.length} failed record(s) (batchItemFailures): the mapping would retry ${named.join(', ')} and what follows on each partition`,
    );
    return 1;
  } catch (error) {
    // The handler's module did not load: no invocation began.
    console.error('END RequestId: ');
    console.error(JSON.stringify(describeError(error), null, 2));
    return 1;
  } finally {
    process.stdout.write = stdoutWrite;
    // The function's Kafka producer and clients, so that the process can exit.
    await resetClients().catch(() => undefined);
  }
}

if (import.meta.main) {
  process.exitCode = await main();
  // A client the function left open must not hold the process: the result is out, the exit code set.
  setTimeout(() => process.exit(), 2_000).unref();
}
