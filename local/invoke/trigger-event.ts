import * as z from 'zod';
import { type FunctionName, manifest } from '../../topology/index.ts';

/**
 * What `npm run invoke` accepts for a function: only an event its trigger (per the manifest) could
 * deliver. Anything else ‒ `{}`, `null`, another function's event, records of a topic the function does
 * not consume ‒ is a usage error before the handler runs, so nothing is written on its behalf.
 */

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const Offset = z.number().int().nonnegative();

const MskRecord = z.object({
  topic: z.string().min(1),
  partition: z.number().int().nonnegative(),
  offset: Offset,
  timestamp: z.number().int().nonnegative(),
  timestampType: z.enum(['CREATE_TIME', 'LOG_APPEND_TIME']),
  key: Base64.optional(),
  value: Base64.optional(),
  headers: z.array(z.record(z.string(), z.array(z.number().int().min(0).max(255)))),
});

const MskEvent = z.object({
  eventSource: z.literal('aws:kafka'),
  eventSourceArn: z.string().regex(/^arn:aws[a-z-]*:kafka:/, 'must be an MSK cluster ARN'),
  bootstrapServers: z.string().min(1),
  records: z.record(z.string(), z.array(MskRecord).min(1)),
});

const StringMap = z.record(z.string(), z.string()).nullable();
const ListMap = z.record(z.string(), z.array(z.string())).nullable();

const ApiGatewayProxyEvent = z.object({
  resource: z.string().startsWith('/'),
  path: z.string().startsWith('/'),
  httpMethod: z.string().regex(/^[A-Z]+$/),
  headers: StringMap,
  multiValueHeaders: ListMap,
  queryStringParameters: StringMap,
  multiValueQueryStringParameters: ListMap,
  pathParameters: StringMap,
  stageVariables: StringMap,
  requestContext: z.looseObject({
    requestId: z.string().min(1),
    httpMethod: z.string(),
    resourcePath: z.string(),
    stage: z.string().min(1),
    identity: z.looseObject({ sourceIp: z.string() }),
  }),
  body: z.string().nullable(),
  isBase64Encoded: z.boolean(),
});

const ScheduledEvent = z.object({
  version: z.string(),
  id: z.string().min(1),
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
  account: z.string().regex(/^\d{12}$/),
  time: z.iso.datetime(),
  region: z.string().min(1),
  resources: z.array(z.string()),
  detail: z.record(z.string(), z.unknown()),
});

export type TriggerCheck = { ok: true } | { ok: false; error: string };

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

function checkKafka(event: unknown, topic: string): TriggerCheck {
  const parsed = MskEvent.safeParse(event);
  if (!parsed.success) return { ok: false, error: `not an MSK event: ${firstIssue(parsed.error)}` };
  const groups = Object.entries(parsed.data.records);
  if (groups.length === 0) return { ok: false, error: 'an MSK event without records' };
  for (const [group, records] of groups) {
    for (const record of records) {
      if (record.topic !== topic) {
        return { ok: false, error: `a record of ${record.topic}, and the function consumes only ${topic}` };
      }
      if (group !== `${record.topic}-${record.partition}`) {
        return {
          ok: false,
          error: `records["${group}"] holds a record of ${record.topic}-${record.partition}`,
        };
      }
    }
  }
  return { ok: true };
}

function checkHttp(
  event: unknown,
  routes: ReadonlyArray<{ method: string; resource: string }>,
): TriggerCheck {
  const parsed = ApiGatewayProxyEvent.safeParse(event);
  if (!parsed.success) {
    return { ok: false, error: `not an API Gateway proxy event: ${firstIssue(parsed.error)}` };
  }
  const { httpMethod, resource } = parsed.data;
  if (!routes.some((route) => route.method === httpMethod && route.resource === resource)) {
    const known = routes.map((route) => `${route.method} ${route.resource}`).join(', ');
    return { ok: false, error: `${httpMethod} ${resource} is not a route of the function (${known})` };
  }
  return { ok: true };
}

/** Whether `event` is one the function's trigger could deliver; if not, why (for a usage error). */
export function checkTriggerEvent(fn: FunctionName, event: unknown): TriggerCheck {
  const { trigger } = manifest.functions[fn];
  if (trigger.kind === 'kafka') return checkKafka(event, trigger.topic);
  if (trigger.kind === 'http') return checkHttp(event, trigger.routes);
  const parsed = ScheduledEvent.safeParse(event);
  return parsed.success
    ? { ok: true }
    : { ok: false, error: `not an EventBridge Scheduled Event: ${firstIssue(parsed.error)}` };
}
