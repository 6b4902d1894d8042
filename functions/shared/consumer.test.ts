import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { ProtocolError } from '@platformatic/kafka';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { type EncodedRecord, EventDecodeError, encode } from '../../events/codec.ts';
import type { KpiName, OrderReceived } from '../../events/schemas/events.ts';
import { manifest } from '../../topology/manifest.ts';
import { batchProcessor, reportsBatchItemFailures, safeDecodeReason, withKeys } from './consumer.ts';
import { InvalidTransitionError, PermanentError } from './errors.ts';
import { count, type Kpi, latency } from './kpis.ts';
import { MAX_DEAD_LETTER_BYTES, VALUE_PREFIX_BYTES } from './msk-records.ts';
import type { ConsumerStep, StepOutcome } from './step-types.ts';
import {
  fakeContext,
  fromEncoded,
  MemoryPersistenceLayer,
  mskEvent,
  mskRecord,
  orderReceived,
  RecordingProducer,
  sampleOrder,
  silentLogger,
  storedMetrics,
  testMetrics,
} from './testing.ts';
import { formatTraceHeader, parseTraceHeader, TRACE_HEADER } from './trace-header.ts';

const now = new Date('2026-11-24T10:00:01.000Z');

/** A step on OrderReceived, named like the one that consumes it, that processes with `process`. */
const inventoryLike = (
  process: (event: OrderReceived) => Promise<StepOutcome>,
): ConsumerStep<'OrderReceived'> => ({ name: 'inventory', topic: 'OrderReceived', process });

/**
 * A step that behaves like the real ones toward redeliveries: the first event of an order applies its
 * effect and produces one event; a later one finds it applied and re-produces the same event, replayed.
 * `seen` lists every call, `applied` every effect; `failOn` makes it throw.
 */
function fakeStep(failOn: Record<string, Error> = {}) {
  const seen: string[] = [];
  const applied: string[] = [];
  const step = inventoryLike(async (event) => {
    const { orderId } = event.data.order;
    seen.push(orderId);
    const failure = failOn[orderId];
    if (failure) throw failure;
    const replayed = applied.includes(orderId);
    if (!replayed) applied.push(orderId);
    return {
      orderId,
      events: [encode('OrderReceived', orderReceived(sampleOrder({ orderId })))],
      kpis: [count('OrdersConfirmed')],
      replayed,
      summary: 'ok',
    };
  });
  return { step, seen, applied };
}

/** The orders of the OrderReceived events produced, in the order they were produced. */
const producedOrders = (producer: RecordingProducer) =>
  producer.on('OrderReceived').map((e) => e.data.order.orderId);

/** The orders of the invocations' KPIs records that counted `name`, one entry per value. */
const kpiOrders = (producer: RecordingProducer, name = 'OrdersConfirmed') =>
  producer.on('KPIs').flatMap((k) => {
    const metric = k.data.metrics.find((m) => m.name === name);
    return metric ? k.data.orderIds.slice(0, metric.values.length) : [];
  });

function setup(
  failOn: Record<string, Error> = {},
  produce?: (records: readonly EncodedRecord[], recording: RecordingProducer) => Promise<void>,
) {
  const { step, seen, applied } = fakeStep(failOn);
  const producer = new RecordingProducer();
  const metrics = testMetrics();
  const process = batchProcessor(step, {
    logger: silentLogger(),
    metrics,
    deps: {
      produce: produce ? (records) => produce(records, producer) : producer.produce,
      deadLetterStore: new MemoryPersistenceLayer(),
      now: () => now,
    },
  });
  return { process, seen, applied, producer, metrics };
}

const serviceError = (name: string) =>
  new DynamoDBServiceException({ name, $fault: 'client', $metadata: {}, message: `${name}: refused` });

const record = (orderId: string, offset: number, partition = 0) =>
  fromEncoded(encode('OrderReceived', orderReceived(sampleOrder({ orderId }))), offset, partition);

describe('Kafka consumer wrapper', () => {
  it('processes every record in partition order and publishes its KPIs on the topic only', async () => {
    const { process, seen, producer, metrics } = setup();
    const report = await process(
      mskEvent([record('a-2', 2), record('a-1', 1), record('b-1', 5, 1)]),
      fakeContext(),
    );
    expect(report).toEqual({ processed: 3, duplicates: 0, deadLettered: 0 });
    expect(seen.filter((id) => id.startsWith('a-'))).toEqual(['a-1', 'a-2']);
    // One KPIs record for the invocation, not one per metric and order.
    const [kpis, ...more] = producer.on('KPIs');
    expect(more).toEqual([]);
    expect(kpis?.data).toMatchObject({
      step: 'inventory',
      metrics: [{ name: 'OrdersConfirmed', unit: 'Count', values: [1, 1, 1] }],
    });
    expect(kpis?.data.orderIds.sort()).toEqual(['a-1', 'a-2', 'b-1']);
    // The records' own events, together in the same send.
    expect(producedOrders(producer).sort()).toEqual(['a-1', 'a-2', 'b-1']);
    // No EMF of its own: the kpis function turns the record into the CloudWatch metrics.
    expect(storedMetrics(metrics)).toEqual({});
  });

  it('gives a redelivered event no second effect', async () => {
    const { process, applied, producer } = setup();
    const first = record('a-1', 1);
    await process(mskEvent([first]), fakeContext());
    // Same event, redelivered at another offset (producer retry) and in a later batch (rebalance).
    const report = await process(mskEvent([record('a-1', 7), first]), fakeContext());
    expect(report).toEqual({ processed: 0, duplicates: 2, deadLettered: 0 });
    expect(applied).toEqual(['a-1']);
    // Counted once; the re-produced event carries the same id, once per send.
    expect(kpiOrders(producer)).toEqual(['a-1']);
    const ids = producer.sent.filter((r) => r.topic === 'OrderReceived').map((r) => r.headers['event-id']);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1);
  });

  it("dead-letters to its manifest trigger's onFailure, and refuses a step with no Kafka trigger", async () => {
    const trigger = manifest.functions.inventory.trigger;
    const { process, producer } = setup();
    await process(mskEvent([mskRecord({ topic: 'OrderReceived', offset: 4, value: '[' })]), fakeContext());
    expect(producer.sent.map((r) => r.topic)).toContain(trigger.onFailure);
    const { step } = fakeStep();
    const options = { logger: silentLogger(), metrics: testMetrics(), deps: { produce: producer.produce } };
    expect(() => batchProcessor({ ...step, name: 'order-api' }, options)).toThrow(
      /order-api is not a Kafka-triggered function/,
    );
  });

  it('sends poison to the DeadLetterQueue and goes on with the batch', async () => {
    const { process, seen, producer, metrics } = setup();
    const poison = mskRecord({ topic: 'OrderReceived', offset: 2, key: 'a-9', value: 'not json' });
    const report = await process(mskEvent([record('a-1', 1), poison, record('a-3', 3)]), fakeContext());
    expect(report).toEqual({ processed: 2, duplicates: 0, deadLettered: 1 });
    expect(seen).toEqual(['a-1', 'a-3']);
    const [dead] = producer.on('DeadLetterQueue');
    expect(dead?.data).toMatchObject({
      reason: 'poison',
      function: 'inventory',
      error: { name: 'EventDecodeError' },
      record: {
        topic: 'OrderReceived',
        partition: 0,
        offset: '2',
        value: Buffer.from('not json').toString('base64'),
      },
    });
    expect(dead?.correlationId).toBe('a-9');
    expect(
      producer.on('KPIs').some((k) => k.data.metrics.some((m) => m.name === 'RecordsDeadLettered')),
    ).toBe(true);
    expect(storedMetrics(metrics)).toEqual({});
  });

  it('dead-letters an event that can never be processed, with its order id and the error', async () => {
    const { process, producer } = setup({ 'a-1': new PermanentError('order a-1 is SHIPPED') });
    const report = await process(mskEvent([record('a-1', 1), record('a-2', 2)]), fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1 });
    const [dead] = producer.on('DeadLetterQueue');
    expect(dead?.correlationId).toBe('a-1');
    expect(dead?.data.error).toEqual({ name: 'PermanentError', message: 'order a-1 is SHIPPED' });
  });

  it('fails the batch on a transient error; other orders go on, and the retry applies only what was not done', async () => {
    const failing = new Error('ProvisionedThroughputExceededException');
    const failOn: Record<string, Error> = { 'a-2': failing };
    const { process, seen, applied, producer } = setup(failOn);
    const batch = mskEvent([
      record('a-1', 1),
      record('a-2', 2),
      record('a-3', 3),
      record('a-2', 4),
      record('b-1', 1, 1),
    ]);
    await expect(process(batch, fakeContext())).rejects.toBe(failing);
    // Other orders of the same partition are not held up; the failing order's later record waits.
    expect(applied.sort()).toEqual(['a-1', 'a-3', 'b-1']);
    expect(seen.filter((id) => id === 'a-2')).toHaveLength(1);
    // What was done is announced even though the batch fails.
    expect(producedOrders(producer).sort()).toEqual(['a-1', 'a-3', 'b-1']);

    delete failOn['a-2'];
    const report = await process(batch, fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 4, deadLettered: 0 });
    expect(kpiOrders(producer).sort()).toEqual(['a-1', 'a-2', 'a-3', 'b-1']);
  });

  it('fails the batch when producing fails, and does the record again on the retry', async () => {
    const { process, seen, producer } = setup();
    producer.failures = 1;
    const batch = mskEvent([record('a-1', 1)]);
    await expect(process(batch, fakeContext())).rejects.toThrow('broker unavailable');
    const report = await process(batch, fakeContext());
    // The effect was applied by the first attempt: the retry re-produces its event.
    expect(report).toEqual({ processed: 0, duplicates: 1, deadLettered: 0 });
    expect(seen).toEqual(['a-1', 'a-1']);
    expect(producedOrders(producer)).toEqual(['a-1']);
  });

  it('fails the batch when a poison record cannot be dead-lettered, and dead-letters it on the retry', async () => {
    const { process, producer } = setup();
    producer.failures = 1;
    const poison = mskRecord({ topic: 'OrderReceived', offset: 2, value: '[]' });
    await expect(process(mskEvent([poison]), fakeContext())).rejects.toThrow('broker unavailable');
    expect(await process(mskEvent([poison]), fakeContext())).toEqual({
      processed: 0,
      duplicates: 0,
      deadLettered: 1,
    });
    expect(producer.on('DeadLetterQueue')).toHaveLength(1);
  });

  it('dead-letters a ~900 KB value as a bounded dead letter, and processes the next record of the partition', async () => {
    const { process, seen, producer } = setup();
    const huge = mskRecord({
      topic: 'OrderReceived',
      offset: 1,
      key: 'a-0',
      value: Buffer.alloc(900_000, 0x7b),
    });
    const report = await process(mskEvent([huge, record('a-1', 2)]), fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1 });
    expect(seen).toEqual(['a-1']);
    const [sent] = producer.sent.filter((r) => r.topic === 'DeadLetterQueue');
    expect(sent?.value.length).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    const [dead] = producer.on('DeadLetterQueue');
    expect(dead?.data.error.name).toBe('RecordTooLargeError');
    expect(dead?.data.record).toMatchObject({ offset: '1', valueBytes: 900_000, valueTruncated: true });
    expect(Buffer.from(dead?.data.record.value ?? '', 'base64')).toHaveLength(VALUE_PREFIX_BYTES);
  });

  it.each([
    ['a DynamoDB ValidationException', () => serviceError('ValidationException')],
    ['a DynamoDB SerializationException', () => serviceError('SerializationException')],
    ['an invalid transition', () => new InvalidTransitionError('order a-1 is SHIPPED')],
    ['a ZodError', () => z.object({ n: z.number() }).safeParse({}).error as Error],
    [
      'an EventDecodeError',
      () => new EventDecodeError('schema', [{ path: 'data.total', message: 'too big' }]),
    ],
  ])('dead-letters at once an event that fails with %s, and goes on', async (_, error) => {
    const { process, seen, producer } = setup({ 'a-1': error() });
    const report = await process(mskEvent([record('a-1', 1), record('a-2', 2)]), fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1 });
    expect(seen).toEqual(['a-1', 'a-2']);
    const [dead] = producer.on('DeadLetterQueue');
    expect(dead?.correlationId).toBe('a-1');
    expect(dead?.data.error.name).toBe(error().name);
  });

  it('dead-letters an event whose produced records the broker refuses for their size', async () => {
    const tooLarge = new ProtocolError('MESSAGE_TOO_LARGE');
    const { process, seen, producer } = setup({}, async (records, recording) => {
      if (records.some((r) => r.topic === 'OrderReceived' && r.key === 'a-1')) throw tooLarge;
      await recording.produce(records);
    });
    const report = await process(mskEvent([record('a-1', 1), record('a-2', 2)]), fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1 });
    expect(seen).toEqual(['a-1', 'a-2']);
    expect(producer.on('DeadLetterQueue').map((d) => d.correlationId)).toEqual(['a-1']);
    expect(producedOrders(producer)).toEqual(['a-2']);
    expect(producer.on('KPIs')).toHaveLength(1);
  });
});

describe('trace context', () => {
  const upstream = {
    traceId: '1-5759e988-bd862e3fe1be46a994272793',
    parentId: '53995c3f42cd8ad8',
    sampled: true,
  };
  const traced = (orderId: string, offset: number, header: string) => {
    const encoded = encode('OrderReceived', orderReceived(sampleOrder({ orderId })));
    return fromEncoded({ ...encoded, headers: { ...encoded.headers, [TRACE_HEADER]: header } }, offset);
  };

  it("gives what a record produces its order's trace, from that record's hop; a forged header changes nothing", async () => {
    const { process, producer } = setup();
    const forged = `Root=1-x;Parent=${'f'.repeat(400)}`;
    const report = await process(
      mskEvent([traced('t-1', 1, formatTraceHeader(upstream)), traced('t-2', 2, forged)]),
      fakeContext(),
    );
    expect(report).toEqual({ processed: 2, duplicates: 0, deadLettered: 0 });
    const produced = (orderId: string) =>
      parseTraceHeader(
        producer.sent.find((r) => r.topic === 'OrderReceived' && r.key === orderId)?.headers[TRACE_HEADER],
      );
    // Locally (no X-Ray): the same trace, a new hop.
    expect(produced('t-1')).toMatchObject({ traceId: upstream.traceId, sampled: true });
    expect(produced('t-1')?.parentId).not.toBe(upstream.parentId);
    // The forged header was ignored: the record starts a trace of its own.
    expect(produced('t-2')?.traceId).not.toBe(upstream.traceId);
    expect(produced('t-2')).toBeDefined();
  });
});

describe("a batch's good records", () => {
  const poison = (offset: number) => mskRecord({ topic: 'OrderReceived', offset, key: 'p', value: '{"x":' });
  type Slot = 'good' | 'poison' | 'permanent';
  const arrangements: Slot[][] = [
    ['poison', 'good', 'good'],
    ['good', 'good', 'poison'],
    ['good', 'poison', 'good'],
    ['permanent', 'good', 'good'],
    ['good', 'good', 'permanent'],
    ['good', 'permanent', 'poison', 'good'],
  ];

  it.each(arrangements.map((a) => [a.join(', '), a] as const))(
    'are processed exactly once next to %s, even when a transient failure behind them retries the batch',
    async (_, slots) => {
      const failOn: Record<string, Error> = { 'x-9': new Error('ProvisionedThroughputExceededException') };
      const { process, applied, producer } = setup(failOn);
      const records = slots.map((slot, i) =>
        slot === 'poison' ? poison(i) : record(slot === 'permanent' ? `bad-${i}` : `a-${i}`, i),
      );
      for (const [i, slot] of slots.entries()) {
        if (slot === 'permanent') failOn[`bad-${i}`] = new PermanentError('refused');
      }
      // A record that fails transiently the first time, at the end of the same partition.
      const batch = mskEvent([...records, record('x-9', slots.length), record('b-1', 0, 1)]);
      await expect(process(batch, fakeContext())).rejects.toThrow('ProvisionedThroughput');
      delete failOn['x-9'];
      const retried = await process(batch, fakeContext());

      const good = slots.flatMap((slot, i) => (slot === 'good' ? [`a-${i}`] : []));
      const bad = slots.filter((slot) => slot !== 'good').length;
      for (const id of [...good, 'b-1', 'x-9']) expect(applied.filter((s) => s === id)).toHaveLength(1);
      expect(retried).toEqual({ processed: 1, duplicates: good.length + 1, deadLettered: bad });
      // Their effects' KPIs once each; every bad neighbour dead-lettered once, not once per attempt.
      expect(kpiOrders(producer).sort()).toEqual([...good, 'b-1', 'x-9'].sort());
      const dead = producer.on('DeadLetterQueue');
      expect(dead).toHaveLength(bad);
      expect(new Set(dead.map((d) => d.data.record.offset)).size).toBe(bad);
    },
  );
});

describe('dead-letter log lines', () => {
  it('name the kind of decode failure and its paths, never the bytes', () => {
    const notJson = new EventDecodeError('not-json', [
      { path: '', message: `Unexpected token 'j', "john@example.com" is not valid JSON` },
    ]);
    expect(safeDecodeReason(notJson)).toBe('not-json');
    const schema = new EventDecodeError('schema', [
      { path: 'data.order.customerId', message: 'Invalid input: expected string, received number' },
      { path: 'eventId', message: 'Invalid UUID' },
    ]);
    expect(safeDecodeReason(schema)).toBe('schema at data.order.customerId, eventId');
  });
});

describe('record log lines', () => {
  it("carry the record's order id (correlation_id) and event id, next to the line's own attributes", () => {
    const calls: unknown[][] = [];
    const capture = (...args: unknown[]) => calls.push(args);
    const logger = { debug: capture, info: capture, warn: capture, error: capture } as unknown as Parameters<
      typeof withKeys
    >[0];
    withKeys(logger, { correlation_id: 'ord-1', eventId: 'evt-1' }).info('event processed', {
      summary: 'ok',
    });
    expect(calls).toEqual([
      ['event processed', { correlation_id: 'ord-1', eventId: 'evt-1', summary: 'ok' }],
    ]);
  });
});

describe('outcomes whose writes are still settling', () => {
  /** A step whose every outcome finishes with `settle(orderId)`; `steps` lists starts and settlements. */
  function settlingSetup(settle: (orderId: string) => Promise<unknown>) {
    const steps: string[] = [];
    const step = inventoryLike(async (event) => {
      const { orderId } = event.data.order;
      steps.push(`start ${orderId}`);
      const settling = settle(orderId).then(() => steps.push(`settled ${orderId}`));
      return {
        orderId,
        events: [],
        kpis: [count('OrdersConfirmed')],
        replayed: false,
        summary: 'ok',
        settling,
      };
    });
    const producer = new RecordingProducer();
    const process = batchProcessor(step, {
      logger: silentLogger(),
      metrics: testMetrics(),
      deps: { produce: producer.produce, deadLetterStore: new MemoryPersistenceLayer(), now: () => now },
    });
    return { process, steps, producer };
  }
  const held = () => {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => {
      release = resolve;
    });
    return { promise, release };
  };
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('produces the KPIs while the writes settle, and answers once they have', async () => {
    const write = held();
    const { process, producer } = settlingSetup(() => write.promise);
    let answered = false;
    const done = process(mskEvent([record('a-1', 1)]), fakeContext()).then((report) => {
      answered = true;
      return report;
    });
    await tick();
    expect(kpiOrders(producer)).toEqual(['a-1']);
    expect(answered).toBe(false);
    write.release();
    expect(await done).toEqual({ processed: 1, duplicates: 0, deadLettered: 0 });
  });

  it('fails the invocation, after producing, when a write fails for now', async () => {
    const { process, producer } = settlingSetup(async () => {
      throw new Error('DynamoDB unavailable');
    });
    await expect(process(mskEvent([record('a-1', 1)]), fakeContext())).rejects.toThrow(/unavailable/);
    expect(kpiOrders(producer)).toEqual(['a-1']);
  });

  it('dead-letters the record whose write can never succeed, and the batch goes on', async () => {
    const { process, producer } = settlingSetup(async (orderId) => {
      if (orderId === 'a-1') throw serviceError('ValidationException');
    });
    const report = await process(mskEvent([record('a-1', 1), record('b-1', 2)]), fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1 });
    const [letter, ...more] = producer.on('DeadLetterQueue');
    expect(more).toEqual([]);
    expect(letter?.correlationId).toBe('a-1');
    expect(letter?.data.error).toMatchObject({ name: 'ValidationException' });
  });

  it("starts an order's next record once the last one's writes are done", async () => {
    const write = held();
    const { process, steps } = settlingSetup((orderId) =>
      steps.length === 1 ? write.promise : Promise.resolve(orderId),
    );
    const done = process(mskEvent([record('a-1', 1), record('a-1', 2)]), fakeContext());
    await tick();
    expect(steps).toEqual(['start a-1']);
    write.release();
    await done;
    expect(steps).toEqual(['start a-1', 'settled a-1', 'start a-1', 'settled a-1']);
  });
});

describe('measurements never fail a step', () => {
  /** A step that produces one event per record and measures `kpisOf(orderId)`. */
  function measuringSetup(
    kpisOf: (orderId: string) => Kpi[],
    options: { ownKpis?: 'metrics'; produce?: (records: readonly EncodedRecord[]) => Promise<void> } = {},
  ) {
    const step: ConsumerStep<'OrderReceived'> = {
      name: 'inventory',
      topic: 'OrderReceived',
      ...(options.ownKpis ? { ownKpis: options.ownKpis } : {}),
      async process(event: OrderReceived): Promise<StepOutcome> {
        const { orderId } = event.data.order;
        return {
          orderId,
          events: [encode('OrderReceived', orderReceived(sampleOrder({ orderId })))],
          kpis: kpisOf(orderId),
          replayed: false,
          summary: 'ok',
        };
      },
    };
    const producer = new RecordingProducer();
    const metrics = testMetrics();
    const logger = silentLogger();
    const warn = vi.spyOn(logger, 'warn');
    const process = batchProcessor(step, {
      logger,
      metrics,
      deps: {
        produce: options.produce ?? producer.produce,
        deadLetterStore: new MemoryPersistenceLayer(),
        now: () => now,
      },
    });
    return { process, producer, metrics, warn };
  }
  const six = () => mskEvent(['a', 'b', 'c', 'd', 'e', 'f'].map((o, i) => record(`${o}-1`, i + 1, i % 2)));

  it('drops and counts a latency from a timestamp centuries back; every record is processed and measured', async () => {
    const { process, producer } = measuringSetup(() => [
      count('OrdersConfirmed'),
      latency('StepLatency', '1626-11-24T10:00:00.000Z', now),
    ]);
    expect(await process(six(), fakeContext())).toEqual({ processed: 6, duplicates: 0, deadLettered: 0 });
    expect(kpiOrders(producer)).toHaveLength(6);
    const [kpis] = producer.on('KPIs');
    expect(kpis?.data.metrics).toEqual([
      { name: 'OrdersConfirmed', unit: 'Count', values: [1, 1, 1, 1, 1, 1] },
      { name: 'KpiValuesDropped', unit: 'Count', values: [6] },
    ]);
  });

  it('produces the events and drops the KPIs, with a warning that names no value, when they cannot be built', async () => {
    const { process, producer, warn } = measuringSetup((orderId) => [
      { name: `Bogus ${orderId}` as KpiName, value: 1, unit: 'Count' },
    ]);
    expect(await process(six(), fakeContext())).toEqual({ processed: 6, duplicates: 0, deadLettered: 0 });
    expect(producer.on('OrderReceived')).toHaveLength(6);
    expect(producer.on('KPIs')).toEqual([]);
    expect(warn).toHaveBeenCalledWith('KPIs could not be built, dropped', {
      error: 'ZodError',
      reason: expect.stringMatching(/^schema at data\.metrics/),
    });
    expect(JSON.stringify(warn.mock.calls)).not.toContain('Bogus');
  });

  it('drops and counts invalid values of its own EMF metrics (the kpis function)', async () => {
    const { process, metrics } = measuringSetup(
      () => [count('OrdersConfirmed'), latency('StepLatency', 'not a time', now)],
      { ownKpis: 'metrics' },
    );
    expect(await process(mskEvent([record('a-1', 1)]), fakeContext())).toMatchObject({ processed: 1 });
    expect(storedMetrics(metrics)).toEqual({ OrdersConfirmed: [1], KpiValuesDropped: [1] });
  });

  it('succeeds when the KPIs record alone cannot be produced after the events were', async () => {
    const producer = new RecordingProducer();
    const { process, warn } = measuringSetup(() => [count('OrdersConfirmed')], {
      async produce(records) {
        if (records.some((r) => r.topic === 'KPIs')) {
          throw records.length > 1 ? new ProtocolError('MESSAGE_TOO_LARGE') : new Error('broker timeout');
        }
        await producer.produce(records);
      },
    });
    expect(await process(six(), fakeContext())).toEqual({ processed: 6, duplicates: 0, deadLettered: 0 });
    expect(producer.on('OrderReceived')).toHaveLength(6);
    expect(warn).toHaveBeenCalledWith('KPIs record not produced, dropped', {
      error: 'Error',
      reason: 'broker timeout',
    });
  });
});

describe('Kafka consumer wrapper with ReportBatchItemFailures (partial batch response)', () => {
  function reporting(failOn: Record<string, Error> = {}) {
    const { step, seen, applied } = fakeStep(failOn);
    const producer = new RecordingProducer();
    const process = batchProcessor(step, {
      logger: silentLogger(),
      metrics: testMetrics(),
      deps: { produce: producer.produce, deadLetterStore: new MemoryPersistenceLayer(), now: () => now },
      reportBatchItemFailures: true,
    });
    return { process, seen, applied, producer };
  }
  const from = (partition: number, offset: number) => ({
    itemIdentifier: { partition: `OrderReceived-${partition}`, offset },
  });
  const unavailable = () => new Error('ProvisionedThroughputExceededException');

  it('reports a transiently failing record instead of throwing: its partition is redone from it, the others are done', async () => {
    const failOn: Record<string, Error> = { 'a-2': unavailable() };
    const { process, applied, producer } = reporting(failOn);
    const batch = mskEvent([
      record('a-1', 1),
      record('a-2', 2),
      record('c-1', 3),
      record('a-2', 4),
      record('b-1', 1, 1),
    ]);
    const report = await process(batch, fakeContext());
    expect(report).toEqual({ processed: 3, duplicates: 0, deadLettered: 0, batchItemFailures: [from(0, 2)] });
    // What finished is announced; the failing order's later record was not started.
    expect(applied.sort()).toEqual(['a-1', 'b-1', 'c-1']);
    expect(producedOrders(producer).sort()).toEqual(['a-1', 'b-1', 'c-1']);

    // The mapping redoes partition 0 from offset 2: the retry applies the rest.
    delete failOn['a-2'];
    const redo = await process(
      mskEvent([record('a-2', 2), record('c-1', 3), record('a-2', 4)]),
      fakeContext(),
    );
    expect(redo).toEqual({ processed: 1, duplicates: 2, deadLettered: 0, batchItemFailures: [] });
  });

  it('names, per partition, the lowest offset that failed (the checkpoint), whatever order they failed in', async () => {
    const { process } = reporting({ 'a-1': unavailable(), 'b-1': unavailable(), 'c-1': unavailable() });
    const report = await process(
      mskEvent([
        record('x-1', 3),
        record('b-1', 7),
        record('a-1', 5),
        record('c-1', 2, 1),
        record('y-1', 1, 1),
      ]),
      fakeContext(),
    );
    expect(report.batchItemFailures).toEqual([from(0, 5), from(1, 2)]);
  });

  it('still dead-letters a record that can never be processed, and reports nothing for it', async () => {
    const { process, producer } = reporting({ 'a-1': new PermanentError('invalid order') });
    const report = await process(mskEvent([record('a-1', 1), record('b-1', 2)]), fakeContext());
    expect(report).toEqual({ processed: 1, duplicates: 0, deadLettered: 1, batchItemFailures: [] });
    expect(producer.on('DeadLetterQueue')).toHaveLength(1);
  });

  it("reports every partition from its first record with events when the invocation's one send fails for now", async () => {
    const { process, producer } = reporting();
    producer.failures = 1;
    const report = await process(
      mskEvent([record('a-1', 4), record('b-1', 6), record('c-1', 9, 2)]),
      fakeContext(),
    );
    expect(report.batchItemFailures).toEqual([from(0, 4), from(2, 9)]);
  });

  it('throws when the failure belongs to no record and no record has events to send', async () => {
    const { step } = fakeStep();
    const producer = new RecordingProducer();
    producer.failures = 1;
    const process = batchProcessor(
      {
        ...step,
        process: async () => ({ orderId: 'a-1', events: [], kpis: [], replayed: true, summary: 'ok' }),
      },
      {
        logger: silentLogger(),
        metrics: testMetrics(),
        deps: { produce: producer.produce, now: () => now },
        reportBatchItemFailures: true,
      },
    );
    await expect(process(mskEvent([record('a-1', 1)]), fakeContext())).rejects.toThrow('broker unavailable');
  });

  it('reports a record whose remaining writes failed for now', async () => {
    const { step } = fakeStep();
    const producer = new RecordingProducer();
    const process = batchProcessor(
      {
        ...step,
        process: async (event) => ({
          ...(await step.process(event, { logger: withKeys(silentLogger(), {}), now })),
          settling: Promise.reject(new Error('DynamoDB unavailable')),
        }),
      },
      {
        logger: silentLogger(),
        metrics: testMetrics(),
        deps: { produce: producer.produce, deadLetterStore: new MemoryPersistenceLayer(), now: () => now },
        reportBatchItemFailures: true,
      },
    );
    const report = await process(mskEvent([record('a-1', 8)]), fakeContext());
    expect(report.batchItemFailures).toEqual([from(0, 8)]);
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it("follows the manifest: every Kafka-triggered function's mapping has it, others have no mapping", () => {
    for (const [name, spec] of Object.entries(manifest.functions)) {
      expect(reportsBatchItemFailures(name)).toBe(
        spec.trigger.kind === 'kafka' && spec.trigger.reportBatchItemFailures,
      );
    }
    expect(reportsBatchItemFailures('inventory')).toBe(true);
    expect(reportsBatchItemFailures('order-api')).toBe(false);
    expect(reportsBatchItemFailures('no-such-function')).toBe(false);
  });
});
