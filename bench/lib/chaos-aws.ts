/**
 * The chaos scenarios of injected AWS errors (issue #20): each is data — a name, the fault profile its
 * runtime child starts with, the orders it sends against which stock, and a pure `verdict(effects)` — run
 * by ./chaos-run.ts like the fault scenarios of ./chaos-scenarios.ts — and the figures of such a run (attempts
 * per order, the flash sale's). The verdicts read only what the run left behind (./verify.ts's effects, the
 * fault layer's counters, the mappings' counters), so they are unit-tested without a broker.
 */
import { type CatalogEntry, catalogBySku } from '../../functions/shared/catalog.ts';
import { flashSaleProfile } from '../../local/faults/contention-model.ts';
import {
  builtInFaultProfile,
  type FaultCounters,
  type FaultKind,
  type FaultProfile,
  type FaultRuleInput,
  parseFaultProfile,
} from '../../local/faults/profile.ts';
import { type RunShape, type RunSize, recordFailures } from './chaos-scenarios.ts';
import type { CompletionTracker } from './driver.ts';
import { benchOrder, type OrderBody, stockFor } from './orders.ts';
import { subtractStats } from './phase.ts';
import type { ChildStats } from './protocol.ts';
import { benchCatalog } from './stack.ts';
import { summarize } from './stats.ts';
import type { EffectsReport, NotificationCheck } from './verify.ts';

export const awsScenarioNames = [
  'ddb-contention',
  'ddb-throttling',
  'ddb-errors',
  'sns-throttling',
  'flash-sale',
] as const;
export type AwsScenarioName = (typeof awsScenarioNames)[number];

/** What a run left behind, as the verdict reads it. */
export interface AwsScenarioEffects {
  sent: number;
  /** Orders answered 202. */
  accepted: readonly string[];
  /** Orders never answered 202 despite the client's retries. */
  notAccepted: number;
  stock: number;
  effects: Pick<EffectsReport, 'statuses' | 'orders' | 'shipped' | 'stockMismatches' | 'doubleReservedUnits'>;
  notifications: Pick<NotificationCheck, 'duplicates' | 'missing'>;
  /** This run's records on DeadLetterQueue, by reason (transient errors must never put one there). */
  deadLettered: Record<string, number>;
  /** The profile the runtime ran with, and its fault layer's counters at the end (undefined: none). */
  profile: FaultProfile;
  faults: FaultCounters | undefined;
}

export interface AwsChaosScenario extends RunShape {
  name: AwsScenarioName;
  summary: string;
  /** Defaults of `npm run chaos -- --scenario <name>` without --orders / --rate. */
  defaults: { orders: number; rate: number };
  stockFor: (orders: number) => number;
  catalog: (stock: number) => CatalogEntry[];
  order: (runId: string, index: number, entries: readonly CatalogEntry[]) => OrderBody;
  /** The runtime child's fault profile (the counting rules of `withCountingRules` are added to it). */
  profile: (size: RunSize) => FaultProfile;
  /** Failures (empty: PASS). Pure. */
  verdict: (effects: AwsScenarioEffects) => string[];
}

/**
 * Rules that never fire (rate 0) but count, in the layer's `byRule.matched`, every request of their kind:
 * the attempts per order (each HTTP request the functions' clients make, the SDK's own retries included).
 * First, so that each matches every request (latency rules are drawn whatever fires after them).
 */
export const COUNTING_RULES = {
  'count:dynamodb': { service: 'dynamodb' },
  'count:dynamodb:TransactWriteItems': { service: 'dynamodb', operations: ['TransactWriteItems'] },
  'count:sns': { service: 'sns' },
} as const;

export function withCountingRules(profile: FaultProfile): FaultProfile {
  const counting: FaultRuleInput[] = Object.entries(COUNTING_RULES).map(([name, match]) => ({
    name,
    ...match,
    operations: 'operations' in match ? [...match.operations] : undefined,
    rate: 0,
    fault: { kind: 'latency', ms: 0 },
  }));
  return parseFaultProfile({ ...profile, rules: [...counting, ...profile.rules] });
}

const countOf = (faults: FaultCounters | undefined, rule: keyof typeof COUNTING_RULES) =>
  faults?.byRule[rule]?.matched ?? 0;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The guarantees every scenario keeps: nothing lost, doubled or dead-lettered, every notice once. */
export function invariantFailures(e: AwsScenarioEffects, ended: (status: string | undefined) => boolean) {
  const failures: string[] = [];
  const lost = e.accepted.filter((orderId) => !ended(e.effects.orders.get(orderId)?.status));
  if (lost.length > 0)
    failures.push(
      `${plural(lost.length, 'accepted order')} never ended, e.g. ${lost.slice(0, 3).join(', ')}`,
    );
  if (e.notAccepted > 0) failures.push(`${plural(e.notAccepted, 'order')} never accepted`);
  failures.push(...recordFailures(e));
  if (e.effects.doubleReservedUnits > 0)
    failures.push(`${e.effects.doubleReservedUnits} unit(s) reserved twice`);
  const deadLettered = Object.entries(e.deadLettered);
  if (deadLettered.length > 0)
    failures.push(
      `records dead-lettered under transient errors: ${deadLettered.map(([reason, n]) => `${reason} ${n}`).join(', ')}`,
    );
  return failures;
}

/** A scenario must be able to fail: it fails when its profile injected nothing of a kind it is about. */
export function injectionFailures(faults: FaultCounters | undefined, kinds: readonly FaultKind[]): string[] {
  if (!faults) return ['the runtime had no fault layer: nothing was injected'];
  return kinds
    .filter((kind) => (faults.byKind[kind] ?? 0) === 0)
    .map((kind) => `no ${kind} was injected (${faults.requests} requests through the fault layer)`);
}

const shipsEverything = (status: string | undefined) => status === 'SHIPPED';

/** A scenario of the demo orders (one to three lines, plentiful stock) under a built-in profile. */
function loadScenario(
  name: AwsScenarioName,
  profileName: string,
  kinds: readonly FaultKind[],
  summary: string,
): AwsChaosScenario {
  return {
    name,
    summary,
    defaults: { orders: 1_000, rate: 20 },
    stockFor,
    catalog: benchCatalog,
    order: benchOrder,
    profile: () => builtInFaultProfile(profileName) as FaultProfile,
    verdict: (e) => [...invariantFailures(e, shipsEverything), ...injectionFailures(e.faults, kinds)],
  };
}

// ---- The flash sale ----------------------------------------------------------------------------------

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

/** Exactly the stock shipped, every other order rejected and told once, nothing oversold or lost. */
export function flashSaleVerdict(e: AwsScenarioEffects): string[] {
  const ended = (status: string | undefined) => status === 'SHIPPED' || status === 'REJECTED';
  const failures = invariantFailures(e, ended);
  const shipped = e.effects.statuses.SHIPPED ?? 0;
  const rejected = e.effects.statuses.REJECTED ?? 0;
  const expectedShipped = Math.min(e.stock, e.accepted.length);
  if (shipped > e.stock) failures.push(`oversold: ${shipped} units shipped of ${e.stock} in stock`);
  else if (shipped !== expectedShipped)
    failures.push(`${shipped} unit(s) shipped, not ${expectedShipped} (${e.stock} in stock)`);
  if (rejected !== e.accepted.length - expectedShipped)
    failures.push(`${rejected} order(s) rejected, not ${e.accepted.length - expectedShipped}`);
  if (!e.faults) failures.push('the runtime had no fault layer: nothing was injected');
  for (const rule of silentRules(e.profile, e.faults))
    failures.push(`${rule} never fired, though the model’s rate made it likely`);
  return failures;
}

/** The warm-up orders' SKU in the flash sale (stocked like the sale's, never faulted). */
export const WARMUP_SKU = 'SKU-TSHIRT-M';
/** A warm-up order's id: of the run (checked like the others), never counted as one of its orders. */
export const isWarmup = (orderId: string): boolean => orderId.includes('-warmup-');

export const flashSale: AwsChaosScenario = {
  name: 'flash-sale',
  summary: 'one SKU, quantity 1 per order, a quarter of the orders in stock; conflicts and throttling on it',
  defaults: { orders: 2_000, rate: 100 },
  stockFor: (orders) => Math.max(1, Math.round(orders / 4)),
  catalog: (stock) =>
    [FLASH_SALE_SKU, WARMUP_SKU].map((sku) => ({
      ...(catalogBySku.get(sku) as CatalogEntry),
      initialStock: stock,
    })),
  order: (runId, index, entries) => {
    const entry = entries.find((e) => e.sku === FLASH_SALE_SKU) as CatalogEntry;
    const { items: _items, ...order } = benchOrder(runId, index, [entry]);
    return {
      ...order,
      items: [{ sku: entry.sku, name: entry.name, quantity: 1, unitPrice: entry.unitPrice }],
    };
  },
  // Cold starts would otherwise take the first seconds, while the stock sells.
  warmup: {
    orders: 20,
    order: (runId, index, entries) => {
      const entry = entries.find((e) => e.sku === WARMUP_SKU) as CatalogEntry;
      const { items: _items, ...order } = benchOrder(runId, index, [entry]);
      return {
        ...order,
        orderId: `bench-${runId}-warmup-${index}`,
        items: [{ sku: entry.sku, name: entry.name, quantity: 1, unitPrice: entry.unitPrice }],
      };
    },
  },
  // The rates local/faults/contention-model.ts predicts for this many orders/s on one stock item.
  profile: ({ orders, rate }) => flashSaleProfile({ sku: FLASH_SALE_SKU, orders, seconds: orders / rate }),
  verdict: flashSaleVerdict,
};

export const awsScenarios: Record<AwsScenarioName, AwsChaosScenario> = {
  'ddb-contention': loadScenario(
    'ddb-contention',
    'contention',
    ['TransactionCanceledException', 'TransactionConflictException'],
    'transaction conflicts on the inventory, single-item write conflicts on inventory and orders',
  ),
  'ddb-throttling': loadScenario(
    'ddb-throttling',
    'throttling',
    ['ThrottlingException', 'ProvisionedThroughputExceededException', 'TransactionCanceledException'],
    'throttling of the inventory, orders and idempotency tables',
  ),
  'ddb-errors': loadScenario(
    'ddb-errors',
    'errors',
    ['InternalServerError', 'drop', 'InternalError'],
    'DynamoDB 500s and dropped connections before and after the write; SNS 500s',
  ),
  'sns-throttling': loadScenario('sns-throttling', 'sns-throttling', ['Throttling'], 'SNS Publish throttled'),
  'flash-sale': flashSale,
};

// ---- Attempts per order ------------------------------------------------------------------------------

export interface AttemptFigures {
  /** The run's orders in the orders table (the API wrote them): what the figures are divided by. */
  orders: number;
  /** HTTP requests to DynamoDB per order (every attempt: the SDK's retries and the functions' own). */
  dynamodbRequestsPerOrder: number;
  /** DynamoDB calls per order as the functions made them (before the SDK's retries). */
  dynamodbCallsPerOrder: number;
  /** HTTP requests to SNS per order (every attempt). */
  snsRequestsPerOrder: number;
  /** Errors and dropped connections injected per order. */
  injectedPerOrder: number;
  /** Injections by kind (latency included), over the run. */
  injectedByKind: Record<string, number>;
  /** Mapping invocations that failed (their batch retried or bisected), over the run and per order. */
  failedInvocations: number;
  failedInvocationsPerOrder: number;
  /** Inventory transactions (`TransactWriteItems` requests) per order. */
  transactionsPerOrder: number;
}

const per = (n: number, orders: number) => Math.round((n / Math.max(1, orders)) * 100) / 100;

/** The attempts of a run, from the fault layer's counters, the probe's calls and the mappings' counters. */
export function attemptFigures(input: {
  orders: number;
  faults: FaultCounters | undefined;
  dynamodbCalls: number;
  failedInvocations: number;
}): AttemptFigures {
  const { orders, faults } = input;
  const { latency: _latency, ...errors } = faults?.byKind ?? {};
  return {
    orders,
    dynamodbRequestsPerOrder: per(countOf(faults, 'count:dynamodb'), orders),
    dynamodbCallsPerOrder: per(input.dynamodbCalls, orders),
    snsRequestsPerOrder: per(countOf(faults, 'count:sns'), orders),
    injectedPerOrder: per(faults?.injected ?? 0, orders),
    injectedByKind: Object.fromEntries(Object.entries(errors).sort()),
    failedInvocations: input.failedInvocations,
    failedInvocationsPerOrder: per(input.failedInvocations, orders),
    transactionsPerOrder: per(countOf(faults, 'count:dynamodb:TransactWriteItems'), orders),
  };
}

/** What the layer counted between two snapshots (`before` undefined: since it started): each count less the earlier. */
export const countersSince = (after: FaultCounters | undefined, before: FaultCounters | undefined) =>
  subtractStats(after, before);

// ---- The flash sale's figures -------------------------------------------------------------------------

export interface FlashSaleFigures {
  stock: number;
  reserved: number;
  rejected: number;
  /** Reservations per second between the first and the last reservation (while stock lasted). */
  reservationsPerSec: number;
  /** Seconds from the first to the last reservation. */
  reservingS: number;
  /** Inventory transactions per order inventory decided (reserved or rejected), and per reservation. */
  transactionsPerDecision: number;
  transactionsPerReservation: number;
  /** POST's 202 to the final notice delivered, of the orders that got a unit, and of those rejected. */
  reservedLatency: { p50Ms: number; p99Ms: number; count: number };
  rejectedLatency: { p50Ms: number; p99Ms: number; count: number };
}

/** Reservations per second from the CONFIRMED times of the orders' histories (n reservations, n − 1 gaps). */
export function reservationRate(confirmedAt: readonly string[]): { perSec: number; spanS: number } {
  const times = confirmedAt
    .map((at) => Date.parse(at))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const first = times[0];
  const last = times.at(-1);
  if (first === undefined || last === undefined || times.length < 2) return { perSec: 0, spanS: 0 };
  const spanS = Math.max(0.001, (last - first) / 1000);
  return { perSec: Math.round(((times.length - 1) / spanS) * 10) / 10, spanS: Math.round(spanS * 100) / 100 };
}

// ---- The figures of a run ------------------------------------------------------------

const dynamodbCalls = (stats: ChildStats | undefined) =>
  Object.values(stats?.dynamodb ?? {}).reduce((n, table) => n + table.calls, 0);
const failedInvocations = (stats: ChildStats | undefined) =>
  Object.values(stats?.emulators ?? {}).reduce((n, e) => n + e.failedInvocations, 0);

/** The attempts of the measured orders: the counters at the end less those after the warm-up. */
export function attemptsOf(stats: ChildStats | undefined, warm: ChildStats | undefined, orders: number) {
  return attemptFigures({
    orders,
    faults: countersSince(stats?.faults, warm?.faults),
    dynamodbCalls: dynamodbCalls(stats) - dynamodbCalls(warm),
    failedInvocations: failedInvocations(stats) - failedInvocations(warm),
  });
}

/** The effects of the measured orders only (the warm-up's are checked with the rest: notices, stock). */
export function measuredOnly(effects: EffectsReport): EffectsReport {
  const orders = new Map([...effects.orders].filter(([orderId]) => !isWarmup(orderId)));
  const statuses: Record<string, number> = {};
  for (const order of orders.values()) statuses[order.status] = (statuses[order.status] ?? 0) + 1;
  const shipped = new Set([...effects.shipped].filter((orderId) => !isWarmup(orderId)));
  return { ...effects, orders, statuses, shipped };
}

/** The flash sale's figures, from its measured orders, their completions and the transactions counted. */
export function flashSaleFigures(
  measured: EffectsReport,
  tracker: CompletionTracker,
  stock: number,
  transactions: number,
): FlashSaleFigures {
  const reserved = [...measured.orders.values()].filter((o) => o.confirmedAt !== undefined);
  const rejected = measured.statuses.REJECTED ?? 0;
  const rate = reservationRate(reserved.flatMap((o) => (o.confirmedAt ? [o.confirmedAt] : [])));
  const latency = (kind: string) => {
    const samples = [...tracker.completed.values()].flatMap((c) => {
      const accepted = tracker.accepted.get(c.orderId);
      return c.kind === kind && accepted !== undefined && !isWarmup(c.orderId) ? [c.at - accepted] : [];
    });
    const { p50Ms, p99Ms, count } = summarize(samples);
    return { p50Ms, p99Ms, count };
  };
  const per = (n: number, d: number) => Math.round((n / Math.max(1, d)) * 100) / 100;
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

export const attemptsLine = (a: AttemptFigures) =>
  `per order: ${a.dynamodbRequestsPerOrder} DynamoDB requests for ${a.dynamodbCallsPerOrder} calls, ${a.snsRequestsPerOrder} SNS requests, ${a.transactionsPerOrder} inventory transactions, ${a.injectedPerOrder} faults injected, ${a.failedInvocationsPerOrder} failed invocations retried (${a.failedInvocations}); injected: ${
    Object.entries(a.injectedByKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'nothing'
  }`;
