/**
 * The chaos scenarios of injected AWS errors (issue #20), data like ./chaos-scenarios.ts's: the fault
 * profile the runtime starts with, the orders sent against which stock, a pure `verdict(effects)` (it
 * reads only what the run left behind, so it is unit-tested without a broker); and the figures of such a
 * run: attempts per order, the flash sale's.
 */
import { type CatalogEntry, catalogBySku } from '../../functions/shared/catalog.ts';
import { flashSaleProfile } from '../../local/faults/flash-sale.ts';
import {
  builtInFaultProfile,
  type FaultCounters,
  type FaultKind,
  type FaultProfile,
  type FaultRuleInput,
  parseFaultProfile,
} from '../../local/faults/profile.ts';
import { list } from './chaos-faults.ts';
import {
  invariants,
  type RunSize,
  type Scenario,
  type ScenarioEffects,
  shipsEverything,
} from './chaos-scenarios.ts';
import type { CompletionTracker } from './driver.ts';
import { benchOrder } from './orders.ts';
import { subtractStats } from './phase.ts';
import type { ChildStats } from './protocol.ts';
import { summarize } from './stats.ts';
import type { EffectsReport } from './verify.ts';

/**
 * Rules that never fire (rate 0) but count, in the layer's `byRule.matched`, every request of their kind:
 * the attempts per order (each HTTP request the functions' clients make, the SDK's own retries included).
 * First, so that each matches every request (latency rules are drawn whatever fires after them).
 */
const COUNTING_RULES: FaultRuleInput[] = [
  { name: 'count:dynamodb', service: 'dynamodb' },
  { name: 'count:dynamodb:TransactWriteItems', service: 'dynamodb', operations: ['TransactWriteItems'] },
  { name: 'count:sns', service: 'sns' },
].map((rule) => ({ ...rule, rate: 0, fault: { kind: 'latency', ms: 0 } }) as FaultRuleInput);

export const withCountingRules = (profile: FaultProfile): FaultProfile =>
  parseFaultProfile({ ...profile, rules: [...COUNTING_RULES, ...profile.rules] });

const countOf = (faults: FaultCounters | undefined, rule: string) => faults?.byRule[rule]?.matched ?? 0;

/** Transient errors must never put a record on DeadLetterQueue. */
function deadLetterFailures(e: ScenarioEffects): string[] {
  const deadLettered = list(e.deadLettered, '');
  return deadLettered ? [`records dead-lettered under transient errors: ${deadLettered}`] : [];
}

/** A scenario must be able to fail: it fails when its profile injected nothing of a kind it is about. */
function injectionFailures(faults: FaultCounters | undefined, kinds: readonly FaultKind[]): string[] {
  if (!faults) return ['the runtime had no fault layer: nothing was injected'];
  return kinds
    .filter((kind) => (faults.byKind[kind] ?? 0) === 0)
    .map((kind) => `no ${kind} was injected (${faults.requests} requests through the fault layer)`);
}

/** A scenario of the demo orders (one to three lines, plentiful stock) under a built-in profile. */
function loadScenario(name: string, profileName: string, kinds: readonly FaultKind[]): Scenario {
  return {
    name,
    defaults: { orders: 1_000, rate: 20 },
    profile: () => builtInFaultProfile(profileName) as FaultProfile,
    verdict: (e) => {
      const verdict = shipsEverything(e);
      verdict.failures.push(...deadLetterFailures(e), ...injectionFailures(e.faults, kinds));
      return verdict;
    },
  };
}

/** The one SKU of the flash sale: the demo's limited vinyl, stocked for the sale. */
export const FLASH_SALE_SKU = 'SKU-VINYL-LTD';

/**
 * Rules of `profile` that were expected to fire at least 5 times (requests they matched × their rate) and
 * never did: the injection is not working (the chance of no injection is then below e^−5, under 1%).
 */
export function silentRules(profile: FaultProfile, faults: FaultCounters | undefined): string[] {
  return profile.rules.flatMap((rule) => {
    const counts = rule.name ? faults?.byRule[rule.name] : undefined;
    if (!rule.name || !counts || rule.rate === 0) return [];
    return counts.matched * rule.rate >= 5 && counts.fired === 0 ? [rule.name] : [];
  });
}

/** Exactly the stock shipped, every other order rejected and told once, nothing oversold or lost. Pure. */
function flashSaleVerdict(e: ScenarioEffects) {
  const ended = (orderId: string) =>
    ['SHIPPED', 'REJECTED'].includes(e.effects.orders.get(orderId)?.status ?? '');
  const verdict = invariants(e, 'ended SHIPPED or REJECTED', ended);
  const failures = [...verdict.failures, ...deadLetterFailures(e)];
  const shipped = e.effects.statuses.SHIPPED ?? 0;
  const rejected = e.effects.statuses.REJECTED ?? 0;
  const expectedShipped = Math.min(e.stock, e.accepted.length);
  if (shipped > e.stock) failures.push(`oversold: ${shipped} units shipped of ${e.stock} in stock`);
  else if (shipped !== expectedShipped)
    failures.push(`${shipped} unit(s) shipped, not ${expectedShipped} (${e.stock} in stock)`);
  if (rejected !== e.accepted.length - expectedShipped)
    failures.push(`${rejected} order(s) rejected, not ${e.accepted.length - expectedShipped}`);
  if (!e.faults) failures.push('the runtime had no fault layer: nothing was injected');
  for (const rule of e.profile ? silentRules(e.profile, e.faults) : [])
    failures.push(`${rule} never fired, though the model’s rate made it likely`);
  return { ...verdict, failures };
}

/** The warm-up orders' SKU in the flash sale (stocked like the sale's, never faulted). */
export const WARMUP_SKU = 'SKU-TSHIRT-M';
/** A warm-up order's id: of the run (checked like the others), never counted as one of its orders. */
export const isWarmup = (orderId: string): boolean => orderId.includes('-warmup-');

/** Order `index` of the run: one unit of `sku` (`tag` in its id after the run's). */
const oneUnitOf =
  (sku: string, tag = '') =>
  (runId: string, index: number, entries: readonly CatalogEntry[]) => {
    const entry = entries.find((e) => e.sku === sku) as CatalogEntry;
    const { items: _items, ...order } = benchOrder(runId, index, [entry]);
    const items = [{ sku, name: entry.name, quantity: 1, unitPrice: entry.unitPrice }];
    return { ...order, orderId: `bench-${runId}-${tag}${index}`, items };
  };

export const flashSale = {
  name: 'flash-sale',
  defaults: { orders: 2_000, rate: 100 },
  stockFor: (orders: number) => Math.max(1, Math.round(orders / 4)),
  catalog: (stock: number) =>
    [FLASH_SALE_SKU, WARMUP_SKU].map((sku) => ({
      ...(catalogBySku.get(sku) as CatalogEntry),
      initialStock: stock,
    })),
  order: oneUnitOf(FLASH_SALE_SKU),
  // Cold starts would otherwise take the first seconds, while the stock sells.
  warmup: { orders: 20, order: oneUnitOf(WARMUP_SKU, 'warmup-') },
  // The rates topology/contention.ts predicts for this many orders/s on one stock item.
  profile: ({ orders, rate }: RunSize) =>
    flashSaleProfile({ sku: FLASH_SALE_SKU, orders, seconds: orders / rate }),
  verdict: flashSaleVerdict,
} satisfies Scenario;

export const awsScenarios = {
  // Transaction conflicts on the inventory, single-item write conflicts on inventory and orders.
  'ddb-contention': loadScenario('ddb-contention', 'contention', [
    'TransactionCanceledException',
    'TransactionConflictException',
  ]),
  // Throttling of the inventory, orders and idempotency tables.
  'ddb-throttling': loadScenario('ddb-throttling', 'throttling', [
    'ThrottlingException',
    'ProvisionedThroughputExceededException',
    'TransactionCanceledException',
  ]),
  // DynamoDB 500s and dropped connections before and after the write; SNS 500s.
  'ddb-errors': loadScenario('ddb-errors', 'errors', ['InternalServerError', 'drop', 'InternalError']),
  'sns-throttling': loadScenario('sns-throttling', 'sns-throttling', ['Throttling']),
  'flash-sale': flashSale,
} satisfies Record<string, Scenario>;

const per = (n: number, orders: number) => Math.round((n / Math.max(1, orders)) * 100) / 100;

/** The attempts of a run, from the fault layer's counters, the probe's calls and the mappings' counters. */
export function attemptFigures(input: {
  orders: number;
  faults: FaultCounters | undefined;
  dynamodbCalls: number;
  failedInvocations: number;
}) {
  const { orders, faults } = input;
  const { latency: _latency, ...errors } = faults?.byKind ?? {};
  return {
    /** The run's orders in the orders table (the API wrote them): what the figures are divided by. */
    orders,
    /** Every HTTP request (the SDK's retries and the functions' own), and the calls the functions made. */
    dynamodbRequestsPerOrder: per(countOf(faults, 'count:dynamodb'), orders),
    dynamodbCallsPerOrder: per(input.dynamodbCalls, orders),
    snsRequestsPerOrder: per(countOf(faults, 'count:sns'), orders),
    /** Errors and dropped connections injected per order; injections by kind (latency aside) over the run. */
    injectedPerOrder: per(faults?.injected ?? 0, orders),
    injectedByKind: Object.fromEntries(Object.entries(errors).sort()),
    /** Mapping invocations that failed (their batch retried or bisected). */
    failedInvocations: input.failedInvocations,
    failedInvocationsPerOrder: per(input.failedInvocations, orders),
    transactionsPerOrder: per(countOf(faults, 'count:dynamodb:TransactWriteItems'), orders),
  };
}
type AttemptFigures = ReturnType<typeof attemptFigures>;

/** The attempts of the measured orders: the counters at the end less those after the warm-up. */
export function attemptsOf(stats: ChildStats | undefined, warm: ChildStats | undefined, orders: number) {
  const since = subtractStats(stats, warm);
  return attemptFigures({
    orders,
    faults: since?.faults,
    dynamodbCalls: Object.values(since?.dynamodb ?? {}).reduce((n, table) => n + table.calls, 0),
    failedInvocations: Object.values(since?.emulators ?? {}).reduce((n, e) => n + e.failedInvocations, 0),
  });
}

export const attemptsLine = (a: AttemptFigures) =>
  `per order: ${a.dynamodbRequestsPerOrder} DynamoDB requests for ${a.dynamodbCallsPerOrder} calls, ${a.snsRequestsPerOrder} SNS requests, ${a.transactionsPerOrder} inventory transactions, ${a.injectedPerOrder} faults injected, ${a.failedInvocationsPerOrder} failed invocations retried (${a.failedInvocations}); injected: ${list(a.injectedByKind, 'nothing')}`;

/** The effects of the measured orders only (the warm-up's are checked with the rest: notices, stock). */
export function measuredOnly(effects: EffectsReport): EffectsReport {
  const orders = new Map([...effects.orders].filter(([orderId]) => !isWarmup(orderId)));
  const statuses: Record<string, number> = {};
  for (const order of orders.values()) statuses[order.status] = (statuses[order.status] ?? 0) + 1;
  const shipped = new Set([...effects.shipped].filter((orderId) => !isWarmup(orderId)));
  return { ...effects, orders, statuses, shipped };
}

/** Reservations per second from the CONFIRMED times of the orders' histories (n reservations, n − 1 gaps). */
export function reservationRate(confirmedAt: readonly string[]): { perSec: number; spanS: number } {
  const times = confirmedAt.map((at) => Date.parse(at)).filter(Number.isFinite);
  if (times.length < 2) return { perSec: 0, spanS: 0 };
  const spanS = Math.max(0.001, (Math.max(...times) - Math.min(...times)) / 1000);
  return { perSec: Math.round(((times.length - 1) / spanS) * 10) / 10, spanS: Math.round(spanS * 100) / 100 };
}

/**
 * The flash sale's figures, from its measured orders, their completions and the inventory transactions
 * counted: reservations/s while stock lasted, transactions per decision and per reservation, and the
 * latency (202 to the final notice delivered) of the orders that got a unit and of those rejected.
 */
export function flashSaleFigures(
  measured: EffectsReport,
  tracker: CompletionTracker,
  stock: number,
  transactions: number,
) {
  // When inventory reserved each unit: the order's CONFIRMED entry.
  const reserved = [...measured.orders.values()].flatMap(
    (o) => o.history.find((entry) => entry.status === 'CONFIRMED')?.at ?? [],
  );
  const rejected = measured.statuses.REJECTED ?? 0;
  const rate = reservationRate(reserved);
  const latency = (kind: string) => {
    const samples = [...tracker.completed.values()].flatMap((c) => {
      const accepted = tracker.accepted.get(c.orderId);
      return c.kind === kind && accepted !== undefined && !isWarmup(c.orderId) ? [c.at - accepted] : [];
    });
    const { p50Ms, p99Ms, count } = summarize(samples);
    return { p50Ms, p99Ms, count };
  };
  return {
    stock,
    reserved: reserved.length,
    rejected,
    reservationsPerSec: rate.perSec,
    reservingS: rate.spanS,
    transactionsPerDecision: per(transactions, reserved.length + rejected),
    transactionsPerReservation: per(transactions, reserved.length),
    reservedLatency: latency('order-shipped'),
    rejectedLatency: latency('order-rejected'),
  };
}
