/**
 * The fault profile of a flash sale: what the contention model (topology/contention.ts) predicts for one
 * SKU, injected on its stock item by the fault layer.
 */
import { type FlashSaleOptions, flashSaleEstimate } from '../../topology/contention.ts';
import { type FaultProfile, parseFaultProfile } from './profile.ts';

const round = (value: number) => Math.round(value * 10_000) / 10_000;

/**
 * The fault profile of a flash sale: the SKU's stock item throttled at the model's rate, then (of what was
 * not throttled) cancelled with a `TransactionConflict` reason at the model's conflict probability — the
 * layer draws its rules in order, so the second rule's rate is conditional on the first not firing, as in
 * the model. Both rules are present even at rate 0, so a run's counters show what they matched.
 */
export function flashSaleProfile(options: FlashSaleOptions): FaultProfile {
  const estimate = flashSaleEstimate(options);
  const rule = (name: string, rate: number, reason: 'ThrottlingError' | 'TransactionConflict') => ({
    name,
    service: 'dynamodb' as const,
    tables: ['inventory'],
    keys: { sku: [options.sku] },
    operations: ['TransactWriteItems'],
    rate: round(rate),
    fault: { kind: 'TransactionCanceledException' as const, reason },
  });
  return parseFaultProfile({
    name: 'flash-sale',
    description: `flash sale of ${options.sku}: throttling ${round(estimate.throttleProbability)}, conflicts ${round(estimate.conflictProbability)} (docs/capacity.md)`,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    rules: [
      rule('flash-sale-throttled', estimate.throttleProbability, 'ThrottlingError'),
      rule('flash-sale-conflict', estimate.conflictProbability, 'TransactionConflict'),
    ],
  });
}
