import { describe, expect, it } from 'vitest';
import { RESERVATION_RETRY } from '../functions/inventory/step.ts';
import { MAX_CONCURRENT_ORDERS } from '../functions/shared/consumer.ts';
import { seededRandom } from '../local/faults/profile.ts';
import {
  type ContentionInput,
  contention,
  DEFAULT_RETRY_DELAY_MS,
  DYNAMODB_LIMITS,
  FLASH_SALE,
  flashSaleEstimate,
  meanRetryDelayMs,
  ORDERS_PER_INVOCATION,
  pipelineWriters,
  RESERVATION_RETRY_POLICY,
} from './contention.ts';
import { manifest } from './manifest.ts';

/** The model of one SKU for 1 order/s, 192 writers and 10 ms held per attempt, unless `input` says otherwise. */
const sku = (input: Partial<ContentionInput>) =>
  contention({ ordersPerSecond: 1, concurrentWriters: 192, transactionMs: 10, ...input });

/**
 * A mechanistic check of the model's closed form: orders arrive (Poisson, seeded) at one item, an attempt
 * that finds it held is cancelled and tried again after τ plus a full-jitter wait (uniform, mean 62 ms), one
 * that finds it free holds it for τ. Returns the share of attempts that conflicted.
 */
function simulateHotItem(ordersPerSecond: number, transactionMs: number, seconds: number, seed: number) {
  const random = seededRandom(seed);
  const tau = transactionMs / 1000;
  const times: number[] = [];
  for (let t = 0; t < seconds; ) {
    t += -Math.log(1 - random()) / ordersPerSecond;
    times.push(t);
  }
  // A sorted queue is enough here: a retry lands a few hundred attempts ahead at most.
  const insert = (at: number) => {
    let low = 0;
    let high = times.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((times[mid] as number) < at) low = mid + 1;
      else high = mid;
    }
    times.splice(low, 0, at);
  };
  let heldUntil = Number.NEGATIVE_INFINITY;
  let attempts = 0;
  let conflicts = 0;
  while (times.length > 0) {
    const at = times.shift() as number;
    attempts += 1;
    if (at < heldUntil) {
      conflicts += 1;
      insert(at + tau + random() * 2 * (DEFAULT_RETRY_DELAY_MS / 1000));
    } else heldUntil = at + tau;
  }
  return conflicts / attempts;
}

describe('contention (one hot item)', () => {
  // Below the ceiling: conflict λτ, attempts 1/(1−λτ), no throttling.
  it.each([
    { orders: 10, ms: 5, conflict: 0.05, attempts: 1 / 0.95 },
    { orders: 100, ms: 2, conflict: 0.2, attempts: 1.25 },
    { orders: 100, ms: 5, conflict: 0.5, attempts: 2 },
    { orders: 50, ms: 10, conflict: 0.5, attempts: 2 },
    { orders: 40, ms: 20, conflict: 0.8, attempts: 5 },
  ])(
    '$orders orders/s held $ms ms: conflict $conflict, $attempts attempts, no throttling',
    ({ orders, ms, conflict, attempts }) => {
      const estimate = sku({ ordersPerSecond: orders, transactionMs: ms });
      expect(estimate.saturated).toBe(false);
      expect(estimate.conflictProbability).toBeCloseTo(conflict, 10);
      expect(estimate.expectedAttempts).toBeCloseTo(attempts, 10);
      expect(estimate.throttleProbability).toBe(0);
      expect(estimate.decidedPerSecond).toBe(orders);
      expect(estimate.writeUnitsPerSecond).toBeCloseTo(orders * attempts * 2, 8);
      // An invocation's 6 attempts all conflict, or the pipeline's 54.
      expect(estimate.redoneProbability).toBeCloseTo(conflict ** 6, 12);
      expect(estimate.exhaustedProbability).toBeCloseTo(conflict ** 54, 12);
    },
  );

  it.each([
    { orders: 100, ms: 2 },
    { orders: 100, ms: 5 },
    { orders: 50, ms: 10 },
    { orders: 100, ms: 7 },
  ])('a simulation of the item agrees with λτ: $orders orders/s held $ms ms', ({ orders, ms }) => {
    const model = sku({ ordersPerSecond: orders, transactionMs: ms });
    expect(Math.abs(simulateHotItem(orders, ms, 60, 1) - model.conflictProbability)).toBeLessThan(0.04);
  });

  // The ceiling with every attempt charged 2 units: 1 / (τ + 2/1000) reservations per second.
  it.each([
    { ms: 2, ceiling: 250 },
    { ms: 5, ceiling: 1000 / 7 },
    { ms: 10, ceiling: 1000 / 12 },
    { ms: 20, ceiling: 1000 / 22 },
  ])('held $ms ms, the partition write units cap one SKU at $ceiling decisions/s', ({ ms, ceiling }) => {
    const estimate = sku({ transactionMs: ms });
    expect(estimate.limitedBy).toBe('partition-writes');
    expect(estimate.ceiling).toBeCloseTo(ceiling, 8);
  });

  it('past the ceiling: decided at the ceiling, the excess throttled, the partition at its write units', () => {
    const estimate = sku({ ordersPerSecond: 100 });
    expect(estimate.saturated).toBe(true);
    expect(estimate.decidedPerSecond).toBeCloseTo(1000 / 12, 8);
    expect(estimate.writeUnitsPerSecond).toBeCloseTo(DYNAMODB_LIMITS.partitionWriteUnitsPerSecond, 6);
    // 192 writers, each one attempt per 10 + 62 ms: 2,667 attempts/s offered, 500 admitted.
    const offered = 192 / ((10 + DEFAULT_RETRY_DELAY_MS) / 1000);
    expect(estimate.attemptsPerSecond).toBeCloseTo(offered, 6);
    expect(estimate.throttleProbability).toBeCloseTo(1 - 500 / offered, 10);
    expect(estimate.conflictProbability).toBeCloseTo(5 / 6, 10);
    expect(estimate.expectedAttempts).toBeCloseTo(offered / (1000 / 12), 6);
    expect(estimate.exhaustedProbability).toBeGreaterThan(0.1);
  });

  it('few writers cap the attempts below the write units: limited by the writers, nothing throttled', () => {
    // 2 writers × 1 attempt per 10 + 30 ms = 50 attempts/s at most.
    const estimate = sku({ ordersPerSecond: 100, concurrentWriters: 2, retryDelayMs: 30 });
    expect(estimate.limitedBy).toBe('writers');
    expect(estimate.saturated).toBe(true);
    expect(estimate.ceiling).toBeCloseTo(50 / 1.5, 8);
    expect(estimate.throttleProbability).toBe(0);
  });

  it('cancelled attempts charged nothing: the lock alone caps the SKU below 1/τ', () => {
    const free = sku({ concurrentWriters: 10_000, cancelledAttemptWcu: 0 });
    const charged = sku({ concurrentWriters: 10_000 });
    expect(free.ceiling).toBeGreaterThan(charged.ceiling);
    expect(free.ceiling).toBeLessThanOrEqual(100);
  });

  it('items over 1 KB cost 2 units per started KB', () => {
    const small = sku({ ordersPerSecond: 50, transactionMs: 5 });
    const large = sku({ ordersPerSecond: 50, transactionMs: 5, itemKb: 1.5 });
    expect(large.writeUnitsPerSecond).toBeCloseTo(small.writeUnitsPerSecond * 2, 8);
    expect(large.ceiling).toBeLessThan(small.ceiling);
  });

  it.each([
    { ordersPerSecond: 0, concurrentWriters: 1 },
    { ordersPerSecond: 1, concurrentWriters: 0 },
    { ordersPerSecond: Number.NaN, concurrentWriters: 1 },
    { ordersPerSecond: 1, concurrentWriters: 1, transactionMs: -1 },
  ])('refuses %o', (input) => {
    expect(() => contention(input)).toThrow(RangeError);
  });
});

describe('the pipeline and the flash sale', () => {
  it("inventory's retry: 6 attempts per invocation, full-jitter waits averaging 62 ms", () => {
    expect(RESERVATION_RETRY.attempts).toBe(RESERVATION_RETRY_POLICY.attempts);
    // The handler's waits stay under the policy's bounds: [0, min(400, 20 × 2^(n−1))).
    for (let n = 1; n < RESERVATION_RETRY.attempts; n += 1) {
      const bound = Math.min(RESERVATION_RETRY_POLICY.capMs, RESERVATION_RETRY_POLICY.baseMs * 2 ** (n - 1));
      for (let draw = 0; draw < 50; draw += 1) expect(RESERVATION_RETRY.delay(n)).toBeLessThan(bound);
    }
    expect(meanRetryDelayMs(RESERVATION_RETRY_POLICY)).toBeCloseTo((10 + 20 + 40 + 80 + 160) / 5, 10);
    expect(meanRetryDelayMs({ attempts: 1, baseMs: 20, capMs: 400 })).toBe(0);
  });

  it("writers: OrderReceived's partitions × the orders one invocation runs at once", () => {
    expect(ORDERS_PER_INVOCATION).toBe(MAX_CONCURRENT_ORDERS);
    expect(pipelineWriters()).toBe(manifest.topics.OrderReceived.partitions * MAX_CONCURRENT_ORDERS);
    expect(pipelineWriters(3, 10, 32)).toBe(30);
  });

  it('the flash sale (100 orders/s on one item, 5 ms): half the attempts conflict, none throttled', () => {
    expect(FLASH_SALE.orders / FLASH_SALE.seconds).toBe(100);
    const estimate = flashSaleEstimate();
    expect(estimate.conflictProbability).toBeCloseTo(0.5, 10);
    expect(estimate.throttleProbability).toBe(0);
    expect(estimate.ceiling).toBeCloseTo(1000 / 7, 8);
  });

  it.each([1, 2, 4, 8])(
    '%i stock buckets: each takes 1/buckets of the orders, conflicts fall with it',
    (buckets) => {
      const estimate = flashSaleEstimate({ buckets });
      expect(estimate.conflictProbability).toBeCloseTo((100 / buckets) * 0.005, 10);
    },
  );
});
