import { describe, expect, it } from 'vitest';
import type { OrderStatus } from '../../functions/shared/orders/model.ts';
import { builtInFaultProfile, type FaultCounters, type FaultProfile } from '../../local/faults/profile.ts';
import { attemptsOf, reservationRate, withCountingRules } from './chaos-run.ts';
import {
  awsScenarios,
  FLASH_SALE_SKU,
  flashSale,
  isWarmup,
  type ScenarioEffects,
  silentRules,
  WARMUP_SKU,
} from './chaos-scenarios.ts';
import { subtractStats } from './phase.ts';
import type { OrderFacts } from './verify.ts';

const fact = (status: OrderStatus): OrderFacts => ({
  status,
  items: [],
  history: [],
});

function counters(byKind: Record<string, number>, byRule: FaultCounters['byRule'] = {}): FaultCounters {
  const injected = Object.entries(byKind)
    .filter(([kind]) => kind !== 'latency')
    .reduce((n, [, c]) => n + c, 0);
  return {
    profile: 'test',
    requests: 1_000,
    untouched: 1_000 - injected,
    delayed: 0,
    injected,
    injectedAfter: 0,
    upstreamFailures: 0,
    byRule,
    byKind,
    byOperation: {},
  };
}

/** A run where every order ended as `statuses` says, told once, stock exact, and `faults` injected. */
function effects(
  statuses: OrderStatus[],
  faults: FaultCounters | undefined,
  more: Partial<ScenarioEffects> = {},
) {
  const orders = new Map(statuses.map((status, i) => [`o${i}`, fact(status)]));
  const counts: Record<string, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return {
    accepted: [...orders.keys()],
    notAccepted: [],
    stock: 100,
    effects: {
      statuses: counts,
      orders,
      shipped: new Set([...orders].filter(([, o]) => o.status === 'SHIPPED').map(([id]) => id)),
      stockMismatches: [],
      doubleReservedUnits: 0,
    },
    notifications: { duplicates: [], missing: [] },
    deadLettered: {},
    faultFailures: [],
    profile: builtInFaultProfile('contention') as FaultProfile,
    faults,
    ...more,
  } satisfies ScenarioEffects;
}

const contention = awsScenarios['ddb-contention'];
const conflicts = { TransactionCanceledException: 40, TransactionConflictException: 9 };

describe('the injected-error scenarios’ verdict', () => {
  it('passes a run where every order shipped once and both kinds of conflict were injected', () => {
    expect(contention.verdict(effects(['SHIPPED', 'SHIPPED'], counters(conflicts))).failures).toEqual([]);
  });

  it('fails a run that injected nothing of its class: it must be able to fail', () => {
    const { failures } = contention.verdict(
      effects(['SHIPPED'], counters({ TransactionCanceledException: 3, latency: 10 })),
    );
    expect(failures).toEqual([expect.stringMatching(/^no TransactionConflictException was injected/)]);
    expect(contention.verdict(effects(['SHIPPED'], undefined)).failures).toEqual([
      'the runtime had no fault layer: nothing was injected',
    ]);
  });

  it('fails a lost order, a doubled notice, a double reservation and a dead letter', () => {
    const { failures } = contention.verdict(
      effects(['SHIPPED', 'CONFIRMED'], counters(conflicts), {
        notifications: {
          duplicates: [{ orderId: 'o0', kind: 'order-shipped', recorded: 2, delivered: 2 }],
          missing: [],
        },
        deadLettered: { 'retries-exhausted': 1 },
      }),
    );
    expect(failures).toEqual([
      '1 accepted order(s) never shipped, e.g. o1',
      expect.stringMatching(/^1 notification\(s\) recorded more than once/),
      'records dead-lettered under transient errors: retries-exhausted 1',
    ]);
    const doubled = effects(['SHIPPED'], counters(conflicts));
    doubled.effects.doubleReservedUnits = 2;
    expect(contention.verdict(doubled).failures).toEqual(['2 unit(s) reserved twice']);
  });

  it('gives every scenario of issue #20 a built-in profile and the kinds it is about', () => {
    for (const name of ['ddb-contention', 'ddb-throttling', 'ddb-errors', 'sns-throttling'] as const) {
      const scenario = awsScenarios[name];
      expect(scenario.defaults).toEqual({ orders: 1_000, rate: 20 });
      expect(scenario.profile?.({ orders: 1, rate: 1, stock: 1 }).rules.length).toBeGreaterThan(0);
      expect(scenario.verdict(effects(['SHIPPED'], counters({}))).failures).not.toEqual([]);
    }
  });
});

describe('the flash sale’s verdict', () => {
  const sale = (shipped: number, rejected: number, fired = 30, more: Partial<ScenarioEffects> = {}) => {
    const profile = withCountingRules(flashSale.profile({ orders: 2_000, rate: 100, stock: 500 }));
    const byRule = Object.fromEntries(
      profile.rules.map((rule) => [
        rule.name as string,
        { matched: 2_000, fired: rule.rate > 0 ? fired : 0 },
      ]),
    );
    const statuses = [...Array(shipped).fill('SHIPPED'), ...Array(rejected).fill('REJECTED')];
    return effects(statuses, counters({ TransactionCanceledException: fired }, byRule), {
      stock: 500,
      profile,
      ...more,
    });
  };

  it('passes exactly the stock shipped and every other order rejected', () => {
    expect(flashSale.verdict(sale(500, 1_500)).failures).toEqual([]);
  });

  it('fails an oversell, a short sale and a rejected order never told', () => {
    expect(flashSale.verdict(sale(501, 1_499)).failures).toEqual([
      'oversold: 501 units shipped of 500 in stock',
      '1499 order(s) rejected, not 1500',
    ]);
    expect(flashSale.verdict(sale(499, 1_501)).failures).toEqual([
      '499 unit(s) shipped, not 500 (500 in stock)',
      '1501 order(s) rejected, not 1500',
    ]);
    const untold = sale(500, 1_500, 30, {
      notifications: {
        duplicates: [],
        missing: [{ orderId: 'o700', kind: 'order-rejected', problem: 'not-recorded' }],
      },
    });
    expect(flashSale.verdict(untold).failures).toEqual([
      '1 notification(s) missing, e.g. order-rejected of o700 (not-recorded)',
    ]);
  });

  it('fails when the conflicts the model predicts never came', () => {
    // At 100 orders/s the model predicts conflicts on half the attempts and no throttling (rate 0).
    const profile = flashSale.profile({ orders: 2_000, rate: 100, stock: 500 });
    expect(profile.rules.map((rule) => [rule.name, rule.rate])).toEqual([
      ['flash-sale-throttled', 0],
      ['flash-sale-conflict', 0.5],
    ]);
    expect(flashSale.verdict(sale(500, 1_500, 0)).failures).toEqual([
      'flash-sale-conflict never fired, though the model’s rate made it likely',
    ]);
  });
});

describe('attempts and rates', () => {
  it('counts every request through the counting rules, which never fire', () => {
    const profile = withCountingRules(builtInFaultProfile('contention') as FaultProfile);
    expect(profile.rules.slice(0, 3).map((r) => [r.name, r.rate])).toEqual([
      ['count:dynamodb', 0],
      ['count:dynamodb:TransactWriteItems', 0],
      ['count:sns', 0],
    ]);
    const faults = counters(
      { TransactionCanceledException: 20, latency: 5 },
      {
        'count:dynamodb': { matched: 1_300, fired: 0 },
        'count:dynamodb:TransactWriteItems': { matched: 120, fired: 0 },
        'count:sns': { matched: 210, fired: 0 },
      },
    );
    const stats = {
      functions: {},
      produced: {},
      inFlight: {},
      faults,
      dynamodb: { orders: { calls: 1_250, readUnits: 0, writeUnits: 0 } },
      emulators: { inventory: { invocations: 50, failedInvocations: 7, recordsSentToOnFailure: 0 } },
    };
    expect(attemptsOf(stats, undefined, 100)).toEqual({
      orders: 100,
      dynamodbRequestsPerOrder: 13,
      dynamodbCallsPerOrder: 12.5,
      snsRequestsPerOrder: 2.1,
      injectedPerOrder: 0.2,
      injectedByKind: { TransactionCanceledException: 20 },
      failedInvocations: 7,
      failedInvocationsPerOrder: 0.07,
      transactionsPerOrder: 1.2,
    });
  });

  it('takes the reservation rate between the first and the last reservation', () => {
    const at = (ms: number) => new Date(Date.UTC(2026, 11, 7, 20) + ms).toISOString();
    expect(reservationRate([at(0), at(2_000), at(1_000), at(4_000), at(500)])).toEqual({
      perSec: 1,
      spanS: 4,
    });
    expect(reservationRate([at(0)])).toEqual({ perSec: 0, spanS: 0 });
  });

  it('names a rule that was likely to fire and never did, not one that was unlikely to', () => {
    const profile = builtInFaultProfile('sns-throttling') as FaultProfile;
    expect(silentRules(profile, counters({}, { 'sns-throttling': { matched: 100, fired: 0 } }))).toEqual([
      'sns-throttling',
    ]);
    expect(silentRules(profile, counters({}, { 'sns-throttling': { matched: 10, fired: 0 } }))).toEqual([]);
  });
});

describe('the flash sale’s orders', () => {
  it('asks for one unit of the one SKU; its warm-up orders for another, and are told apart by id', () => {
    const entries = flashSale.catalog(500);
    expect(entries.map((e) => [e.sku, e.initialStock])).toEqual([
      [FLASH_SALE_SKU, 500],
      [WARMUP_SKU, 500],
    ]);
    const order = flashSale.order('run1', 7, entries);
    expect(order.orderId).toBe('bench-run1-7');
    expect(order.items).toEqual([expect.objectContaining({ sku: FLASH_SALE_SKU, quantity: 1 })]);
    const warm = flashSale.warmup?.order('run1', 7, entries);
    expect(warm?.items).toEqual([expect.objectContaining({ sku: WARMUP_SKU, quantity: 1 })]);
    expect([isWarmup(warm?.orderId ?? ''), isWarmup(order.orderId)]).toEqual([true, false]);
  });

  it('counts the measured orders’ faults only: the counters at the end less those after the warm-up', () => {
    const before = counters({ TransactionCanceledException: 2 }, { r: { matched: 10, fired: 2 } });
    const after = counters({ TransactionCanceledException: 7, latency: 1 }, { r: { matched: 50, fired: 7 } });
    const since = subtractStats(after, before);
    expect(since).toMatchObject({ injected: 5, byKind: { TransactionCanceledException: 5, latency: 1 } });
    expect(since?.byRule.r).toEqual({ matched: 40, fired: 5 });
    expect(subtractStats(after, undefined)).toBe(after);
  });
});
