/**
 * The X-Ray path of tracing.ts, which only runs on AWS: Tracer turned on as in a Lambda environment, a root
 * segment set as Lambda's would be (not sampled, so nothing is sent to a daemon), then one record traced.
 */
import xray from 'aws-xray-sdk-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EncodedRecord } from '../../events/codec.ts';

type Tracing = typeof import('./tracing.ts');
/** What X-Ray's segment document holds (the SDK's types leave it out). */
const annotations = (subsegment: unknown) =>
  (subsegment as { annotations?: Record<string, unknown> })?.annotations;
type Headers = typeof import('./trace-header.ts');

describe('tracing on AWS (X-Ray on)', () => {
  let tracing: Tracing;
  let header: Headers;

  beforeAll(async () => {
    vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs24.x');
    vi.stubEnv('POWERTOOLS_TRACE_ENABLED', 'true');
    vi.stubEnv('POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS', 'false');
    vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'warehouse');
    vi.resetModules();
    tracing = await import('./tracing.ts');
    header = await import('./trace-header.ts');
  });

  afterAll(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('records each record as a subsegment annotated orderId, linking the upstream trace, and produces from it', async () => {
    expect(tracing.tracer.isTracingEnabled()).toBe(true);
    const upstream = '1-5759e988-bd862e3fe1be46a994272793';
    const root = new xray.Segment('warehouse', '1-6759e988-0123456789abcdef01234567');
    root.notTraced = true;
    const sent: EncodedRecord[] = [];
    await xray.getNamespace().runPromise(async () => {
      xray.setSegment(root);
      const produced = await tracing.traceRecord(
        'warehouse',
        {
          orderId: 'ord-1',
          traceHeader: `Root=${upstream};Parent=53995c3f42cd8ad8;Sampled=1`,
          invokedAtMs: Date.now(),
        },
        async (hop) =>
          tracing.withTraceHeader(
            [{ topic: 'OrderPickedAndPacked', key: 'ord-1', value: Buffer.from('{}'), headers: {} }],
            hop,
          ),
      );
      // With the invocation's KPIs record (keyed by the step): still one order's produce.
      const kpis = { topic: 'KPIs', key: 'warehouse', value: Buffer.from('{}'), headers: {} } as const;
      await tracing.traceProduce('warehouse', [...produced, kpis], async (records) => {
        sent.push(...records);
      });
    });

    const [record, produce] = root.subsegments ?? [];
    expect(record?.name).toBe('## warehouse record');
    expect(annotations(record)).toMatchObject({ orderId: 'ord-1', upstreamTraceId: upstream });
    expect(produce?.name).toBe('## kafka produce');
    expect(annotations(produce)).toMatchObject({ orderId: 'ord-1' });
    // The next hop links this one: this invocation's trace, from the record's subsegment.
    expect(header.parseTraceHeader(sent[0]?.headers[header.TRACE_HEADER])).toMatchObject({
      traceId: root.trace_id,
      parentId: record?.id,
    });
  });

  it('ignores a forged header without failing the record', async () => {
    const root = new xray.Segment('warehouse', '1-6759e988-0123456789abcdef01234568');
    root.notTraced = true;
    const result = await xray.getNamespace().runPromise(async () => {
      xray.setSegment(root);
      return tracing.traceRecord(
        'warehouse',
        { orderId: 'ord-2', traceHeader: `Root=1-x;Parent=${'f'.repeat(300)}`, invokedAtMs: Date.now() },
        async () => 'done',
      );
    });
    expect(result).toBe('done');
    expect(annotations(root.subsegments?.[0])).toEqual({ orderId: 'ord-2' });
  });
});
