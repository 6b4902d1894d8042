import * as z from 'zod';

/** The steps of the pipeline; every event names the one that produced it. */
export const StepName = z.enum([
  'order-api',
  'inventory',
  'inventory-release',
  'warehouse',
  'shipper',
  'notification',
  'kpis',
  'esm',
]);
export type StepName = z.infer<typeof StepName>;

/**
 * Builds the schema of one event type: the common envelope around a typed `data` payload.
 * `eventId` is the idempotency key of every consumer; `correlationId` is the order id.
 */
export function envelopeOf<const T extends string, D extends z.ZodType>(eventType: T, data: D) {
  return z.object({
    eventId: z.uuid(),
    eventType: z.literal(eventType),
    version: z.literal(1),
    occurredAt: z.iso.datetime({ offset: true }),
    correlationId: z.string().min(1).max(128),
    causationId: z.string().min(1).max(128),
    source: StepName,
    data,
  });
}

/** What every envelope has, whatever its payload. */
export const AnyEnvelope = envelopeOf('any', z.unknown()).extend({ eventType: z.string().min(1) });
export type AnyEnvelope = z.infer<typeof AnyEnvelope>;
