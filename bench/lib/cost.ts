/**
 * Cost of what the stack deploys, from the operations a run counted and the price table in ../prices.ts
 * (the method: bench/README.md, "Cost per million orders"). Per-order usage is measured; the prices and
 * the deployment (read from the CDK stack's settings) are the assumptions. Two kinds of cost, never mixed:
 * per order (× 1e6 = `costPerMillionOrdersUsd`) and per month whatever the traffic (brokers, their
 * storage, event poller units).
 */
import type { TopicName } from '../../events/topics.ts';
import { architecture } from '../../infra/lib/bundling.ts';
import { readConfig } from '../../infra/lib/config.ts';
import { manifest } from '../../topology/manifest.ts';
import { prices as listPrices, type Prices } from '../prices.ts';
import type { ChildStats } from './protocol.ts';
import { consumerTopics } from './topics.ts';

export type Deployment = ReturnType<typeof stackDeployment>;

/** What `cdk deploy` creates with the CDK context it would read (defaults unless `context` says otherwise). */
export function stackDeployment(context: (key: string) => unknown = () => undefined) {
  const config = readConfig(context);
  const mappings = consumerTopics();
  const minimum = config.minimumPollers;
  // Never more pollers than the topic's partitions.
  const maximum = mappings.reduce(
    (sum, topic) =>
      sum + Math.max(minimum, Math.min(config.maximumPollers ?? Infinity, manifest.topics[topic].partitions)),
    0,
  );
  return {
    architecture: architecture.name as 'arm64' | 'x86_64',
    // infra/lib/kafka-cluster.ts: one broker per AZ, in two AZs; MSK's default replication for two brokers.
    brokers: 2,
    brokerInstanceType: config.brokerInstanceType,
    brokerVolumeGiB: config.brokerVolumeGiB,
    replicationFactor: 2,
    // One event source mapping per Kafka-triggered function, all in one poller group.
    kafkaMappings: mappings.length,
    minimumPollersPerMapping: minimum,
    maximumPollers: maximum,
    // Clients in both AZs, each partition's leader in one of two: about half the client↔broker bytes cross.
    crossAzShare: 0.5,
  };
}

type UsagePerOrder = ReturnType<typeof usageOf>;

const GB = 1024 ** 3;
const HOURS_PER_MONTH = 730;

const round = (n: number, digits = 4) => Number(n.toPrecision(digits));
const cents = <T extends Record<string, number>>(usd: T): T =>
  Object.fromEntries(Object.entries(usd).map(([k, v]) => [k, Math.round(v * 100) / 100])) as T;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** A count over the run, divided by the orders (0 when there were none). */
type PerOrder = (n: number) => number;

/** Lambda totals over the run, and each invoked function's figures per order. */
function lambdaUsage(counters: ChildStats['functions'], per: PerOrder) {
  const totals = { invocations: 0, gbSeconds: 0, coldStarts: 0, initGbSeconds: 0, apiRequests: 0 };
  const invoked = Object.entries(counters).filter(([, fn]) => fn.invocations > 0);
  const gbSecondsOf = (ms: number, memoryMb: number) => (ms / 1000) * (memoryMb / 1024);
  for (const [name, fn] of invoked) {
    totals.invocations += fn.invocations;
    totals.gbSeconds += gbSecondsOf(fn.billedMs, fn.memoryMb);
    totals.coldStarts += fn.coldStarts;
    totals.initGbSeconds += gbSecondsOf(fn.initMs, fn.memoryMb);
    if (manifest.functions[name as keyof typeof manifest.functions]?.trigger.kind === 'http')
      totals.apiRequests += fn.invocations;
  }
  const byFunction = Object.fromEntries(
    invoked.map(([name, fn]) => [
      name,
      {
        invocationsPerOrder: per(fn.invocations),
        recordsPerInvocation: round(fn.records / fn.invocations),
        gbSecondsPerOrder: per(gbSecondsOf(fn.billedMs, fn.memoryMb)),
        coldStarts: fn.coldStarts,
      },
    ]),
  );
  return { ...totals, byFunction };
}

/** Per logical table (`<prefix>-<table>` on the endpoint): calls and request units per order. */
function dynamodbPerTable(units: ChildStats['dynamodb'], tablePrefix: string, per: PerOrder) {
  return Object.fromEntries(
    Object.entries(units).map(([physical, t]) => [
      physical.startsWith(`${tablePrefix}-`) ? physical.slice(tablePrefix.length + 1) : physical,
      { readUnits: per(t.readUnits), writeUnits: per(t.writeUnits), calls: per(t.calls) },
    ]),
  );
}

/** Kafka totals over the run (each consumed topic read once; bytes × the topic's retention hours). */
function kafkaUsage(produced: ChildStats['produced'], per: PerOrder) {
  const consumed = new Set<string>(consumerTopics());
  const totals = { records: 0, bytes: 0, bytesConsumed: 0, byteHours: 0 };
  const byTopic: Record<string, { records: number; bytes: number }> = {};
  for (const [topic, counters] of Object.entries(produced)) {
    totals.records += counters.records;
    totals.bytes += counters.bytes;
    if (consumed.has(topic)) totals.bytesConsumed += counters.bytes;
    totals.byteHours += counters.bytes * (manifest.topics[topic as TopicName]?.retentionHours ?? 0);
    byTopic[topic] = { records: per(counters.records), bytes: per(counters.bytes) };
  }
  return { ...totals, byTopic };
}

/** The run's usage per order: `perOrder` in bench/results/latest.json. */
function usageOf(stats: ChildStats, orders: number, logBytes: number, tablePrefix: string) {
  const per: PerOrder = (n) => round(orders > 0 ? n / orders : 0);
  const lambda = lambdaUsage(stats.functions, per);
  const dynamodb = Object.values(stats.dynamodb);
  const kafka = kafkaUsage(stats.produced, per);
  return {
    orders,
    dynamodbCalls: per(sum(dynamodb.map((t) => t.calls))),
    wru: per(sum(dynamodb.map((t) => t.writeUnits))),
    rru: per(sum(dynamodb.map((t) => t.readUnits))),
    kafkaRecords: per(kafka.records),
    kafkaBytes: per(kafka.bytes),
    kafkaBytesConsumed: per(kafka.bytesConsumed),
    kafkaRetainedByteHours: per(kafka.byteHours),
    lambdaInvocations: per(lambda.invocations),
    lambdaGbSeconds: per(lambda.gbSeconds),
    lambdaInitGbSeconds: per(lambda.initGbSeconds),
    lambdaColdStarts: per(lambda.coldStarts),
    apiRequests: per(lambda.apiRequests),
    snsPublishes: per(stats.sns?.publishes ?? 0),
    logBytes: per(logBytes),
    byFunction: lambda.byFunction,
    byTable: dynamodbPerTable(stats.dynamodb, tablePrefix, per),
    byTopic: kafka.byTopic,
  };
}

/** What a million orders cost at usage `u`, per item and in total. */
function costPerMillionOrders(u: UsagePerOrder, p: Prices, d: Deployment) {
  const gbPerMillion = (bytes: number) => (bytes * 1_000_000) / GB;
  const items = {
    lambdaRequests: u.lambdaInvocations * p.lambda.perMillionRequests,
    lambdaDuration: u.lambdaGbSeconds * 1_000_000 * p.lambda.perGbSecond[d.architecture],
    apiGateway: u.apiRequests * p.apiGateway.perMillionRestRequests,
    dynamodbWrites: u.wru * p.dynamodb.perMillionWriteRequestUnits,
    dynamodbReads: u.rru * p.dynamodb.perMillionReadRequestUnits,
    // Produce and fetch traffic between clients (functions, pollers) and brokers; the replication between
    // brokers is free on MSK. A byte crossing an AZ is billed out of one and into the other.
    kafkaCrossAzTransfer:
      gbPerMillion(u.kafkaBytes + u.kafkaBytesConsumed) *
      d.crossAzShare *
      2 *
      p.dataTransfer.perGbCrossAzEachDirection,
    snsPublishes: u.snsPublishes * p.sns.perMillionPublishes,
    cloudWatchLogs: gbPerMillion(u.logBytes) * p.cloudWatchLogs.perGbIngested,
  };
  return cents({ ...items, total: sum(Object.values(items)) });
}

/** What the deployment costs a month whatever the traffic: brokers, their storage, event poller units. */
function fixedPerMonth(p: Prices, d: Deployment) {
  const brokerHour = p.msk.perBrokerHour[d.brokerInstanceType];
  if (brokerHour === undefined)
    throw new Error(`bench/prices.ts has no broker-hour price for ${d.brokerInstanceType}`);
  const epus = (pollers: number) => Math.ceil(pollers / p.eventPollers.pollersPerEpu);
  const epuUsd = (n: number) => n * p.eventPollers.perEpuHour * HOURS_PER_MONTH;
  const atMinimum = epus(d.kafkaMappings * d.minimumPollersPerMapping);
  const atMaximum = epus(d.maximumPollers);
  const fixed = {
    mskBrokerHours: d.brokers * brokerHour * HOURS_PER_MONTH,
    mskBrokerStorage: d.brokers * d.brokerVolumeGiB * p.msk.perGbMonthStorage,
    // At the minimum pollers: what an idle stack pays.
    eventPollerUnits: epuUsd(atMinimum),
  };
  return {
    ...cents({ ...fixed, total: sum(Object.values(fixed)) }),
    // EPUs at the minimum pollers, and if every mapping scaled out to its maximum.
    epus: { atMinimum, atMaximum, atMaximumUsd: cents({ usd: epuUsd(atMaximum) }).usd },
  };
}

/** How far the brokers' provisioned storage goes at the manifest's retention. */
function kafkaStorage(retainedByteHoursPerOrder: number, d: Deployment) {
  // One order per second for the retention period, every replica: bytes × retention hours × 3600.
  const retainedGbPerOrderPerSec = (retainedByteHoursPerOrder * 3600 * d.replicationFactor) / GB;
  const provisionedGb = d.brokers * d.brokerVolumeGiB;
  return {
    retainedGbPerOrderPerSec: round(retainedGbPerOrderPerSec),
    provisionedGb,
    maxSustainedOrdersPerSec:
      retainedGbPerOrderPerSec > 0 ? round(provisionedGb / retainedGbPerOrderPerSec, 3) : 0,
  };
}

/** The run's usage per order, what it costs per million orders, and what the deployment costs a month. */
export function costReport(input: {
  stats: ChildStats;
  orders: number;
  logBytes: number;
  tablePrefix: string;
  deployment?: Deployment;
  prices?: Prices;
}) {
  const p = input.prices ?? listPrices;
  const d = input.deployment ?? stackDeployment();
  const perOrder = usageOf(input.stats, input.orders, input.logBytes, input.tablePrefix);
  return {
    deployment: d,
    perOrder,
    perMillionOrdersUsd: costPerMillionOrders(perOrder, p, d),
    fixedPerMonthUsd: fixedPerMonth(p, d),
    kafkaStorage: kafkaStorage(perOrder.kafkaRetainedByteHours, d),
    prices: { asOf: p.asOf, region: p.region, currency: p.currency },
    method: 'bench/README.md, "Cost per million orders"',
  };
}
export type CostReport = ReturnType<typeof costReport>;
