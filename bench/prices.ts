/**
 * AWS on-demand list prices, us-east-1 (US East, N. Virginia), in USD: the only place the bench keeps
 * prices. Checked on 2026-12-01 against the pages cited beside each price (the bench itself never goes
 * online: check the pages again before quoting a figure, and edit this file when they change).
 * First volume tier only; free tiers, Savings Plans and reserved capacity are ignored.
 */
export const prices = {
  asOf: '2026-12-01',
  region: 'us-east-1',
  currency: 'USD',
  lambda: {
    source: 'https://aws.amazon.com/lambda/pricing/',
    perMillionRequests: 0.2,
    /** First 6 billion GB-s a month (x86), first 7.5 billion (Arm). */
    perGbSecond: { x86_64: 0.0000166667, arm64: 0.0000133334 },
  },
  eventPollers: {
    source:
      'https://docs.aws.amazon.com/lambda/latest/dg/kafka-scaling-modes.html#kafka-cost-optimization (pricing: https://aws.amazon.com/lambda/pricing/, "Provisioned Mode for event source mappings")',
    /**
     * Provisioned mode for Kafka event source mappings, per Event Poller Unit-hour, US East (N. Virginia):
     * the pricing page's "EPU-hours price is $0.185/hour and supports 10 event pollers per EPU" (its
     * pricing example 3, Kafka; re-read on 2026-12-07; infra/README.md's cost table uses the same). Billed
     * per second (1-minute minimum) on the minimum pollers provisioned plus those added by autoscaling,
     * whatever the traffic.
     */
    perEpuHour: 0.185,
    /** An EPU hosts 10 event pollers by default (mappings of one poller group share EPUs). */
    pollersPerEpu: 10,
  },
  apiGateway: {
    source: 'https://aws.amazon.com/api-gateway/pricing/',
    /** REST APIs (the stack's API, for request validation), first 333 million requests a month. */
    perMillionRestRequests: 3.5,
  },
  dynamodb: {
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    /** Standard table class, on-demand (prices in force since the reduction of 1 November 2024). */
    perMillionWriteRequestUnits: 0.625,
    perMillionReadRequestUnits: 0.125,
  },
  msk: {
    source: 'https://aws.amazon.com/msk/pricing/',
    /** Provisioned cluster, standard brokers, per broker-hour. */
    perBrokerHour: { 'kafka.t3.small': 0.0456, 'kafka.m7g.large': 0.204, 'kafka.m5.large': 0.21 } as Record<
      string,
      number
    >,
    /** Provisioned EBS storage of the brokers, billed on the volume size whatever it holds. */
    perGbMonthStorage: 0.1,
  },
  dataTransfer: {
    source: 'https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer_within_the_same_AWS_Region',
    /** Between Availability Zones of one region: charged out of one AZ and into the other. */
    perGbCrossAzEachDirection: 0.01,
  },
  sns: {
    source: 'https://aws.amazon.com/sns/pricing/',
    /** Standard topics, per million publish requests (each 64 KB chunk of a message is one request). */
    perMillionPublishes: 0.5,
  },
  cloudWatchLogs: {
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    /** Standard log class ingestion (Lambda logs: the first 10 TB a month tier). */
    perGbIngested: 0.5,
  },
} as const;

export type Prices = typeof prices;
