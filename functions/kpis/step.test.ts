import { describe, expect, it } from 'vitest';
import type { KpiRecorded } from '../../events/schemas/events.ts';
import { batchProcessor } from '../shared/consumer.ts';
import { count, kpiRecord, latency } from '../shared/kpis.ts';
import {
  fakeContext,
  fromEncoded,
  MemoryPersistenceLayer,
  mskEvent,
  mskRecord,
  RecordingProducer,
  silentLogger,
  storedMetrics,
  testMetrics,
} from '../shared/testing.ts';
import { KpiMetrics, onKpisPublished } from './metrics.ts';
import { kpisStep } from './step.ts';

const now = new Date('2026-11-24T10:00:03.000Z');

/** The KPIs record `step` would produce for one invocation that measured `orders`. */
type KpiArgs = Parameters<typeof kpiRecord>;
const measured = (step: KpiArgs[0], invocation: string, orders: KpiArgs[2]) => {
  const encoded = kpiRecord(step, invocation, orders, now);
  if (!encoded) throw new Error('nothing measured');
  return encoded;
};

const shipperRecord = (invocation: string, orderIds: string[]) =>
  measured(
    'shipper',
    invocation,
    orderIds.map((orderId, i) => ({
      orderId,
      kpis: [count('OrdersShipped'), latency('EndToEndLatency', `2026-11-24T10:00:0${i}.000Z`, now)],
    })),
  );

function setup() {
  const sink = new KpiMetrics();
  const producer = new RecordingProducer();
  const own = testMetrics();
  const process = batchProcessor(kpisStep(sink), {
    logger: silentLogger(),
    metrics: own,
    deps: { produce: producer.produce, deadLetterStore: new MemoryPersistenceLayer(), now: () => now },
  });
  return { sink, producer, own, process };
}

describe('kpis function', () => {
  it("turns each KPI record into EMF metrics of the reporting step's service, with the same names", async () => {
    const { sink, producer, process } = setup();
    const inventory = measured('inventory', 'inv|1', [{ orderId: 'o-1', kpis: [count('OrdersRejected')] }]);
    const report = await process(
      mskEvent([fromEncoded(shipperRecord('ship|1', ['o-1', 'o-2']), 1), fromEncoded(inventory, 2)]),
      fakeContext(),
    );
    expect(report).toEqual({ processed: 2, duplicates: 0, deadLettered: 0 });
    const shipper = sink.of('shipper');
    expect(storedMetrics(shipper)).toEqual({ OrdersShipped: [1, 1], EndToEndLatency: [3000, 2000] });
    const emf = shipper.serializeMetrics() as unknown as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
    };
    // The one dimension the dashboard's SEARCH and the alarms' metrics use.
    expect(emf.service).toBe('shipper');
    expect(emf._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
    expect(emf._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({
      Name: 'EndToEndLatency',
      Unit: 'Milliseconds',
    });
    expect(storedMetrics(sink.of('inventory'))).toEqual({ OrdersRejected: [1] });
    // It reads the KPIs topic: a KPIs record of its own would come back to it.
    expect(producer.sent).toEqual([]);
  });

  it('publishes once per record: a redelivered record adds nothing, listeners hear each record once', async () => {
    const { sink, process } = setup();
    const heard: KpiRecorded[] = [];
    const off = onKpisPublished((records) => heard.push(...records));
    try {
      const batch = mskEvent([fromEncoded(shipperRecord('ship|7', ['o-7']), 7)]);
      await process(batch, fakeContext());
      sink.publish();
      expect(heard.map((r) => r.data.orderIds)).toEqual([['o-7']]);
      const report = await process(batch, fakeContext());
      expect(report).toEqual({ processed: 0, duplicates: 1, deadLettered: 0 });
      sink.publish();
      expect(storedMetrics(sink.of('shipper'))).toEqual({});
      expect(heard).toHaveLength(1);
    } finally {
      off();
    }
  });

  it('forgets what a failed invocation stored, so its retry counts it once', async () => {
    const { sink, process } = setup();
    const batch = mskEvent([fromEncoded(shipperRecord('ship|9', ['o-9']), 9)]);
    await process(batch, fakeContext());
    sink.clear();
    await process(batch, fakeContext());
    expect(storedMetrics(sink.of('shipper')).OrdersShipped).toEqual([1]);
  });

  it('dead-letters a record that is not a KPI record, counting it as its own EMF metric', async () => {
    const { producer, own, process } = setup();
    const poison = mskRecord({ topic: 'KPIs', offset: 3, key: 'shipper', value: '{"eventType":"nope"}' });
    const report = await process(mskEvent([poison]), fakeContext());
    expect(report).toEqual({ processed: 0, duplicates: 0, deadLettered: 1 });
    expect(producer.on('DeadLetterQueue')[0]?.data).toMatchObject({ function: 'kpis', reason: 'poison' });
    expect(producer.on('KPIs')).toEqual([]);
    expect(storedMetrics(own)).toEqual({ RecordsDeadLettered: [1] });
  });

  it('dead-letters a schema-valid record its step cannot have measured, and counts none of it', async () => {
    const { sink, producer, process } = setup();
    const forged = measured('inventory-release', 'rel|1', [
      { orderId: 'o-1', kpis: [count('OrdersCancelled')] },
    ]);
    const report = await process(
      mskEvent([fromEncoded(forged, 1), fromEncoded(shipperRecord('ship|2', ['o-2']), 2)]),
      fakeContext(),
    );
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1 });
    expect(producer.on('DeadLetterQueue')[0]?.data).toMatchObject({
      function: 'kpis',
      reason: 'poison',
      error: {
        name: 'ImplausibleKpisError',
        message: expect.stringContaining('does not report OrdersCancelled'),
      },
    });
    expect(storedMetrics(sink.of('inventory-release'))).toEqual({});
    expect(storedMetrics(sink.of('shipper')).OrdersShipped).toEqual([1]);
  });
});
