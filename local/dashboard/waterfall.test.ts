import { describe, expect, it } from 'vitest';
import type { Span } from '../../functions/shared/spans.ts';
import { SpanSchema, waterfall } from './waterfall.ts';

const T = '1-5759e988-bd862e3fe1be46a994272793';
const span = (spanId: string, parentId: string | undefined, source: string, name: string, startMs: number) =>
  ({
    traceId: T,
    spanId,
    ...(parentId ? { parentId } : {}),
    orderId: 'o-1',
    source,
    name,
    startMs,
    durationMs: 2,
  }) satisfies Span;

// One order: the API produces, inventory consumes and produces OrderConfirmed, the warehouse produces a
// notification and OrderPickedAndPacked; the notification is processed before the shipper.
const journey: Span[] = [
  span('a', undefined, 'order-api', 'produce OrderReceived', 1_000),
  span('b', 'a', 'inventory', 'queued', 1_003),
  span('c', 'a', 'inventory', 'process', 1_010.44),
  span('d', 'c', 'inventory', 'DynamoDB.TransactWriteItems', 1_011),
  span('e', 'c', 'inventory', 'produce OrderConfirmed', 1_020),
  span('f', 'e', 'warehouse', 'process', 1_030),
  span('g', 'f', 'warehouse', 'produce Notification', 1_040),
  span('h', 'f', 'warehouse', 'produce OrderPickedAndPacked', 1_040),
  span('i', 'g', 'notification', 'process', 1_045),
  span('j', 'i', 'notification', 'SNS.Publish', 1_046),
  span('k', 'h', 'shipper', 'process', 1_050),
];

const labels = (spans: readonly Span[]) => waterfall(spans).map((row) => `${row.source} ${row.name}`);

describe('an order waterfall', () => {
  it('puts every hop after its cause, whatever order the spans arrived in, with ms offsets', () => {
    const expected = labels(journey);
    // Arrival order: the notification's spans first (its environment answered first), the API's last.
    const arrived = [...journey].reverse();
    expect(labels(arrived)).toEqual(expected);
    expect(expected.indexOf('warehouse produce Notification')).toBeLessThan(
      expected.indexOf('notification process'),
    );
    expect(expected.indexOf('warehouse process')).toBeLessThan(expected.indexOf('notification process'));
    expect(expected[0]).toBe('order-api produce OrderReceived');
    const rows = waterfall(arrived);
    expect(rows.find((row) => row.name === 'process' && row.source === 'inventory')).toMatchObject({
      offsetMs: 10.4,
      depth: 1,
    });
    expect(rows.find((row) => row.name === 'SNS.Publish')).toMatchObject({ offsetMs: 46, depth: 6 });
  });

  it('depth first: a hop is followed by what it did before its siblings caused later', () => {
    expect(labels(journey)).toEqual([
      'order-api produce OrderReceived',
      'inventory queued',
      'inventory process',
      'inventory DynamoDB.TransactWriteItems',
      'inventory produce OrderConfirmed',
      'warehouse process',
      'warehouse produce Notification',
      'notification process',
      'notification SNS.Publish',
      'warehouse produce OrderPickedAndPacked',
      'shipper process',
    ]);
  });

  it('never starts a span before its cause (Kafka timestamps are whole ms), and keeps its end', () => {
    const produce = span('a', undefined, 'order-api', 'produce OrderReceived', 1_000.6);
    const queued = { ...span('b', 'a', 'inventory', 'queued', 1_000), durationMs: 5 };
    expect(waterfall([queued, produce]).map((row) => [row.name, row.offsetMs, row.durationMs])).toEqual([
      ['produce OrderReceived', 0, 2],
      ['queued', 0, 4.4],
    ]);
  });

  it('keeps spans whose parent is unknown, and cuts forged cycles, each span once', () => {
    const orphan = span('x', 'missing', 'shipper', 'process', 990);
    const cycle = [span('p', 'q', 'kpis', 'process', 2_000), span('q', 'p', 'kpis', 'queued', 2_001)];
    const rows = waterfall([...journey, orphan, ...cycle]);
    expect(rows).toHaveLength(journey.length + 3);
    expect(rows[0]).toMatchObject({ source: 'shipper', offsetMs: 0 });
    expect(waterfall([])).toEqual([]);
  });

  it('checks what crosses the process boundary', () => {
    expect(SpanSchema.safeParse(journey[0]).success).toBe(true);
    expect(SpanSchema.safeParse({ ...journey[0], durationMs: -1 }).success).toBe(false);
    expect(SpanSchema.safeParse({ ...journey[0], name: 'x'.repeat(500) }).success).toBe(false);
  });
});
