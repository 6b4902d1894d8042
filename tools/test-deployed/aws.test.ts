import { describe, expect, it } from 'vitest';
import { perMinute, StackOutputs, totalsById } from './aws.ts';

describe('test:deployed on AWS: reading the stack', () => {
  it('adds up every series a SEARCH returns under one id', () => {
    const totals = totalsById([
      { Id: 'received', Label: 'order-api', Values: [2, 1] },
      { Id: 'received', Label: 'outbox-sweeper', Values: [1] },
      { Id: 'shipped', Values: [] },
    ]);
    expect(Object.fromEntries(totals)).toEqual({ received: 4, shipped: 0 });
  });

  it("reads the alarm's metrics per minute, its expressions unchanged", () => {
    const stat = {
      Metric: { Namespace: 'AWS/Lambda', MetricName: 'OnFailureDestinationDeliveredEventCount' },
      Stat: 'Sum',
    };
    const queries = perMinute([
      { Id: 'exhausted0', MetricStat: { ...stat, Period: 300 }, ReturnData: false },
      { Id: 'expr_1', Expression: 'SUM([FILL(exhausted0, 0)])', ReturnData: true },
    ]);
    expect(queries[0]?.MetricStat?.Period).toBe(60);
    expect(queries[1]).toEqual({ Id: 'expr_1', Expression: 'SUM([FILL(exhausted0, 0)])', ReturnData: true });
  });

  it('needs the outputs the checks read, and says which are missing', () => {
    expect(
      StackOutputs.safeParse({
        ApiUrl: 'https://a.execute-api.eu-west-1.amazonaws.com/v1/',
        TableInventory: 't',
      }).success,
    ).toBe(true);
    const missing = StackOutputs.safeParse({ ApiUrl: 'https://a.example/v1/' });
    expect(missing.success).toBe(false);
    expect(JSON.stringify(missing.error?.issues)).toContain('TableInventory');
  });
});
