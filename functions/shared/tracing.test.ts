import { afterEach, describe, expect, it } from 'vitest';
import type { EncodedRecord } from '../../events/codec.ts';
import { childSpan, onSpans, type Span } from './spans.ts';
import {
  formatTraceHeader,
  MAX_TRACE_HEADER_LENGTH,
  newSpanId,
  newTraceId,
  parseTraceHeader,
  TRACE_HEADER,
} from './trace-header.ts';
import { traceProduce, traceRecord, tracer, withTraceHeader } from './tracing.ts';

const ROOT = '1-5759e988-bd862e3fe1be46a994272793';
const PARENT = '53995c3f42cd8ad8';

describe('the trace header', () => {
  it("reads X-Ray's header, and writes what it reads", () => {
    const header = `Root=${ROOT};Parent=${PARENT};Sampled=1`;
    expect(parseTraceHeader(header)).toEqual({ traceId: ROOT, parentId: PARENT, sampled: true });
    expect(formatTraceHeader(parseTraceHeader(header) ?? { traceId: '', parentId: '', sampled: false })).toBe(
      header,
    );
    expect(parseTraceHeader(`Root=${ROOT};Parent=${PARENT};Sampled=0;Self=1-abc;Lineage=x`)?.sampled).toBe(
      false,
    );
  });

  it('ignores a forged, malformed or oversized header: undefined, never a throw', () => {
    const forged = [
      undefined,
      42,
      '',
      'garbage',
      `Root=${ROOT}`,
      `Root=2-5759e988-bd862e3fe1be46a994272793;Parent=${PARENT}`,
      `Root=${ROOT};Parent=53995c3f42cd8ad`,
      `Root=${ROOT};Parent=${PARENT};Sampled=yes`,
      `Root=${ROOT.toUpperCase()};Parent=${PARENT}`,
      `Root=${ROOT};Parent=${PARENT};${'x'.repeat(MAX_TRACE_HEADER_LENGTH)}`,
      `__proto__=1;Root=${ROOT}x;Parent=${PARENT}`,
    ];
    for (const value of forged) expect(parseTraceHeader(value), String(value)).toBeUndefined();
  });

  it('makes ids of X-Ray shape', () => {
    expect(
      parseTraceHeader(formatTraceHeader({ traceId: newTraceId(), parentId: newSpanId(), sampled: true })),
    ).toBeDefined();
    expect(newTraceId(0x5759e988 * 1000 + 999)).toMatch(/^1-5759e988-[0-9a-f]{24}$/);
  });
});

const record = (orderId: string, headers: Record<string, string> = {}): EncodedRecord => ({
  topic: 'OrderConfirmed',
  key: orderId,
  value: Buffer.from('{}'),
  headers,
});

describe('local spans (no X-Ray)', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  const listen = () => {
    const spans: Span[] = [];
    stop = onSpans((recorded) => spans.push(...recorded));
    return spans;
  };

  it('is off outside Lambda', () => {
    expect(tracer.isTracingEnabled()).toBe(false);
  });

  it('links a consumed record to its producer, its calls to it, and what it produces to it', async () => {
    const spans = listen();
    const header = formatTraceHeader({ traceId: ROOT, parentId: PARENT, sampled: true });
    const sent: EncodedRecord[] = [];
    const produced = await traceRecord(
      'warehouse',
      { orderId: 'o-1', traceHeader: header, producedAtMs: 1_000, invokedAtMs: 1_250 },
      async (hop) => {
        await childSpan('DynamoDB.UpdateItem', async () => undefined);
        return withTraceHeader([record('o-1')], hop);
      },
    );
    await traceProduce('warehouse', produced, async (records) => {
      sent.push(...records);
    });

    const named = (name: string) => spans.find((span) => span.name === name) as Span;
    expect(named('queued')).toMatchObject({
      traceId: ROOT,
      parentId: PARENT,
      startMs: 1_000,
      durationMs: 250,
    });
    expect(named('process')).toMatchObject({
      traceId: ROOT,
      parentId: PARENT,
      orderId: 'o-1',
      source: 'warehouse',
    });
    expect(named('DynamoDB.UpdateItem')).toMatchObject({ traceId: ROOT, parentId: named('process').spanId });
    const produce = named('produce OrderConfirmed');
    expect(produce).toMatchObject({ traceId: ROOT, parentId: named('process').spanId, orderId: 'o-1' });
    // The next hop's parent is the produce span.
    expect(parseTraceHeader(sent[0]?.headers[TRACE_HEADER])).toEqual({
      traceId: ROOT,
      parentId: produce.spanId,
      sampled: true,
    });
  });

  it('starts a trace for a record that came with a forged header, and for a first produce', async () => {
    const spans = listen();
    await traceRecord(
      'shipper',
      { orderId: 'o-2', traceHeader: 'Root=evil;Parent=<script>', invokedAtMs: Date.now() },
      async () => undefined,
    );
    const sent: EncodedRecord[] = [];
    await traceProduce('order-api', [record('o-3')], async (records) => {
      sent.push(...records);
    });
    const process = spans.find((span) => span.name === 'process');
    expect(process?.parentId).toBeUndefined();
    expect(process?.traceId).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(spans.some((span) => span.name === 'queued')).toBe(false);
    const first = spans.find((span) => span.orderId === 'o-3');
    expect(first?.parentId).toBeUndefined();
    expect(parseTraceHeader(sent[0]?.headers[TRACE_HEADER])?.parentId).toBe(first?.spanId);
  });

  it("gives a KPIs record the header but no span: it measures an invocation, not an order's hop", async () => {
    const spans = listen();
    const sent: EncodedRecord[] = [];
    await traceProduce(
      'inventory',
      [record('o-5'), { ...record('inventory'), topic: 'KPIs' }],
      async (records) => {
        sent.push(...records);
      },
    );
    expect(spans.map((span) => span.orderId)).toEqual(['o-5']);
    expect(sent.every((sentRecord) => parseTraceHeader(sentRecord.headers[TRACE_HEADER]) !== undefined)).toBe(
      true,
    );
  });

  it('records nothing, and still sets the header, when nobody listens', async () => {
    const spans: Span[] = [];
    const sent: EncodedRecord[] = [];
    await traceProduce('order-api', [record('o-4')], async (records) => {
      sent.push(...records);
    });
    expect(spans).toEqual([]);
    expect(parseTraceHeader(sent[0]?.headers[TRACE_HEADER])).toBeDefined();
  });
});
