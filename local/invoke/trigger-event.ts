/**
 * What `npm run invoke` accepts for a function: only an event its trigger (per the manifest) could
 * deliver. Anything else ‒ `{}`, `null`, another function's event, records of a topic the function does
 * not consume ‒ is a usage error before the handler runs, so nothing is written on its behalf. The shapes
 * are Powertools' parser schemas, the ones a handler would parse its event with.
 */
import {
  APIGatewayProxyEventSchema,
  EventBridgeSchema,
  KafkaMskEventSchema,
} from '@aws-lambda-powertools/parser/schemas';
import type * as z from 'zod';
import { type FunctionName, manifest } from '../../topology/index.ts';

export type TriggerCheck = { ok: true } | { ok: false; error: string };

function parse<T>(schema: z.ZodType<T>, what: string, event: unknown): { data: T } | { error: string } {
  const parsed = schema.safeParse(event);
  if (parsed.success) return { data: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join('.');
  return { error: `not ${what}: ${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}` };
}

function checkKafka(event: unknown, topic: string): TriggerCheck {
  const parsed = parse(KafkaMskEventSchema, 'an MSK event', event);
  if ('error' in parsed) return { ok: false, error: parsed.error };
  const groups = Object.entries(parsed.data.records);
  if (groups.length === 0) return { ok: false, error: 'an MSK event without records' };
  for (const [group, records] of groups) {
    for (const record of records) {
      if (record.topic !== topic)
        return { ok: false, error: `a record of ${record.topic}, and the function consumes only ${topic}` };
      if (group !== `${record.topic}-${record.partition}`)
        return {
          ok: false,
          error: `records["${group}"] holds a record of ${record.topic}-${record.partition}`,
        };
    }
  }
  return { ok: true };
}

/** Whether `event` is one the function's trigger could deliver; if not, why (for a usage error). */
export function checkTriggerEvent(fn: FunctionName, event: unknown): TriggerCheck {
  const { trigger } = manifest.functions[fn];
  if (trigger.kind === 'kafka') return checkKafka(event, trigger.topic);
  if (trigger.kind === 'http') {
    const parsed = parse(APIGatewayProxyEventSchema, 'an API Gateway proxy event', event);
    if ('error' in parsed) return { ok: false, error: parsed.error };
    const { httpMethod, resource } = parsed.data;
    if (trigger.routes.some((route) => route.method === httpMethod && route.resource === resource))
      return { ok: true };
    const known = trigger.routes.map((route) => `${route.method} ${route.resource}`).join(', ');
    return { ok: false, error: `${httpMethod} ${resource} is not a route of the function (${known})` };
  }
  const parsed = parse(EventBridgeSchema, 'an EventBridge Scheduled Event', event);
  if ('error' in parsed) return { ok: false, error: parsed.error };
  const { source, 'detail-type': type } = parsed.data;
  return source === 'aws.events' && type === 'Scheduled Event'
    ? { ok: true }
    : { ok: false, error: `not an EventBridge Scheduled Event: ${source} / ${type}` };
}
