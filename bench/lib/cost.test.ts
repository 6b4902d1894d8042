import { describe, expect, it } from 'vitest';
import { prices } from '../prices.ts';
import { costReport } from './cost.ts';
import type { ChildStats } from './protocol.ts';

const stats: ChildStats = {
  functions: {
    'order-api': { memoryMb: 512, invocations: 1000, failedInvocations: 0, records: 1000, billedMs: 100_000 },
    inventory: { memoryMb: 1024, invocations: 10, failedInvocations: 0, records: 1000, billedMs: 20_000 },
  },
  produced: { OrderReceived: { records: 1000, bytes: 1_000_000 }, KPIs: { records: 2000, bytes: 500_000 } },
  dynamodb: { 'run1-orders': { calls: 2000, readUnits: 500, writeUnits: 3000 } },
  emulators: {},
  inFlight: {},
};

describe('cost per million orders', () => {
  const report = costReport({
    stats,
    orders: 1000,
    logBytes: 2_000_000,
    tablePrefix: 'run1',
    architecture: 'arm64',
  });

  it('turns counted operations into usage per order', () => {
    expect(report.usagePerOrder).toMatchObject({
      lambdaInvocations: 1.01,
      apiRequests: 1,
      dynamodbWriteUnits: 3,
      dynamodbReadUnits: 0.5,
      kafkaRecordsProduced: 3,
      kafkaBytesProduced: 1500,
      // KPIs are not consumed by the pipeline.
      kafkaBytesConsumed: 1000,
      logBytes: 2000,
    });
    // 100 s at 0.5 GB + 20 s at 1 GB = 70 GB-s for 1000 orders.
    expect(report.usagePerOrder.lambdaGbSeconds).toBeCloseTo(0.07, 6);
    expect(report.dynamodbPerTable.orders).toEqual({ readUnits: 0.5, writeUnits: 3, calls: 2 });
  });

  it('prices a million orders with the price table', () => {
    const c = report.costPerMillionOrders;
    expect(c.lambdaRequests).toBeCloseTo(1.01 * prices.lambda.perMillionRequests, 2);
    expect(c.lambdaDuration).toBeCloseTo(0.07 * 1e6 * prices.lambda.perGbSecond.arm64, 2);
    expect(c.apiGateway).toBeCloseTo(prices.apiGateway.perMillionRestRequests, 2);
    expect(c.dynamodb).toBeCloseTo(
      3 * prices.dynamodb.perMillionWriteRequestUnits + 0.5 * prices.dynamodb.perMillionReadRequestUnits,
      2,
    );
    const parts = [
      c.lambdaRequests,
      c.lambdaDuration,
      c.apiGateway,
      c.dynamodb,
      c.mskServerlessData,
      c.mskServerlessStorage,
      c.cloudWatchLogs,
    ];
    expect(c.total).toBeCloseTo(
      parts.reduce((a, b) => a + b, 0),
      1,
    );
  });

  it('names the date and region of its prices', () => {
    expect(report.prices).toEqual({ asOf: prices.asOf, region: 'us-east-1', currency: 'USD' });
  });
});
