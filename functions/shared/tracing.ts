import { Tracer } from '@aws-lambda-powertools/tracer';
import type { EncodedRecord } from '../../events/codec.ts';
import {
  type ActiveSpan,
  activeSpan,
  emitSpans,
  nowMs,
  recordingSpans,
  runInSpan,
  type Span,
  timeAwsCalls,
} from './spans.ts';
import {
  formatTraceHeader,
  newSpanId,
  newTraceId,
  parseTraceHeader,
  TRACE_HEADER,
  type TraceContext,
} from './trace-header.ts';

/**
 * The execution environment's Powertools Tracer. Its service is `POWERTOOLS_SERVICE_NAME`, which the stack
 * sets per function. It is off outside Lambda (no `AWS_EXECUTION_ENV`), in unit tests, and in the local
 * runtime, which sets `POWERTOOLS_TRACE_ENABLED=false` (it has no X-Ray daemon): then every call below is
 * a no-op and the X-Ray SDK's context-missing strategy is silent, so nothing reaches the logs.
 */
export const tracer = new Tracer();

type XraySubsegment = NonNullable<ReturnType<Tracer['getSegment']>>;

/** The X-Ray annotation every segment of an order carries: `annotation.orderId = "<id>"` finds them all. */
export const ORDER_ID_ANNOTATION = 'orderId';

/** An AWS SDK v3 client whose calls are X-Ray subsegments on AWS and child spans locally. */
export function captureAwsClient<C>(client: C): C {
  return timeAwsCalls(tracer.captureAWSv3Client(client));
}

/** The trace context of the X-Ray (sub)segment running now, for a record produced from it. */
function xrayContext(): TraceContext | undefined {
  if (!tracer.isTracingEnabled()) return undefined;
  const current = tracer.provider.getSegment();
  const traceId = current && ('trace_id' in current ? current.trace_id : current.segment?.trace_id);
  if (!current || !traceId) return undefined;
  return { traceId, parentId: current.id, sampled: tracer.isTraceSampled() };
}

/** Runs `fn` inside a new X-Ray subsegment (concurrent records each get their own), closed when it settles. */
function inSubsegment<T>(name: string, fn: (subsegment: XraySubsegment) => Promise<T>): Promise<T> {
  if (!tracer.isTracingEnabled() || !tracer.provider.getSegment()) {
    return fn(undefined as unknown as XraySubsegment);
  }
  return new Promise<T>((resolve, reject) => {
    tracer.provider.captureAsyncFunc(name, async (subsegment) => {
      const segment = subsegment as XraySubsegment;
      try {
        resolve(await fn(segment));
        segment.close();
      } catch (error) {
        segment.close(error as Error);
        reject(error);
      }
    });
  });
}

/** What a consumed record says about its order's trace. */
export interface ConsumedRecord {
  orderId: string;
  /** The record's trace header, untrusted: validated here, ignored when it is not one. */
  traceHeader: unknown;
  /** When the broker stamped the record (its Kafka timestamp, epoch ms); waiting starts there. */
  producedAtMs?: number;
  /** When the invocation that got the record started (epoch ms). */
  invokedAtMs: number;
}

/**
 * Processes one consumed record as a hop of its order's trace. On AWS: an X-Ray subsegment `## <source>
 * record` annotated with `orderId`, and with the upstream trace (`upstreamTraceId`): the Lambda segment
 * itself belongs to the invocation's trace (one per batch of many orders), so each record links the
 * trace it came from instead of continuing it. Locally: a `queued` span (Kafka timestamp → invocation)
 * and a `process` span, children of the producing span, whose AWS calls become their children.
 * `fn` gets the trace header for what this record produces.
 */
export function traceRecord<T>(
  source: string,
  record: ConsumedRecord,
  fn: (produced: TraceContext) => Promise<T>,
): Promise<T> {
  const upstream = parseTraceHeader(record.traceHeader);
  return inSubsegment(`## ${source} record`, async (subsegment) => {
    subsegment?.addAnnotation(ORDER_ID_ANNOTATION, record.orderId);
    if (upstream) subsegment?.addAnnotation('upstreamTraceId', upstream.traceId);
    const aws = xrayContext();
    const local: ActiveSpan = {
      traceId: upstream?.traceId ?? aws?.traceId ?? newTraceId(),
      spanId: newSpanId(),
      orderId: record.orderId,
      source,
    };
    // What this hop produces carries this hop's context: on AWS the record's subsegment in the
    // invocation's trace (the next hop links it), locally the order's one trace, from this span.
    const produced: TraceContext = aws ?? {
      traceId: local.traceId,
      parentId: local.spanId,
      sampled: upstream?.sampled ?? true,
    };
    if (!recordingSpans()) return fn(produced);
    const startMs = nowMs();
    let failed = false;
    try {
      return await runInSpan(local, () => fn(produced));
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      emitSpans(consumedSpans(local, upstream, record, startMs, failed));
    }
  });
}

function consumedSpans(
  local: ActiveSpan,
  upstream: TraceContext | undefined,
  record: ConsumedRecord,
  startMs: number,
  failed: boolean,
): Span[] {
  const base = { traceId: local.traceId, orderId: local.orderId, source: local.source };
  const parent = upstream ? { parentId: upstream.parentId } : {};
  const spans: Span[] = [
    { ...base, ...parent, spanId: local.spanId, name: 'process', startMs, durationMs: nowMs() - startMs },
  ];
  if (failed) (spans[0] as Span).failed = true;
  const { producedAtMs, invokedAtMs } = record;
  if (producedAtMs !== undefined && producedAtMs <= invokedAtMs) {
    spans.push({
      ...base,
      ...parent,
      spanId: newSpanId(),
      name: 'queued',
      startMs: producedAtMs,
      durationMs: invokedAtMs - producedAtMs,
    });
  }
  return spans;
}

/**
 * Sends `records` inside a `## kafka produce` subsegment (on AWS) and gives each record the trace header
 * of its hop: the one its step set (`withTraceHeader`), else the running segment's (order-api, the
 * sweeper), else a new trace. Locally each record's produce is a span, child of the hop that caused it.
 */
export async function traceProduce(
  source: string,
  records: readonly EncodedRecord[],
  send: (records: readonly EncodedRecord[]) => Promise<void>,
): Promise<void> {
  return inSubsegment('## kafka produce', async (subsegment) => {
    subsegment?.addMetadata('records', records.length);
    const orderIds = [...new Set(records.filter(isOrderHop).map((record) => record.key))];
    if (orderIds.length === 1) subsegment?.addAnnotation(ORDER_ID_ANNOTATION, orderIds[0] as string);
    const running = xrayContext() ?? localContext();
    const hops = records.map((record) => produceHop(record, running));
    const startMs = nowMs();
    let failed = false;
    try {
      await send(hops.map((hop) => hop.record));
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      if (recordingSpans()) {
        const durationMs = nowMs() - startMs;
        const orderHops = hops.filter((hop) => isOrderHop(hop.record));
        emitSpans(orderHops.map((hop) => hop.span(source, startMs, durationMs, failed)));
      }
    }
  });
}

/** A KPIs record measures an invocation (keyed by its step), not a hop of one order: no span, no annotation. */
const isOrderHop = (record: EncodedRecord) => record.topic !== 'KPIs';

function localContext(): TraceContext | undefined {
  const span = activeSpan();
  return span && { traceId: span.traceId, parentId: span.spanId, sampled: true };
}

/** A record with the header of its produce hop, and that hop's span (locally). */
function produceHop(record: EncodedRecord, running: TraceContext | undefined) {
  const cause = parseTraceHeader(record.headers[TRACE_HEADER]) ?? running;
  const traceId = cause?.traceId ?? newTraceId();
  // Locally the produce is a span of its own, between its cause and the consumer; on AWS the X-Ray
  // subsegment's id is already the parent.
  const spanId = tracer.isTracingEnabled() && cause ? cause.parentId : newSpanId();
  const header = formatTraceHeader({ traceId, parentId: spanId, sampled: cause?.sampled ?? true });
  return {
    record: { ...record, headers: { ...record.headers, [TRACE_HEADER]: header } },
    span: (source: string, startMs: number, durationMs: number, failed: boolean): Span => ({
      traceId,
      spanId,
      ...(cause ? { parentId: cause.parentId } : {}),
      orderId: record.key,
      source,
      name: `produce ${record.topic}`,
      startMs,
      durationMs,
      ...(failed ? { failed } : {}),
    }),
  };
}

/** `records` carrying the trace context of the hop that produced them. */
export function withTraceHeader(records: readonly EncodedRecord[], context: TraceContext): EncodedRecord[] {
  const header = formatTraceHeader(context);
  return records.map((record) => ({ ...record, headers: { ...record.headers, [TRACE_HEADER]: header } }));
}
