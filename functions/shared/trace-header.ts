import { randomBytes } from 'node:crypto';
import * as z from 'zod';

/**
 * The Kafka header that carries an order's trace context from the step that produced a record to the step
 * that consumes it: X-Ray's tracing header, under its HTTP name, in its own format
 * (`Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`: X-Ray guide, "Tracing header",
 * https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader).
 * functions/README.md ("Tracing") says why this header and not W3C `traceparent`.
 */
export const TRACE_HEADER = 'x-amzn-trace-id';

/** X-Ray's header is about 80 characters; anything much longer is not one of ours. */
export const MAX_TRACE_HEADER_LENGTH = 256;

export interface TraceContext {
  /** X-Ray trace id, `1-<epoch seconds, 8 hex>-<24 hex>`. */
  traceId: string;
  /** The (sub)segment or span that produced the record: 16 hex digits. */
  parentId: string;
  sampled: boolean;
}

const TRACE_ID = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** The header's parts, each checked; other keys (X-Ray allows `Self=`, `Lineage=`...) are ignored. */
const TraceHeaderParts = z.object({
  Root: z.string().regex(TRACE_ID),
  Parent: z.string().regex(SPAN_ID),
  Sampled: z.enum(['0', '1', '?']).optional(),
});

/**
 * The trace context a record carries. The header is input from whoever wrote to the topic: a missing,
 * forged, malformed or oversized one is ignored (undefined: the record is processed as the start of its
 * trace), never an error.
 */
export function parseTraceHeader(value: unknown): TraceContext | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACE_HEADER_LENGTH) return undefined;
  const parts = Object.fromEntries(
    value.split(';').map((part) => {
      const at = part.indexOf('=');
      return at < 0 ? [part.trim(), ''] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    }),
  );
  const parsed = TraceHeaderParts.safeParse(parts);
  if (!parsed.success) return undefined;
  const { Root, Parent, Sampled } = parsed.data;
  return { traceId: Root, parentId: Parent, sampled: Sampled !== '0' };
}

export function formatTraceHeader(context: TraceContext): string {
  return `Root=${context.traceId};Parent=${context.parentId};Sampled=${context.sampled ? 1 : 0}`;
}

/** A new X-Ray trace id (the first part is the start time in epoch seconds, as X-Ray's SDKs make it). */
export function newTraceId(nowMs: number = Date.now()): string {
  const seconds = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  return `1-${seconds}-${randomBytes(12).toString('hex')}`;
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}
