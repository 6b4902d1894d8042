/**
 * AWS on-demand list prices, us-east-1, in USD: the only place the bench keeps prices.
 *
 * As published on the pricing pages below in 2025 (DynamoDB's on-demand prices are those in force since
 * the 50% reduction of 1 November 2024). Taken on 2025-06-01 and not re-fetched at run time (the bench
 * never goes online): check the pages before quoting a figure, and edit this file when they change.
 * Free tiers, Savings Plans and volume tiers beyond the first are ignored.
 */
export const prices = {
  asOf: '2025-06-01',
  region: 'us-east-1',
  currency: 'USD',
  lambda: {
    source: 'https://aws.amazon.com/lambda/pricing/',
    perMillionRequests: 0.2,
    /** First 6 billion GB-s a month (x86), first 7.5 billion (Arm). */
    perGbSecond: { x86_64: 0.0000166667, arm64: 0.0000133334 },
  },
  dynamodb: {
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    /** Standard table class. */
    perMillionWriteRequestUnits: 0.625,
    perMillionReadRequestUnits: 0.125,
  },
  apiGateway: {
    source: 'https://aws.amazon.com/api-gateway/pricing/',
    /** REST APIs (the stack's API, for request validation), first 333 million requests a month. */
    perMillionRestRequests: 3.5,
  },
  mskServerless: {
    source: 'https://aws.amazon.com/msk/pricing/',
    perGbDataIn: 0.1,
    perGbDataOut: 0.05,
    perGbMonthStorage: 0.1,
    /** Fixed, whatever the traffic: reported beside the per-order figures, not in them. */
    perClusterHour: 0.75,
    perPartitionHour: 0.0015,
  },
  cloudWatchLogs: {
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    /** Standard log class ingestion (Lambda's logs, first 10 TB a month). */
    perGbIngested: 0.5,
  },
} as const;

export type Prices = typeof prices;
