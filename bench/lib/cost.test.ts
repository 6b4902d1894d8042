import { describe, expect, it } from 'vitest';
import { manifest } from '../../topology/manifest.ts';
import { prices } from '../prices.ts';
import { costReport, type Deployment, stackDeployment } from './cost.ts';
import type { ChildStats } from './protocol.ts';

const stats: ChildStats = {
  functions: {
    'order-api': {
      memoryMb: 512,
      invocations: 1000,
      failedInvocations: 0,
      records: 1000,
      billedMs: 100_000,
      coldStarts: 0,
      initMs: 0,
    },
    inventory: {
      memoryMb: 1024,
      invocations: 10,
      failedInvocations: 0,
      records: 1000,
      billedMs: 20_000,
      coldStarts: 2,
      initMs: 1_000,
    },
  },
  produced: { OrderReceived: { records: 1000, bytes: 1_000_000 }, KPIs: { records: 2000, bytes: 500_000 } },
  dynamodb: { 'run1-orders': { calls: 2000, readUnits: 500, writeUnits: 3000 } },
  emulators: {},
  inFlight: {},
  sns: { publishes: 2000 },
};

const deployment: Deployment = {
  architecture: 'arm64',
  brokers: 2,
  brokerInstanceType: 'kafka.t3.small',
  brokerVolumeGiB: 10,
  replicationFactor: 2,
  kafkaMappings: 4,
  minimumPollersPerMapping: 1,
  maximumPollers: 24,
  crossAzShare: 0.5,
};

describe('cost per million orders', () => {
  const report = costReport({ stats, orders: 1000, logBytes: 2_000_000, tablePrefix: 'run1', deployment });

  it('turns counted operations into usage per order', () => {
    expect(report.perOrder).toMatchObject({
      lambdaInvocations: 1.01,
      apiRequests: 1,
      snsPublishes: 2,
      dynamodbCalls: 2,
      wru: 3,
      rru: 0.5,
      kafkaRecords: 3,
      kafkaBytes: 1500,
      // KPIs are not consumed by the pipeline.
      // Every produced topic is consumed once: OrderReceived by inventory, KPIs by the kpis function.
      kafkaBytesConsumed: 1500,
      logBytes: 2000,
    });
    // 100 s at 0.5 GB + 20 s at 1 GB = 70 GB-s for 1000 orders.
    expect(report.perOrder.lambdaGbSeconds).toBeCloseTo(0.07, 6);
    // Init is part of the billed duration: 2 cold starts, 1 s of init at 1 GB, over 1,000 orders.
    expect(report.perOrder.lambdaColdStarts).toBeCloseTo(0.002, 6);
    expect(report.perOrder.lambdaInitGbSeconds).toBeCloseTo(0.001, 6);
    expect(report.perOrder.byTable.orders).toEqual({ readUnits: 0.5, writeUnits: 3, calls: 2 });
  });

  it('prices a million orders with the price table, per-order items only', () => {
    const c = report.perMillionOrdersUsd;
    expect(c.lambdaRequests).toBeCloseTo(1.01 * prices.lambda.perMillionRequests, 2);
    expect(c.lambdaDuration).toBeCloseTo(0.07 * 1e6 * prices.lambda.perGbSecond.arm64, 2);
    expect(c.apiGateway).toBeCloseTo(prices.apiGateway.perMillionRestRequests, 2);
    expect(c.dynamodbWrites).toBeCloseTo(3 * prices.dynamodb.perMillionWriteRequestUnits, 2);
    expect(c.dynamodbReads).toBeCloseTo(0.5 * prices.dynamodb.perMillionReadRequestUnits, 2);
    // (1500 + 1500) B x 1e6 orders, half across AZs, billed out and in.
    const crossAzGb = (3000 * 1e6) / 1024 ** 3;
    expect(c.kafkaCrossAzTransfer).toBeCloseTo(
      crossAzGb * 0.5 * 2 * prices.dataTransfer.perGbCrossAzEachDirection,
      2,
    );
    expect(c.snsPublishes).toBeCloseTo(2 * prices.sns.perMillionPublishes, 2);
    expect(c.cloudWatchLogs).toBeCloseTo(((2000 * 1e6) / 1024 ** 3) * prices.cloudWatchLogs.perGbIngested, 2);
    const { total, ...parts } = c;
    expect(total).toBeCloseTo(
      Object.values(parts).reduce((a, b) => a + b, 0),
      1,
    );
  });

  it('keeps broker hours, their storage and the event pollers out of the per-order cost, per month', () => {
    const f = report.fixedPerMonthUsd;
    expect(f.mskBrokerHours).toBeCloseTo(2 * prices.msk.perBrokerHour['kafka.t3.small']! * 730, 2);
    expect(f.mskBrokerStorage).toBeCloseTo(2 * 10 * prices.msk.perGbMonthStorage, 2);
    // Four mappings at one poller each share one EPU (10 pollers per EPU); 24 pollers need 3.
    expect(f.epus).toEqual({
      atMinimum: 1,
      atMaximum: 3,
      atMaximumUsd: expect.closeTo(3 * prices.eventPollers.perEpuHour * 730, 2),
    });
    expect(f.eventPollerUnits).toBeCloseTo(prices.eventPollers.perEpuHour * 730, 2);
    expect(f.total).toBeCloseTo(f.mskBrokerHours + f.mskBrokerStorage + f.eventPollerUnits, 1);
  });

  it('says how many orders/s the provisioned broker storage holds at the retention', () => {
    // OrderReceived 1000 B x 168 h + KPIs 500 B x 72 h per order, two replicas.
    const gbPerOrderPerSec = ((1000 * 168 + 500 * 72) * 3600 * 2) / 1024 ** 3;
    expect(report.kafkaStorage.provisionedGb).toBe(20);
    expect(report.kafkaStorage.maxSustainedOrdersPerSec).toBeCloseTo(20 / gbPerOrderPerSec, 1);
  });

  it('reads the deployment from the stack settings', () => {
    const d = stackDeployment();
    expect(d).toMatchObject({ architecture: 'arm64', brokers: 2, brokerInstanceType: 'kafka.t3.small' });
    const kafkaTriggered = Object.values(manifest.functions).filter((fn) => fn.trigger.kind === 'kafka');
    expect(d.kafkaMappings).toBe(kafkaTriggered.length);
    expect(d.maximumPollers).toBeGreaterThanOrEqual(d.kafkaMappings * d.minimumPollersPerMapping);
    expect(stackDeployment((key) => (key === 'brokerVolumeGiB' ? '100' : undefined)).brokerVolumeGiB).toBe(
      100,
    );
  });

  it('names the date and region of its prices', () => {
    expect(report.prices).toEqual({ asOf: prices.asOf, region: 'us-east-1', currency: 'USD' });
  });
});
