import { describe, expect, it } from 'vitest';
import { flashSaleEstimate } from '../../topology/contention.ts';
import { flashSaleProfile } from './flash-sale.ts';
import { FaultInjector } from './profile.ts';
import type { ParsedRequest } from './request.ts';

describe('the flash sale as a fault profile', () => {
  it("flashSaleProfile: the SKU's stock item, throttled then in conflict, at the model's rates", () => {
    const profile = flashSaleProfile({ sku: 'SKU-SALE', transactionMs: 10 });
    const estimate = flashSaleEstimate({ transactionMs: 10 });
    expect(profile.rules.map((rule) => [rule.name, rule.rate])).toEqual([
      ['flash-sale-throttled', Math.round(estimate.throttleProbability * 10_000) / 10_000],
      ['flash-sale-conflict', Math.round(estimate.conflictProbability * 10_000) / 10_000],
    ]);
    for (const rule of profile.rules) {
      expect(rule.keys).toEqual({ sku: ['SKU-SALE'] });
      expect(rule.operations).toEqual(['TransactWriteItems']);
    }
  });

  it('flashSaleProfile fires on the sale item only, with TransactionConflict reasons', () => {
    const injector = new FaultInjector(flashSaleProfile({ sku: 'SKU-SALE', seed: 7 }));
    const reservation = (sku: string): ParsedRequest => ({
      service: 'dynamodb',
      operation: 'TransactWriteItems',
      tables: ['order-pipeline-inventory', 'order-pipeline-orders'],
      items: [
        { table: 'order-pipeline-inventory', attributes: { sku } },
        { table: 'order-pipeline-orders', attributes: { orderId: 'o-1' } },
      ],
    });
    let conflicts = 0;
    for (let i = 0; i < 2_000; i += 1) {
      const decision = injector.decide(reservation('SKU-SALE'));
      const response = decision.fault?.response;
      if (!response) continue;
      conflicts += 1;
      const body = JSON.parse(response.body.toString()) as {
        CancellationReasons: { Code: string }[];
      };
      expect(body.CancellationReasons.map((reason) => reason.Code)).toEqual(['TransactionConflict', 'None']);
    }
    // 0.5 of 2,000 draws: within ±5 standard deviations (22).
    expect(Math.abs(conflicts - 1_000)).toBeLessThan(115);
    expect(injector.decide(reservation('SKU-OTHER')).fault).toBeUndefined();
  });
});
