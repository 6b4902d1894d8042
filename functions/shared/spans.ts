import { AsyncLocalStorage } from 'node:async_hooks';
import { newSpanId } from './trace-header.ts';

/**
 * One timed hop of an order, for the local runtime, which has no X-Ray: the same ids the Kafka trace
 * header carries, so the dashboard can put an order's hops in causal order. Nothing is built or kept
 * unless a listener is registered (`onSpans`: only `npm start`'s preloaded `local/dashboard/trace-feed.ts`
 * does), so on AWS this costs a Set lookup per hop.
 */
export interface Span {
  traceId: string;
  spanId: string;
  /** The span that caused this one (the producing span of a consumed record); none for a root. */
  parentId?: string;
  orderId: string;
  /** The function that recorded it. */
  source: string;
  /** `produce OrderConfirmed`, `queued`, `process`, `DynamoDB.TransactWriteItems`, `SNS.Publish`... */
  name: string;
  /** Epoch milliseconds, with the fraction `performance` gives. */
  startMs: number;
  durationMs: number;
  failed?: boolean;
}

type SpanListener = (spans: readonly Span[]) => void;
const listeners = new Set<SpanListener>();

/** Registers a listener for recorded spans; returns the unsubscription. */
export function onSpans(listener: SpanListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function recordingSpans(): boolean {
  return listeners.size > 0;
}

export function emitSpans(spans: readonly Span[]): void {
  if (spans.length === 0) return;
  for (const listener of listeners) listener(spans);
}

/** Epoch milliseconds with sub-millisecond precision: an order's local hops take a few ms each. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** The span work runs under (a record's `process`), so that calls made inside it become its children. */
export interface ActiveSpan {
  traceId: string;
  spanId: string;
  orderId: string;
  source: string;
}

const active = new AsyncLocalStorage<ActiveSpan>();

export function activeSpan(): ActiveSpan | undefined {
  return active.getStore();
}

/** Runs `fn` as `span`: the AWS calls it makes are recorded as its children. */
export function runInSpan<T>(span: ActiveSpan, fn: () => Promise<T>): Promise<T> {
  return active.run(span, fn);
}

/** Times `fn` as a child of the active span (when there is one and someone listens). */
export async function childSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const parent = activeSpan();
  if (!parent || !recordingSpans()) return fn();
  const startMs = nowMs();
  let failed = false;
  try {
    return await fn();
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    emitSpans([
      {
        traceId: parent.traceId,
        spanId: newSpanId(),
        parentId: parent.spanId,
        orderId: parent.orderId,
        source: parent.source,
        name,
        startMs,
        durationMs: nowMs() - startMs,
        ...(failed ? { failed } : {}),
      },
    ]);
  }
}

/** The part of an AWS SDK v3 client this module instruments. */
interface InstrumentableClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { clientName?: string; commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string; override?: boolean },
    ): void;
  };
}

/**
 * Adds a middleware that times every command (retries included) as a child span of the active span:
 * `DynamoDB.TransactWriteItems`, `SNS.Publish`. Outside a span, or with no listener, it only passes on.
 */
export function timeAwsCalls<C>(client: C): C {
  (client as unknown as InstrumentableClient).middlewareStack.add(
    (next, context) => (args) => {
      // DynamoDBClient and DynamoDBDocumentClient → DynamoDB, SNSClient → SNS.
      const service = (context.clientName ?? '').replace(/(Document)?Client$/, '');
      const command = (context.commandName ?? 'Command').replace(/Command$/, '');
      return childSpan(`${service || 'AWS'}.${command}`, () => next(args));
    },
    { step: 'initialize', name: 'orderPipelineSpans', override: true },
  );
  return client;
}
