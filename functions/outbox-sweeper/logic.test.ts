import { describe, expect, it } from 'vitest';
import { decode, type EncodedRecord } from '../../events/codec.ts';
import { manifest } from '../../topology/manifest.ts';
import { ConfigError } from '../shared/config.ts';
import { orderEventId, orderReceivedId } from '../shared/orders/events.ts';
import type { UpdateParams } from '../shared/orders/model.ts';
import { OUTBOX_SHARDS, orderOf } from '../shared/orders/model.ts';
import { sampleOrder, storedOrder } from '../shared/testing.ts';
import {
  type Decision,
  decide,
  decisionUpdate,
  OUTBOX_INDEX,
  type QueryParams,
  readSweepConfig,
  type SweepConfig,
  SweepEnv,
} from './logic.ts';
import { type SweepLog, type SweepPorts, sweep } from './step.ts';

const config: SweepConfig = { graceMs: 30_000, maxAttempts: 3, maxOrdersPerRun: 80 };
const placedAt = '2026-11-24T10:00:00.000Z';
const at = (secondsAfterPlacement: number) => new Date(Date.parse(placedAt) + secondsAfterPlacement * 1000);
const item = (overrides: Record<string, unknown> = {}, orderId = 'ord-1'): Record<string, unknown> => ({
  ...storedOrder(sampleOrder({ orderId, placedAt })),
  ...overrides,
});

describe('configuration', () => {
  it('defaults to a 30 s grace, 5 attempts and 500 orders a run, and reads the manifest values', () => {
    expect(readSweepConfig({})).toEqual({ graceMs: 30_000, maxAttempts: 5, maxOrdersPerRun: 500 });
    expect(readSweepConfig(manifest.functions['outbox-sweeper'].environment)).toEqual(readSweepConfig({}));
    expect(readSweepConfig({ [SweepEnv.graceSeconds]: '2', [SweepEnv.maxAttempts]: '1' })).toMatchObject({
      graceMs: 2_000,
      maxAttempts: 1,
    });
  });

  it('refuses values that are not positive whole numbers, naming the variable', () => {
    for (const bad of ['0', '-3', '1.5', 'soon', '1e9']) {
      expect(() => readSweepConfig({ [SweepEnv.graceSeconds]: bad })).toThrow(ConfigError);
    }
    expect(() => readSweepConfig({ [SweepEnv.maxAttempts]: 'x' })).toThrow(/OUTBOX_MAX_ATTEMPTS/);
  });

  it('queries the sparse index the manifest declares on orders', () => {
    expect(manifest.tables.orders.indexes[OUTBOX_INDEX]).toEqual({
      partitionKey: { name: 'outboxShard', type: 'S' },
      sortKey: { name: 'placedAt', type: 'S' },
      projection: 'all',
    });
  });
});

describe('decide', () => {
  it('leaves an order inside the grace period alone (order-api may still be producing it)', () => {
    expect(decide(item(), at(29), config)).toEqual({ action: 'wait', orderId: 'ord-1' });
    expect(decide(item(), at(30), config)).toEqual({ action: 'wait', orderId: 'ord-1' });
  });

  it('re-produces the OrderReceived order-api would have produced, same id, from the stored order', () => {
    const decision = decide(item(), at(31), config);
    expect(decision).toMatchObject({ action: 'reproduce', orderId: 'ord-1', previous: 0, attempt: 1 });
    const { record } = decision as Extract<Decision, { action: 'reproduce' }>;
    expect(record).toMatchObject({ topic: 'OrderReceived', key: 'ord-1' });
    const decoded = decode('OrderReceived', record.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.event).toMatchObject({
      eventId: orderReceivedId('ord-1'),
      causationId: 'req-ord-1',
      correlationId: 'ord-1',
      source: 'order-api',
      occurredAt: placedAt,
      data: { order: orderOf(sampleOrder({ placedAt })) },
    });
    // Deterministic: the next attempt (or order-api's own retry) carries the same event.
    expect((decide(item(), at(500), config) as { record: EncodedRecord }).record.value).toEqual(record.value);
  });

  it('backs off: the delay before the next attempt doubles, and an attempt not yet due waits', () => {
    const first = decide(item(), at(31), config) as Extract<Decision, { action: 'reproduce' }>;
    expect(first.nextAttemptAt).toBe(at(31 + 60).toISOString());
    const second = decide(
      item({ outboxAttempts: 1, outboxNextAttemptAt: first.nextAttemptAt }),
      at(91),
      config,
    );
    expect(second).toMatchObject({
      action: 'reproduce',
      previous: 1,
      attempt: 2,
      nextAttemptAt: at(91 + 120).toISOString(),
    });
    expect(
      decide(item({ outboxAttempts: 1, outboxNextAttemptAt: first.nextAttemptAt }), at(90), config),
    ).toEqual({ action: 'wait', orderId: 'ord-1' });
  });

  it('re-produces the OrderCancelled of a cancelled order whose stock is not back yet, and clears one whose is', () => {
    const cancelled = item({
      status: 'CANCELLED',
      cancelledFrom: 'CONFIRMED',
      history: [
        { status: 'RECEIVED', at: placedAt },
        { status: 'CANCELLED', at: placedAt },
      ],
    });
    const decision = decide(cancelled, at(1000), config);
    expect(decision).toMatchObject({ action: 'reproduce', status: 'CANCELLED', attempt: 1 });
    const record = (decision as { record: EncodedRecord }).record;
    expect(record.topic).toBe('OrderCancelled');
    expect(record.headers['event-id']).toBe(orderEventId('ord-1', 'OrderCancelled'));
    expect(
      decisionUpdate('orders', decision as Exclude<Decision, { action: 'wait' }>, at(1000))
        .ExpressionAttributeValues,
    ).toMatchObject({
      ':status': 'CANCELLED',
    });
    expect(decide({ ...cancelled, stockReleased: true }, at(1000), config)).toEqual({
      action: 'clear',
      orderId: 'ord-1',
      status: 'CANCELLED',
    });
  });

  it('abandons an order after the last attempt, saying how many there were', () => {
    expect(decide(item({ outboxAttempts: 2 }), at(1000), config)).toMatchObject({
      action: 'reproduce',
      attempt: 3,
    });
    expect(decide(item({ outboxAttempts: 3 }), at(1000), config)).toEqual({
      action: 'abandon',
      orderId: 'ord-1',
      previous: 3,
      status: 'RECEIVED',
      reason: 'OrderReceived re-produced 3 times and the order is still RECEIVED',
    });
  });

  it('abandons at once an order that can never become an event, naming the path but not the value', () => {
    const decision = decide(item({ total: 2_000_000 }), at(60), config);
    expect(decision).toMatchObject({ action: 'abandon', status: 'RECEIVED', previous: 0 });
    expect((decision as { reason: string }).reason).toBe(
      'the order does not fit the OrderReceived schema: data.order.total',
    );
  });

  it('abandons a malformed item without quoting it', () => {
    const decision = decide(item({ items: 'Ada Lovelace, 1 Main St', outboxAttempts: 1 }), at(60), config);
    expect(decision).toEqual({
      action: 'abandon',
      orderId: 'ord-1',
      previous: 1,
      status: undefined,
      reason: 'malformed item: items',
    });
  });

  it('drops the marker of an order that has moved on, and never re-produces it', () => {
    for (const status of ['CONFIRMED', 'REJECTED', 'PACKED', 'SHIPPED']) {
      expect(decide(item({ status }), at(60), config)).toEqual({ action: 'clear', orderId: 'ord-1', status });
    }
  });
});

describe('decisionUpdate', () => {
  const now = at(60);

  it('records an attempt only on a RECEIVED order still in the outbox, at the count it was read with', () => {
    const decision = decide(item(), now, config) as Extract<Decision, { action: 'reproduce' }>;
    expect(decisionUpdate('orders', decision, now)).toEqual({
      TableName: 'orders',
      Key: { orderId: 'ord-1' },
      UpdateExpression: 'SET #attempts = :attempt, #next = :next',
      ConditionExpression:
        'attribute_exists(#shard) AND (attribute_not_exists(#attempts) OR #attempts = :previous) AND #status = :status',
      ExpressionAttributeNames: {
        '#shard': 'outboxShard',
        '#attempts': 'outboxAttempts',
        '#status': 'status',
        '#next': 'outboxNextAttemptAt',
      },
      ExpressionAttributeValues: {
        ':previous': 0,
        ':status': 'RECEIVED',
        ':attempt': 1,
        ':next': decision.nextAttemptAt,
      },
    });
    const later = decide(item({ outboxAttempts: 2 }), now, config) as Extract<
      Decision,
      { action: 'reproduce' }
    >;
    expect(decisionUpdate('orders', later, now).ConditionExpression).toBe(
      'attribute_exists(#shard) AND #attempts = :previous AND #status = :status',
    );
  });

  it('abandons by removing the marker and saying when and why', () => {
    const update = decisionUpdate(
      'orders',
      {
        action: 'abandon',
        orderId: 'ord-1',
        previous: undefined,
        status: undefined,
        reason: 'malformed item: x',
      },
      now,
    );
    expect(update).toMatchObject({
      UpdateExpression: 'SET #abandonedAt = :at, #reason = :reason REMOVE #shard',
      ConditionExpression: 'attribute_exists(#shard)',
      ExpressionAttributeValues: { ':at': now.toISOString(), ':reason': 'malformed item: x' },
    });
    expect(update.ExpressionAttributeNames).not.toHaveProperty('#status');
  });

  it('clears the marker only while the order is in the status it was read in', () => {
    expect(
      decisionUpdate('orders', { action: 'clear', orderId: 'ord-1', status: 'SHIPPED' }, now),
    ).toMatchObject({
      UpdateExpression: 'REMOVE #shard',
      ConditionExpression: 'attribute_exists(#shard) AND #status = :status',
      ExpressionAttributeValues: { ':status': 'SHIPPED' },
    });
  });
});

/** The orders table and its outbox index in memory, answering the sweeper's own expressions only. */
class MemoryOutbox implements SweepPorts {
  readonly items = new Map<string, Record<string, unknown>>();
  readonly produced: EncodedRecord[] = [];
  readonly queries: QueryParams[] = [];
  /** Refuse the next update of these orders, as if another writer had moved them on. */
  readonly refuse = new Set<string>();
  /** Throw this at the next update of an order (once), as DynamoDB would. */
  readonly updateErrors = new Map<string, Error>();
  /** Throw this at every query of a shard. */
  readonly queryErrors = new Map<string, Error>();
  /** Throw this at every produce that holds a record of the order (the broker refusing it). */
  readonly produceErrors = new Map<string, Error>();

  put(value: Record<string, unknown>): void {
    this.items.set(String(value.orderId), structuredClone(value));
  }

  async query(params: QueryParams) {
    this.queries.push(params);
    const values = params.ExpressionAttributeValues;
    const failure = this.queryErrors.get(String(values[':shard']));
    if (failure) throw failure;
    const inRange = (i: Record<string, unknown>) =>
      ':horizon' in values
        ? String(i.placedAt) > String(values[':horizon'])
        : String(i.placedAt) < String(values[':cutoff']);
    const matching = [...this.items.values()]
      .filter((i) => i.outboxShard === values[':shard'] && inRange(i))
      .sort(
        (a, b) =>
          String(a.placedAt).localeCompare(String(b.placedAt)) ||
          String(a.orderId).localeCompare(String(b.orderId)),
      );
    const start = params.ExclusiveStartKey
      ? matching.findIndex((i) => i.orderId === params.ExclusiveStartKey?.orderId) + 1
      : 0;
    const page = matching.slice(start, start + params.Limit);
    const last = page.at(-1);
    const due = (i: Record<string, unknown>) =>
      !params.FilterExpression ||
      i.outboxNextAttemptAt === undefined ||
      String(i.outboxNextAttemptAt) <= String(values[':now']);
    return {
      items: structuredClone(page.filter(due)),
      scanned: page.length,
      ...(start + params.Limit < matching.length && last ? { lastKey: { orderId: last.orderId } } : {}),
    };
  }

  async update(params: UpdateParams) {
    const failure = this.updateErrors.get(params.Key.orderId);
    if (failure) {
      this.updateErrors.delete(params.Key.orderId);
      throw failure;
    }
    const current = this.items.get(params.Key.orderId);
    const values = params.ExpressionAttributeValues;
    if (this.refuse.delete(params.Key.orderId) || !current || current.outboxShard === undefined) return false;
    if (':previous' in values && (current.outboxAttempts ?? 0) !== values[':previous']) return false;
    if (':status' in values && current.status !== values[':status']) return false;
    if (':attempt' in values) {
      current.outboxAttempts = values[':attempt'];
      current.outboxNextAttemptAt = values[':next'];
    }
    if (':reason' in values) {
      current.outboxAbandonedAt = values[':at'];
      current.outboxAbandonReason = values[':reason'];
    }
    if (params.UpdateExpression.includes('REMOVE #shard')) delete current.outboxShard;
    return true;
  }

  async produce(records: readonly EncodedRecord[]) {
    const refused = records.find((r) => this.produceErrors.has(r.key));
    if (refused) throw this.produceErrors.get(refused.key);
    this.produced.push(...records);
  }
}

/** A log that keeps what it is told. */
class SweepLines implements SweepLog {
  readonly lines: string[] = [];
  reproduced = (orderId: string, attempt: number, topic: string) =>
    void this.lines.push(`reproduced ${orderId} ${attempt} ${topic}`);
  abandoned = (orderId: string, reason: string) => void this.lines.push(`abandoned ${orderId}: ${reason}`);
  failed = (where: { shard: string; orderId?: string }, error: unknown) =>
    void this.lines.push(`failed ${where.orderId ?? `shard ${where.shard}`}: ${(error as Error).name}`);
}

const named = (name: string, message = 'refused') => Object.assign(new Error(message), { name });

const silent = { reproduced: () => undefined, abandoned: () => undefined, failed: () => undefined };

describe('sweep', () => {
  it('re-produces each stale order once per attempt and abandons it after the last, logging its id', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(item({}, 'ord-stale'));
    outbox.put(item({ placedAt: at(100).toISOString() }, 'ord-fresh'));
    const abandoned: string[] = [];
    const log = { ...silent, abandoned: (orderId: string) => abandoned.push(orderId) };
    // A sweep every minute for an hour.
    const summaries = [];
    for (let minute = 1; minute <= 60; minute++) {
      summaries.push(await sweep(outbox, 'orders', at(60 * minute), config, log));
    }
    const stale = outbox.produced.filter((r) => r.key === 'ord-stale');
    expect(stale).toHaveLength(config.maxAttempts);
    expect(new Set(stale.map((r) => r.headers['event-id']))).toEqual(new Set([orderReceivedId('ord-stale')]));
    expect(abandoned).toEqual(['ord-stale', 'ord-fresh']);
    expect(outbox.items.get('ord-stale')).toMatchObject({
      outboxAttempts: 3,
      outboxAbandonedAt: expect.any(String),
    });
    expect(outbox.items.get('ord-stale')).not.toHaveProperty('outboxShard');
    expect(summaries.reduce((n, s) => n + s.reproduced, 0)).toBe(2 * config.maxAttempts);
    expect(summaries.reduce((n, s) => n + s.abandoned, 0)).toBe(2);
    // Once abandoned, nothing is read again.
    expect(summaries.at(-1)).toMatchObject({ scanned: 0, reproduced: 0, abandoned: 0 });
  });

  it('stops as soon as inventory has decided (the marker is gone)', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(item());
    expect(await sweep(outbox, 'orders', at(60), config, silent)).toMatchObject({ reproduced: 1 });
    const decided = outbox.items.get('ord-1') as Record<string, unknown>;
    decided.status = 'CONFIRMED';
    delete decided.outboxShard;
    expect(await sweep(outbox, 'orders', at(10_000), config, silent)).toMatchObject({
      scanned: 0,
      reproduced: 0,
    });
    expect(outbox.produced).toHaveLength(1);
  });

  it('counts a decision refused by its condition as skipped, and produces nothing for it', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(item({}, 'ord-a'));
    outbox.put(item({}, 'ord-b'));
    outbox.refuse.add('ord-a');
    const summary = await sweep(outbox, 'orders', at(60), config, silent);
    expect(summary).toMatchObject({ reproduced: 1, skipped: 1 });
    expect(outbox.produced.map((r) => r.key)).toEqual(['ord-b']);
  });

  it('acts on at most maxOrdersPerRun orders a run, an equal share per shard, oldest first, reads bounded', async () => {
    const outbox = new MemoryOutbox();
    // 30 stale orders in every shard: more than a run's share (80 / 8 = 10).
    for (let shard = 0; shard < OUTBOX_SHARDS; shard++) {
      for (let n = 0; n < 30; n++) {
        outbox.put(item({ outboxShard: String(shard), placedAt: at(n).toISOString() }, `ord-${shard}-${n}`));
      }
    }
    const summary = await sweep(outbox, 'orders', at(600), config, silent);
    expect(summary).toMatchObject({ scanned: 240, reproduced: 80, truncated: true });
    expect(outbox.queries.every((q) => q.Limit <= 40 && q.IndexName === 'outbox')).toBe(true);
    for (let shard = 0; shard < OUTBOX_SHARDS; shard++) {
      expect(outbox.produced.filter((r) => r.key.startsWith(`ord-${shard}-`)).map((r) => r.key)).toEqual(
        Array.from({ length: 10 }, (_, n) => `ord-${shard}-${n}`),
      );
    }
    // The next runs go on where the backlog is: every order gets its first attempt within three runs.
    await sweep(outbox, 'orders', at(601), config, silent);
    await sweep(outbox, 'orders', at(602), config, silent);
    expect(new Set(outbox.produced.map((r) => r.key)).size).toBe(OUTBOX_SHARDS * 30);
  });
});

describe('decide never throws: a row that can never be swept is abandoned with its reason', () => {
  const cancelledItem = (overrides: Record<string, unknown> = {}) =>
    item({
      status: 'CANCELLED',
      cancelledFrom: 'CONFIRMED',
      history: [
        { status: 'RECEIVED', at: placedAt },
        { status: 'CANCELLED', at: placedAt },
      ],
      ...overrides,
    });

  it.each([
    ['a placedAt that is no time', { placedAt: '2026-13-45T99:99:99Z' }, 'placedAt'],
    ['a placedAt that sorts like a time but is none', { placedAt: '2026-11-24Tlater' }, 'placedAt'],
    ['an empty placedAt', { placedAt: '' }, 'placedAt'],
    ['a next attempt that is no time', { outboxNextAttemptAt: '2026-11-24' }, 'outboxNextAttemptAt'],
    ['a negative attempt count', { outboxAttempts: -2 }, 'outboxAttempts'],
    ['a fractional attempt count', { outboxAttempts: 1.5 }, 'outboxAttempts'],
    ['an attempt count that is text', { outboxAttempts: '3' }, 'outboxAttempts'],
    ['an unknown status', { status: 'LOST' }, 'status'],
    ['no status', { status: undefined }, 'status'],
  ])('abandons an item with %s, naming the path', (_, overrides, path) => {
    const decision = decide(item(overrides), at(1000), config);
    expect(decision).toMatchObject({ action: 'abandon', orderId: 'ord-1', status: undefined });
    expect((decision as { reason: string }).reason).toBe(`malformed item: ${path}`);
  });

  it('abandons an order placed beyond the horizon: it would never become due', () => {
    const later = new Date(at(0).getTime() + 2 * 86_400_000).toISOString();
    expect(decide(item({ placedAt: later }), at(0), config)).toEqual({
      action: 'abandon',
      orderId: 'ord-1',
      previous: 0,
      status: 'RECEIVED',
      reason: 'placedAt lies in the future: no order order-api wrote',
    });
  });

  it('abandons a cancelled order whose OrderCancelled cannot be built, and names that event', () => {
    const noCancellation = cancelledItem({ history: [{ status: 'RECEIVED', at: placedAt }] });
    expect(decide(noCancellation, at(1000), config)).toMatchObject({
      action: 'abandon',
      status: 'CANCELLED',
      reason: 'its OrderCancelled cannot be built from the stored order: Error',
    });
    const badTime = cancelledItem({ history: [{ status: 'CANCELLED', at: 'whenever' }] });
    expect(decide(badTime, at(1000), config)).toMatchObject({ action: 'abandon', status: 'CANCELLED' });
    expect(decide(cancelledItem({ outboxAttempts: 3 }), at(1000), config)).toMatchObject({
      action: 'abandon',
      reason: 'OrderCancelled re-produced 3 times and the order is still CANCELLED',
    });
  });

  it('answers every item of a bounded set of hostile shapes without throwing', () => {
    const values: unknown[] = [null, 0, -1, '', 'x', [], {}, true, 1e308, '2026-11-24T10:00:00Z'];
    const fields = [
      'placedAt',
      'status',
      'items',
      'total',
      'history',
      'outboxAttempts',
      'outboxNextAttemptAt',
    ];
    for (const field of fields) {
      for (const value of values) {
        const decision = decide(item({ [field]: value }), at(1000), config);
        expect(['abandon', 'reproduce', 'wait', 'clear']).toContain(decision.action);
      }
    }
  });
});

describe('sweep: one row never stops the others', () => {
  /** An order of the given shard, placed `seconds` after `placedAt`. */
  const inShard = (orderId: string, shard: number, overrides: Record<string, unknown> = {}) =>
    item({ outboxShard: String(shard), ...overrides }, orderId);

  it('abandons a row with an unparsable placedAt and still recovers a lost order of another shard', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(inShard('ord-bad', 0, { placedAt: '2026-11-24T99:00:00Z' }));
    outbox.put(inShard('ord-soon', 1, { placedAt: 'soon' }));
    outbox.put(inShard('ord-lost', 5));
    const log = new SweepLines();
    const summary = await sweep(outbox, 'orders', at(60), config, log);
    expect(summary).toMatchObject({ reproduced: 1, abandoned: 2, failed: 0 });
    expect(outbox.produced.map((r) => r.key)).toEqual(['ord-lost']);
    for (const id of ['ord-bad', 'ord-soon']) {
      expect(outbox.items.get(id)).toMatchObject({ outboxAbandonReason: 'malformed item: placedAt' });
      expect(outbox.items.get(id)).not.toHaveProperty('outboxShard');
    }
    expect(log.lines).toContain('reproduced ord-lost 1 OrderReceived');
    // The next run finds nothing left of them.
    expect(await sweep(outbox, 'orders', at(61), config, log)).toMatchObject({ abandoned: 0, failed: 0 });
  });

  it('leaves a row whose write fails transiently to the next run, and sweeps the rest', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(inShard('ord-a', 2));
    outbox.put(inShard('ord-b', 2, { placedAt: at(1).toISOString() }));
    outbox.updateErrors.set('ord-a', named('ProvisionedThroughputExceededException'));
    const log = new SweepLines();
    expect(await sweep(outbox, 'orders', at(60), config, log)).toMatchObject({ reproduced: 1, failed: 1 });
    expect(log.lines).toContain('failed ord-a: ProvisionedThroughputExceededException');
    expect(outbox.items.get('ord-a')).toMatchObject({ outboxShard: '2' });
    expect(outbox.items.get('ord-a')).not.toHaveProperty('outboxAttempts');
    expect(await sweep(outbox, 'orders', at(61), config, log)).toMatchObject({ reproduced: 1, failed: 0 });
    expect(outbox.produced.map((r) => r.key)).toEqual(['ord-b', 'ord-a']);
  });

  it('abandons a row whose write DynamoDB refuses for good, with the refusal as its reason', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(inShard('ord-huge', 3));
    outbox.put(inShard('ord-ok', 3, { placedAt: at(1).toISOString() }));
    outbox.updateErrors.set('ord-huge', named('ValidationException'));
    const summary = await sweep(outbox, 'orders', at(60), config, silent);
    expect(summary).toMatchObject({ reproduced: 1, abandoned: 1, failed: 0 });
    expect(outbox.items.get('ord-huge')).toMatchObject({
      outboxAbandonReason: "the sweeper's reproduce was refused: ValidationException",
    });
    expect(outbox.items.get('ord-huge')).not.toHaveProperty('outboxShard');
  });

  it('sweeps every other shard when one shard cannot be read', async () => {
    const outbox = new MemoryOutbox();
    for (let shard = 0; shard < OUTBOX_SHARDS; shard++) outbox.put(inShard(`ord-${shard}`, shard));
    outbox.queryErrors.set('4', named('InternalServerError'));
    const log = new SweepLines();
    expect(await sweep(outbox, 'orders', at(60), config, log)).toMatchObject({
      reproduced: OUTBOX_SHARDS - 1,
      failed: 1,
    });
    expect(log.lines).toContain('failed shard 4: InternalServerError');
  });

  it('produces the others when the broker refuses one record for good, and abandons that order', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(inShard('ord-a', 6));
    outbox.put(inShard('ord-big', 6, { placedAt: at(1).toISOString() }));
    outbox.put(inShard('ord-c', 6, { placedAt: at(2).toISOString() }));
    outbox.produceErrors.set(
      'ord-big',
      Object.assign(new Error('too large'), { apiId: 'MESSAGE_TOO_LARGE' }),
    );
    const summary = await sweep(outbox, 'orders', at(60), config, silent);
    expect(summary).toMatchObject({ reproduced: 2, abandoned: 1, failed: 0 });
    expect(outbox.produced.map((r) => r.key)).toEqual(['ord-a', 'ord-c']);
    expect(outbox.items.get('ord-big')).toMatchObject({
      outboxAttempts: 1,
      outboxAbandonReason: 'the broker refused its OrderReceived: Error',
    });
  });

  it('counts a transient produce failure and leaves the orders to their next attempt', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(inShard('ord-a', 7));
    outbox.produceErrors.set('ord-a', named('NetworkError'));
    expect(await sweep(outbox, 'orders', at(60), config, silent)).toMatchObject({
      reproduced: 0,
      failed: 1,
    });
    expect(outbox.items.get('ord-a')).toMatchObject({ outboxAttempts: 1, outboxShard: '7' });
    outbox.produceErrors.clear();
    expect(await sweep(outbox, 'orders', at(60 + 60), config, silent)).toMatchObject({ reproduced: 1 });
  });

  it('names the event it re-produces: OrderCancelled for a cancelled order', async () => {
    const outbox = new MemoryOutbox();
    outbox.put(
      inShard('ord-x', 0, {
        status: 'CANCELLED',
        cancelledFrom: 'CONFIRMED',
        history: [{ status: 'CANCELLED', at: placedAt }],
      }),
    );
    const log = new SweepLines();
    await sweep(outbox, 'orders', at(60), config, log);
    expect(log.lines).toEqual(['reproduced ord-x 1 OrderCancelled']);
  });
});
