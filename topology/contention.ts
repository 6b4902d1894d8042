/**
 * A model of DynamoDB under contention for ONE hot item (a SKU's stock item during a flash sale); the
 * capacity model (./capacity.ts) reads its ceiling, and local/faults/flash-sale.ts injects what it predicts. Pure: no I/O, no clock. docs/capacity.md, "Per SKU", gives the
 * AWS facts it rests on with their pages (a partition's 1,000 write units per second, 2 write units per item
 * of a transactional write, optimistic transactions: an attempt that finds the item held is refused) and its
 * figures.
 *
 * The item is a server without a queue (an Erlang loss system, M/G/1/1): with attempts arriving at rate x
 * (τ the hold time in seconds), the item is held a fraction xτ/(1+xτ) of the time (each attempt's conflict
 * probability) and x/(1+xτ) attempts per second are decided. An order is retried until decided: at λ
 * orders/s, x = λ/(1−λτ), the conflict probability is λτ and an order takes 1/(1−λτ) attempts. The
 * partition's write units cap the attempts that reach the item, the writers cap the attempts offered; past
 * the ceiling (the decided rate at the larger cap) orders queue on their partitions, the attempts beyond the
 * write units are throttled, and the SKU is decided at the ceiling.
 *
 * What it leaves out: arrivals are taken as Poisson, while one invocation starts up to 32 of a batch's
 * records at once (more conflicts under a backlog); the hold time is an assumption (`DEFAULT_TRANSACTION_MS`).
 */
import { manifest } from './manifest.ts';
import { kafkaTriggerOf } from './topics.ts';

/** AWS's documented limits and costs (see the module comment for the pages). */
export const DYNAMODB_LIMITS = {
  partitionWriteUnitsPerSecond: 1_000,
  /** Write units per item of a transactional write, per KB (rounded up). */
  transactionalWriteUnitsPerKb: 2,
} as const;

/**
 * How long a transaction holds its items, prepare to commit: an ASSUMPTION. AWS documents single-digit
 * millisecond latency for a write, and the item is held at least across the commit's write; 5 ms is the
 * middle of that range. docs/capacity.md shows the figures at 2, 5, 10 and 20 ms.
 */
export const DEFAULT_TRANSACTION_MS = 5;

/** Inventory's reservation retry (functions/inventory/step.ts `RESERVATION_RETRY`; a test checks). */
export const RESERVATION_RETRY_POLICY = { attempts: 6, baseMs: 20, capMs: 400 } as const;

/** The mean full-jitter wait of one invocation's retries: retry n waits U[0, min(cap, base × 2^(n−1))). */
export function meanRetryDelayMs(policy: { attempts: number; baseMs: number; capMs: number }): number {
  const retries = policy.attempts - 1;
  if (retries < 1) return 0;
  let sum = 0;
  for (let n = 1; n <= retries; n += 1) sum += Math.min(policy.capMs, policy.baseMs * 2 ** (n - 1)) / 2;
  return sum / retries;
}

/** A writer's mean wait between its attempts: 62 ms with inventory's policy (10, 20, 40, 80, 160). */
export const DEFAULT_RETRY_DELAY_MS = meanRetryDelayMs(RESERVATION_RETRY_POLICY);

/** Records of different orders one invocation runs at once: consumer.ts's MAX_CONCURRENT_ORDERS (a test checks). */
export const ORDERS_PER_INVOCATION = 32;

/**
 * λ (`ordersPerSecond`, each order one reservation decision), the reservations of the SKU that can be in
 * flight at once ({@link pipelineWriters}), τ (`transactionMs`), a writer's mean wait between two attempts,
 * the stock item's size (write units per attempt = 2 × ⌈KB⌉), the write units a cancelled attempt is charged
 * (undocumented; by default as a committed one, an upper bound) and other writes to the item's partition.
 */
export interface ContentionInput {
  ordersPerSecond: number;
  concurrentWriters: number;
  transactionMs?: number;
  retryDelayMs?: number;
  itemKb?: number;
  cancelledAttemptWcu?: number;
  otherWriteUnitsPerSecond?: number;
}

const positive = (name: string, value: number) => {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number`);
};

/** The admitted attempt rate at which the partition's write units are used up. */
function writeLimitedRate(limit: number, tau: number, wcu: number, cancelledWcu: number): number {
  // Attempts x, of which x/(1+xτ) decided (w units) and the rest cancelled (c units): solve units = limit,
  // i.e. cτx² + (w − Lτ)x − L = 0.
  if (limit <= 0) return 0;
  const b = wcu - limit * tau;
  if (cancelledWcu === 0) return b > 0 ? limit / b : Number.POSITIVE_INFINITY;
  const a = cancelledWcu * tau;
  return (-b + Math.sqrt(b * b + 4 * a * limit)) / (2 * a);
}

const decided = (x: number, tau: number) => (Number.isFinite(x) ? x / (1 + x * tau) : 1 / tau);

/** The model's estimate for one hot item; see the module comment. */
export function contention(input: ContentionInput) {
  const tau = (input.transactionMs ?? DEFAULT_TRANSACTION_MS) / 1000;
  const retryDelay = (input.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS) / 1000;
  const itemKb = input.itemKb ?? 1;
  positive('ordersPerSecond', input.ordersPerSecond);
  positive('concurrentWriters', input.concurrentWriters);
  positive('transactionMs', tau);
  positive('itemKb', itemKb);
  const wcu = DYNAMODB_LIMITS.transactionalWriteUnitsPerKb * Math.ceil(itemKb);
  const cancelledWcu = input.cancelledAttemptWcu ?? wcu;
  const limit = DYNAMODB_LIMITS.partitionWriteUnitsPerSecond - (input.otherWriteUnitsPerSecond ?? 0);

  const byWrites = writeLimitedRate(limit, tau, wcu, cancelledWcu);
  // Each writer has one attempt in flight (held or refused after about τ), then waits before the next.
  const byWriters = input.concurrentWriters / (tau + retryDelay);
  const admittedMax = Math.min(byWrites, byWriters);
  const ceiling = decided(admittedMax, tau);
  const lambda = input.ordersPerSecond;
  const saturated = lambda >= ceiling;

  // Below the ceiling every order is decided: x/(1+xτ) = λ. At it, every writer retries and the partition
  // throttles what its write units cannot take.
  const offered = saturated ? byWriters : lambda / (1 - lambda * tau);
  const admitted = saturated ? admittedMax : offered;
  const decidedPerSecond = saturated ? ceiling : lambda;
  const conflictProbability = (admitted * tau) / (1 + admitted * tau);
  const throttleProbability = offered > admitted ? 1 - admitted / offered : 0;
  const perAttempt = (1 - throttleProbability) * (1 - conflictProbability);
  const attempts = RESERVATION_RETRY_POLICY.attempts;
  return {
    /** Per attempt that reaches the item: the chance it finds the item held (TransactionConflict). */
    conflictProbability,
    /** Per attempt: the chance the partition throttles it (over its 1,000 write units). */
    throttleProbability,
    /** Attempts (requests to DynamoDB) per reservation decision. */
    expectedAttempts: 1 / perAttempt,
    /** The most reservation decisions per second the SKU can take; past it orders queue on their partitions. */
    ceiling,
    saturated,
    /** min(λ, ceiling). */
    decidedPerSecond,
    /** Attempts offered per second (throttled ones included). */
    attemptsPerSecond: offered,
    writeUnitsPerSecond: decidedPerSecond * wcu + (admitted - decidedPerSecond) * cancelledWcu,
    limitedBy: byWrites <= byWriters ? ('partition-writes' as const) : ('writers' as const),
    /** Still undecided after one invocation's attempts: the record is reported failed, its partition redone. */
    redoneProbability: (1 - perAttempt) ** attempts,
    /** Still undecided after every invocation the mapping makes (1 + retryAttempts): dead-lettered. */
    exhaustedProbability:
      (1 - perAttempt) ** (attempts * (1 + (kafkaTriggerOf('inventory')?.retryAttempts ?? 0))),
  };
}

/**
 * How many reservations of one SKU the pipeline can have in flight: OrderReceived is keyed by order id, so a
 * SKU's orders are on every partition; each partition is read by one invocation at a time, which runs up to
 * {@link ORDERS_PER_INVOCATION} of its batch's orders at once (functions/shared/consumer.ts).
 */
export function pipelineWriters(
  partitions = manifest.topics.OrderReceived.partitions,
  batchSize = kafkaTriggerOf('inventory')?.batchSize ?? 1,
  perInvocation = ORDERS_PER_INVOCATION,
): number {
  return partitions * Math.min(batchSize, perInvocation);
}

/** Issue #20's flash sale: 2,000 orders in 20 s for one SKU with 500 in stock. */
export const FLASH_SALE = { orders: 2_000, seconds: 20, stock: 500 } as const;

export interface FlashSaleOptions {
  /** The SKU on sale (the stock item the rules target). */
  sku: string;
  orders?: number;
  seconds?: number;
  /** Stock buckets the SKU's stock is split over (1: one item); each takes an equal share of the orders. */
  buckets?: number;
  transactionMs?: number;
  concurrentWriters?: number;
  seed?: number;
}

/** The model's estimate for a flash sale: each stock item (bucket) takes orders/seconds/buckets per second. */
export function flashSaleEstimate(options: Omit<FlashSaleOptions, 'sku' | 'seed'> = {}) {
  const buckets = options.buckets ?? 1;
  positive('buckets', buckets);
  const rate = (options.orders ?? FLASH_SALE.orders) / (options.seconds ?? FLASH_SALE.seconds);
  return contention({
    ordersPerSecond: rate / buckets,
    concurrentWriters: options.concurrentWriters ?? pipelineWriters(),
    ...(options.transactionMs === undefined ? {} : { transactionMs: options.transactionMs }),
  });
}
