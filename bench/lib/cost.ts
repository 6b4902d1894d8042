/**
 * Cost of what the stack deploys, from the operations a run counted and the price table in ../prices.ts.
 * Per-order usage is measured; the prices and the deployment (read from the CDK stack's settings) are
 * the assumptions.
 *
 * Two kinds of cost, never mixed:
 * - per order (× 1e6 = `costPerMillionOrdersUsd`): Lambda requests and duration, API Gateway requests,
 *   DynamoDB request units, the Kafka bytes that cross Availability Zones, SNS publishes, CloudWatch Logs
 *   ingestion;
 * - per month whatever the traffic: MSK broker hours and their provisioned storage, and the event poller
 *   units (EPU) of the provisioned-mode event source mappings.
 */
import type { TopicName } from '../../events/topics.ts';
import { architecture as stackArchitecture } from '../../infra/lib/bundling.ts';
import { type PipelineConfig, readConfig } from '../../infra/lib/config.ts';
import { manifest } from '../../topology/manifest.ts';
import { prices as listPrices, type Prices } from '../prices.ts';
import type { ChildStats } from './protocol.ts';
import { consumerTopics } from './topics.ts';

export type Architecture = 'arm64' | 'x86_64';

/** What `cdk deploy` creates with the default settings, as far as its price goes. */
export interface Deployment {
  architecture: Architecture;
  /** infra/lib/kafka-cluster.ts: one broker per AZ, in two AZs. */
  brokers: number;
  brokerInstanceType: string;
  brokerVolumeGiB: number;
  /** MSK's default for a two-broker cluster (kafka-cluster.ts). */
  replicationFactor: number;
  /** MSK event source mappings, one per Kafka-triggered function, all in one poller group. */
  kafkaMappings: number;
  minimumPollersPerMapping: number;
  /** Never more pollers than the topic's partitions. */
  maximumPollers: number;
  /**
   * Share of client↔broker bytes that cross an AZ: clients in both AZs, each partition's leader in one
   * of two, so about half.
   */
  crossAzShare: number;
}

/** The stack's deployment with the CDK context it would read (defaults unless `context` says otherwise). */
export function stackDeployment(context: (key: string) => unknown = () => undefined): Deployment {
  // The poller settings are recent additions to the config: read them if present.
  const config: PipelineConfig & { minimumPollers?: number; maximumPollers?: number } = readConfig(context);
  const mappings = consumerTopics();
  const minimum = config.minimumPollers ?? 1;
  const maximum = mappings.reduce(
    (sum, topic) =>
      sum + Math.max(minimum, Math.min(config.maximumPollers ?? Infinity, manifest.topics[topic].partitions)),
    0,
  );
  return {
    architecture: stackArchitecture.name as Architecture,
    brokers: 2,
    brokerInstanceType: config.brokerInstanceType,
    brokerVolumeGiB: config.brokerVolumeGiB,
    replicationFactor: 2,
    kafkaMappings: mappings.length,
    minimumPollersPerMapping: minimum,
    maximumPollers: maximum,
    crossAzShare: 0.5,
  };
}

export interface UsagePerOrder {
  lambdaInvocations: number;
  /** From the REPORT lines' Billed Duration: cold starts' init included. */
  lambdaGbSeconds: number;
  /** Environments started (cold starts), and the GB-s of their init phases (part of `lambdaGbSeconds`). */
  lambdaColdStarts: number;
  lambdaInitGbSeconds: number;
  apiRequests: number;
  /** Customer notifications published to SNS (their delivery depends on the subscribers: not priced). */
  snsPublishes: number;
  dynamodbCalls: number;
  dynamodbReadUnits: number;
  dynamodbWriteUnits: number;
  kafkaRecordsProduced: number;
  kafkaBytesProduced: number;
  /** Bytes read by the functions' consumer groups (each consumed topic is read once). */
  kafkaBytesConsumed: number;
  /** Bytes × hours the topics' retention keeps them, one copy. */
  kafkaRetainedByteHours: number;
  logBytes: number;
}

export interface CostPerMillion {
  lambdaRequests: number;
  lambdaDuration: number;
  apiGateway: number;
  dynamodbWrites: number;
  dynamodbReads: number;
  kafkaCrossAzTransfer: number;
  snsPublishes: number;
  cloudWatchLogs: number;
  total: number;
}

export interface FixedPerMonth {
  mskBrokerHours: number;
  mskBrokerStorage: number;
  /** At the minimum pollers: what an idle stack pays. */
  eventPollerUnits: number;
  total: number;
  /** EPUs at the minimum pollers, and if every mapping scaled out to its maximum. */
  epus: { atMinimum: number; atMaximum: number; atMaximumUsd: number };
}

export interface CostReport {
  orders: number;
  deployment: Deployment;
  usagePerOrder: UsagePerOrder;
  /** Per function: invocations, records per invocation, GB-s and cold starts per order. */
  functions: Record<
    string,
    {
      invocationsPerOrder: number;
      recordsPerInvocation: number;
      gbSecondsPerOrder: number;
      coldStarts: number;
    }
  >;
  /** Calls and request units per order, per logical table. */
  dynamodbPerTable: Record<string, { readUnits: number; writeUnits: number; calls: number }>;
  kafkaPerTopic: Record<string, { records: number; bytes: number }>;
  perMillionOrdersUsd: CostPerMillion;
  fixedPerMonthUsd: FixedPerMonth;
  /** The brokers' storage is provisioned (fixed); this says how far it goes at the manifest's retention. */
  kafkaStorage: {
    /** GB kept on the brokers (all replicas) per order/s sustained, at the manifest's retention. */
    retainedGbPerOrderPerSec: number;
    provisionedGb: number;
    /** Orders/s the provisioned volumes hold at the manifest's retention (before anything else is stored). */
    maxSustainedOrdersPerSec: number;
  };
  prices: { asOf: string; region: string; currency: string };
  method: string;
}

const GB = 1024 ** 3;
const HOURS_PER_MONTH = 730;

const round = (n: number, digits = 4) => Number(n.toPrecision(digits));
const cents = (n: number) => Math.round(n * 100) / 100;

/** The logical table of a physical name `<prefix>-<table>`. */
const logicalTable = (physical: string, prefix: string) =>
  physical.startsWith(`${prefix}-`) ? physical.slice(prefix.length + 1) : physical;

/** A count over the run, divided by the orders (0 when there were none). */
type PerOrder = (n: number) => number;

/** Lambda totals over the run, and each invoked function's figures per order. */
function lambdaUsage(counters: ChildStats['functions'], per: PerOrder) {
  const totals = { invocations: 0, gbSeconds: 0, coldStarts: 0, initGbSeconds: 0, apiRequests: 0 };
  const functions: CostReport['functions'] = {};
  for (const [name, fn] of Object.entries(counters)) {
    if (fn.invocations === 0) continue;
    const fnGbSeconds = (fn.billedMs / 1000) * (fn.memoryMb / 1024);
    totals.invocations += fn.invocations;
    totals.gbSeconds += fnGbSeconds;
    totals.coldStarts += fn.coldStarts;
    totals.initGbSeconds += (fn.initMs / 1000) * (fn.memoryMb / 1024);
    if (manifest.functions[name as keyof typeof manifest.functions]?.trigger.kind === 'http')
      totals.apiRequests += fn.invocations;
    functions[name] = {
      invocationsPerOrder: round(per(fn.invocations)),
      recordsPerInvocation: round(fn.records / fn.invocations),
      gbSecondsPerOrder: round(per(fnGbSeconds)),
      coldStarts: fn.coldStarts,
    };
  }
  return { ...totals, functions };
}

/** DynamoDB totals over the run, and each logical table's figures per order. */
function dynamodbUsage(units: ChildStats['dynamodb'], tablePrefix: string, per: PerOrder) {
  const totals = { calls: 0, readUnits: 0, writeUnits: 0 };
  const perTable: CostReport['dynamodbPerTable'] = {};
  for (const [physical, table] of Object.entries(units)) {
    totals.calls += table.calls;
    totals.readUnits += table.readUnits;
    totals.writeUnits += table.writeUnits;
    perTable[logicalTable(physical, tablePrefix)] = {
      readUnits: round(per(table.readUnits)),
      writeUnits: round(per(table.writeUnits)),
      calls: round(per(table.calls)),
    };
  }
  return { ...totals, perTable };
}

/**
 * Kafka totals over the run (bytes read counted once per consumed topic, bytes × the topic's retention
 * hours), and each topic's figures per order.
 */
function kafkaUsage(produced: ChildStats['produced'], per: PerOrder) {
  const consumed = new Set<string>(consumerTopics());
  const totals = { records: 0, bytes: 0, bytesConsumed: 0, byteHours: 0 };
  const perTopic: CostReport['kafkaPerTopic'] = {};
  for (const [topic, counters] of Object.entries(produced)) {
    totals.records += counters.records;
    totals.bytes += counters.bytes;
    if (consumed.has(topic)) totals.bytesConsumed += counters.bytes;
    const retentionHours = manifest.topics[topic as TopicName]?.retentionHours ?? 0;
    totals.byteHours += counters.bytes * retentionHours;
    perTopic[topic] = { records: round(per(counters.records)), bytes: round(per(counters.bytes)) };
  }
  return { ...totals, perTopic };
}

/** What a million orders cost at usage `u`, per item and in total, in cents. */
function costPerMillionOrders(u: UsagePerOrder, p: Prices, d: Deployment): CostPerMillion {
  const million = 1_000_000;
  const perMillion = {
    lambdaRequests: u.lambdaInvocations * p.lambda.perMillionRequests,
    lambdaDuration: u.lambdaGbSeconds * million * p.lambda.perGbSecond[d.architecture],
    apiGateway: u.apiRequests * p.apiGateway.perMillionRestRequests,
    dynamodbWrites: u.dynamodbWriteUnits * p.dynamodb.perMillionWriteRequestUnits,
    dynamodbReads: u.dynamodbReadUnits * p.dynamodb.perMillionReadRequestUnits,
    // Produce and fetch traffic between clients (functions, pollers) and brokers; the replication between
    // brokers is free on MSK. A byte crossing an AZ is billed out of one and into the other.
    kafkaCrossAzTransfer:
      (((u.kafkaBytesProduced + u.kafkaBytesConsumed) * million) / GB) *
      d.crossAzShare *
      2 *
      p.dataTransfer.perGbCrossAzEachDirection,
    snsPublishes: u.snsPublishes * p.sns.perMillionPublishes,
    cloudWatchLogs: ((u.logBytes * million) / GB) * p.cloudWatchLogs.perGbIngested,
  };
  const total = Object.values(perMillion).reduce((a, b) => a + b, 0);
  return Object.fromEntries(
    Object.entries({ ...perMillion, total }).map(([k, v]) => [k, cents(v)]),
  ) as unknown as CostPerMillion;
}

/** What the deployment costs a month whatever the traffic: brokers, their storage, event poller units. */
function fixedPerMonth(p: Prices, d: Deployment): FixedPerMonth {
  const brokerHour = p.msk.perBrokerHour[d.brokerInstanceType];
  if (brokerHour === undefined)
    throw new Error(`bench/prices.ts has no broker-hour price for ${d.brokerInstanceType}`);
  const epuCost = (pollers: number) => {
    const epus = Math.ceil(pollers / p.eventPollers.pollersPerEpu);
    return { epus, usd: epus * p.eventPollers.perEpuHour * HOURS_PER_MONTH };
  };
  const atMinimum = epuCost(d.kafkaMappings * d.minimumPollersPerMapping);
  const atMaximum = epuCost(d.maximumPollers);
  const fixed = {
    mskBrokerHours: d.brokers * brokerHour * HOURS_PER_MONTH,
    mskBrokerStorage: d.brokers * d.brokerVolumeGiB * p.msk.perGbMonthStorage,
    eventPollerUnits: atMinimum.usd,
  };
  return {
    mskBrokerHours: cents(fixed.mskBrokerHours),
    mskBrokerStorage: cents(fixed.mskBrokerStorage),
    eventPollerUnits: cents(fixed.eventPollerUnits),
    total: cents(fixed.mskBrokerHours + fixed.mskBrokerStorage + fixed.eventPollerUnits),
    epus: { atMinimum: atMinimum.epus, atMaximum: atMaximum.epus, atMaximumUsd: cents(atMaximum.usd) },
  };
}

/** How far the brokers' provisioned storage goes at the manifest's retention. */
function kafkaStorage(u: UsagePerOrder, d: Deployment): CostReport['kafkaStorage'] {
  // One order per second for the retention period, every replica: bytes × retention hours × 3600.
  const retainedGbPerOrderPerSec = (u.kafkaRetainedByteHours * 3600 * d.replicationFactor) / GB;
  const provisionedGb = d.brokers * d.brokerVolumeGiB;
  return {
    retainedGbPerOrderPerSec: round(retainedGbPerOrderPerSec),
    provisionedGb,
    maxSustainedOrdersPerSec:
      retainedGbPerOrderPerSec > 0 ? round(provisionedGb / retainedGbPerOrderPerSec, 3) : 0,
  };
}

const METHOD =
  "Lambda: invocations and GB-s from each invocation's REPORT as the local runtime writes it: Billed Duration (the invocation rounded up to 1 ms, plus a cold start's Init Duration, as Lambda bills on-demand functions since August 2025) x the manifest memory; durations measured on this machine, each function in execution environments of its own (worker threads of one Node.js process), not on Lambda; priced for the stack architecture; " +
  'API Gateway: one REST request per POST; ' +
  'DynamoDB: on-demand request units as the local endpoint reports them (ConsumedCapacity, indexes included; computed from item sizes for the calls that fail), see bench/lib/capacity.ts; ' +
  'Kafka (provisioned MSK): per order only the client<->broker bytes (key + value + headers at the producers, each consumed topic read once) that cross an AZ (half), at the EC2 cross-AZ rate both ways, replication being free; broker hours, their provisioned storage and the event poller units are per month, not per order; ' +
  'SNS: one publish request per message the functions published (deliveries depend on the subscribers and are not priced); ' +
  'CloudWatch Logs: bytes the functions wrote to stdout/stderr (Lambda platform lines not included). GB = 2^30 bytes, 730 hours a month.';

/** The run's usage per order, what it costs per million orders, and what the deployment costs a month. */
export function costReport(input: {
  stats: ChildStats;
  orders: number;
  logBytes: number;
  tablePrefix: string;
  deployment?: Deployment;
  prices?: Prices;
}): CostReport {
  const { stats, orders } = input;
  const p = input.prices ?? listPrices;
  const d = input.deployment ?? stackDeployment();
  const per: PerOrder = (n) => (orders > 0 ? n / orders : 0);

  const lambda = lambdaUsage(stats.functions, per);
  const dynamodb = dynamodbUsage(stats.dynamodb, input.tablePrefix, per);
  const kafka = kafkaUsage(stats.produced, per);
  const u: UsagePerOrder = {
    lambdaInvocations: round(per(lambda.invocations)),
    lambdaGbSeconds: round(per(lambda.gbSeconds)),
    lambdaColdStarts: round(per(lambda.coldStarts)),
    lambdaInitGbSeconds: round(per(lambda.initGbSeconds)),
    apiRequests: round(per(lambda.apiRequests)),
    snsPublishes: round(per(stats.sns?.publishes ?? 0)),
    dynamodbCalls: round(per(dynamodb.calls)),
    dynamodbReadUnits: round(per(dynamodb.readUnits)),
    dynamodbWriteUnits: round(per(dynamodb.writeUnits)),
    kafkaRecordsProduced: round(per(kafka.records)),
    kafkaBytesProduced: round(per(kafka.bytes)),
    kafkaBytesConsumed: round(per(kafka.bytesConsumed)),
    kafkaRetainedByteHours: round(per(kafka.byteHours)),
    logBytes: round(per(input.logBytes)),
  };

  return {
    orders,
    deployment: d,
    usagePerOrder: u,
    functions: lambda.functions,
    dynamodbPerTable: dynamodb.perTable,
    kafkaPerTopic: kafka.perTopic,
    perMillionOrdersUsd: costPerMillionOrders(u, p, d),
    fixedPerMonthUsd: fixedPerMonth(p, d),
    kafkaStorage: kafkaStorage(u, d),
    prices: { asOf: p.asOf, region: p.region, currency: p.currency },
    method: METHOD,
  };
}
