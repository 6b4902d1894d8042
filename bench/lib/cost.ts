/**
 * Cost per million orders, from the operations a run counted and the price table in ../prices.ts.
 * Per-order usage is measured; only the prices are assumptions.
 */
import type { TopicName } from '../../events/topics.ts';
import { manifest } from '../../topology/manifest.ts';
import { prices as listPrices, type Prices } from '../prices.ts';
import type { ChildStats } from './protocol.ts';
import { consumerTopics } from './topics.ts';

export type Architecture = 'arm64' | 'x86_64';

export interface UsagePerOrder {
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  apiRequests: number;
  dynamodbReadUnits: number;
  dynamodbWriteUnits: number;
  kafkaRecordsProduced: number;
  kafkaBytesProduced: number;
  /** Bytes read by the functions' consumer groups (each consumed topic is read once). */
  kafkaBytesConsumed: number;
  /** Byte-hours kept by the topics' retention, per order. */
  kafkaRetainedByteHours: number;
  logBytes: number;
}

export interface CostPerMillion {
  lambdaRequests: number;
  lambdaDuration: number;
  apiGateway: number;
  dynamodb: number;
  mskServerlessData: number;
  mskServerlessStorage: number;
  cloudWatchLogs: number;
  total: number;
}

export interface CostReport {
  orders: number;
  architecture: Architecture;
  usagePerOrder: UsagePerOrder;
  /** Per function: invocations, records per invocation and GB-s per order. */
  functions: Record<
    string,
    { invocationsPerOrder: number; recordsPerInvocation: number; gbSecondsPerOrder: number }
  >;
  /** Request units per order, per logical table. */
  dynamodbPerTable: Record<string, { readUnits: number; writeUnits: number; calls: number }>;
  kafkaPerTopic: Record<string, { records: number; bytes: number }>;
  costPerMillionOrders: CostPerMillion;
  /** Fixed monthly costs that do not scale with orders, for scale. */
  fixedPerMonth: { mskServerlessCluster: number; mskServerlessPartitions: number };
  prices: { asOf: string; region: string; currency: string };
  method: string;
}

const GB = 1024 ** 3;
const HOURS_PER_MONTH = 730;

const round = (n: number, digits = 4) => Number(n.toPrecision(digits));

/** The logical table of a physical name `<prefix>-<table>`. */
const logicalTable = (physical: string, prefix: string) =>
  physical.startsWith(`${prefix}-`) ? physical.slice(prefix.length + 1) : physical;

export function costReport(input: {
  stats: ChildStats;
  orders: number;
  logBytes: number;
  tablePrefix: string;
  architecture: Architecture;
  prices?: Prices;
}): CostReport {
  const { stats, orders, architecture } = input;
  const p = input.prices ?? listPrices;
  const per = (n: number) => (orders > 0 ? n / orders : 0);

  let invocations = 0;
  let gbSeconds = 0;
  let apiRequests = 0;
  const functions: CostReport['functions'] = {};
  for (const [name, fn] of Object.entries(stats.functions)) {
    const fnGbSeconds = (fn.billedMs / 1000) * (fn.memoryMb / 1024);
    invocations += fn.invocations;
    gbSeconds += fnGbSeconds;
    if (manifest.functions[name as keyof typeof manifest.functions]?.trigger.kind === 'http')
      apiRequests += fn.invocations;
    functions[name] = {
      invocationsPerOrder: round(per(fn.invocations)),
      recordsPerInvocation: round(fn.invocations > 0 ? fn.records / fn.invocations : 0),
      gbSecondsPerOrder: round(per(fnGbSeconds)),
    };
  }

  const dynamodbPerTable: CostReport['dynamodbPerTable'] = {};
  let readUnits = 0;
  let writeUnits = 0;
  for (const [physical, units] of Object.entries(stats.dynamodb)) {
    readUnits += units.readUnits;
    writeUnits += units.writeUnits;
    dynamodbPerTable[logicalTable(physical, input.tablePrefix)] = {
      readUnits: round(per(units.readUnits)),
      writeUnits: round(per(units.writeUnits)),
      calls: round(per(units.calls)),
    };
  }

  const consumed = new Set(consumerTopics());
  let records = 0;
  let bytes = 0;
  let bytesConsumed = 0;
  let byteHours = 0;
  const kafkaPerTopic: CostReport['kafkaPerTopic'] = {};
  for (const [topic, counters] of Object.entries(stats.produced)) {
    records += counters.records;
    bytes += counters.bytes;
    if (consumed.has(topic)) bytesConsumed += counters.bytes;
    const retentionHours = manifest.topics[topic as TopicName]?.retentionHours ?? 0;
    byteHours += counters.bytes * retentionHours;
    kafkaPerTopic[topic] = { records: round(per(counters.records)), bytes: round(per(counters.bytes)) };
  }

  const usagePerOrder: UsagePerOrder = {
    lambdaInvocations: round(per(invocations)),
    lambdaGbSeconds: round(per(gbSeconds)),
    apiRequests: round(per(apiRequests)),
    dynamodbReadUnits: round(per(readUnits)),
    dynamodbWriteUnits: round(per(writeUnits)),
    kafkaRecordsProduced: round(per(records)),
    kafkaBytesProduced: round(per(bytes)),
    kafkaBytesConsumed: round(per(bytesConsumed)),
    kafkaRetainedByteHours: round(per(byteHours)),
    logBytes: round(per(input.logBytes)),
  };

  const million = 1_000_000;
  const u = usagePerOrder;
  const cost = {
    lambdaRequests: u.lambdaInvocations * p.lambda.perMillionRequests,
    lambdaDuration: u.lambdaGbSeconds * million * p.lambda.perGbSecond[architecture],
    apiGateway: u.apiRequests * p.apiGateway.perMillionRestRequests,
    dynamodb:
      u.dynamodbWriteUnits * p.dynamodb.perMillionWriteRequestUnits +
      u.dynamodbReadUnits * p.dynamodb.perMillionReadRequestUnits,
    mskServerlessData:
      ((u.kafkaBytesProduced * million) / GB) * p.mskServerless.perGbDataIn +
      ((u.kafkaBytesConsumed * million) / GB) * p.mskServerless.perGbDataOut,
    mskServerlessStorage:
      ((u.kafkaRetainedByteHours * million) / GB / HOURS_PER_MONTH) * p.mskServerless.perGbMonthStorage,
    cloudWatchLogs: ((u.logBytes * million) / GB) * p.cloudWatchLogs.perGbIngested,
  };
  const total = Object.values(cost).reduce((a, b) => a + b, 0);
  const partitions = Object.values(manifest.topics).reduce((n, topic) => n + topic.partitions, 0);

  return {
    orders,
    architecture,
    usagePerOrder,
    functions,
    dynamodbPerTable,
    kafkaPerTopic,
    costPerMillionOrders: Object.fromEntries(
      Object.entries({ ...cost, total }).map(([k, v]) => [k, Math.round(v * 100) / 100]),
    ) as unknown as CostPerMillion,
    fixedPerMonth: {
      mskServerlessCluster: round(p.mskServerless.perClusterHour * HOURS_PER_MONTH),
      mskServerlessPartitions: round(p.mskServerless.perPartitionHour * HOURS_PER_MONTH * partitions),
    },
    prices: { asOf: p.asOf, region: p.region, currency: p.currency },
    method:
      'Lambda: invocations counted by the local runtime, GB-s = sum of invocation durations rounded up to 1 ms x the manifest memory (durations measured on this machine, all functions in one Node.js process, not on Lambda); ' +
      'API Gateway: one REST request per POST; ' +
      'DynamoDB: request units computed from item sizes with the on-demand rules (moto reports constant capacity), see bench/lib/capacity.ts; ' +
      'Kafka: records and bytes (key + value + headers) counted at the producers, priced as MSK Serverless data in, data out (each consumed topic read once) and storage for the manifest retention; ' +
      'CloudWatch Logs: bytes the functions wrote to stdout/stderr. GB = 2^30 bytes.',
  };
}
