/**
 * order-api's own DynamoDB clients: the shared settings (`dynamoDbClientConfig`) plus a retry budget
 * sized for an API. The SDK v3's standard strategy retries throttling (`ThrottlingException`,
 * `ProvisionedThroughputExceededException`, `RequestLimitExceeded`, ...), 500/502/503/504 and lost or
 * timed-out connections; it never retries `TransactionConflictException`, `TransactionCanceledException`
 * or `ConditionalCheckFailedException` (4xx client errors): conflicts are retried by `conflicts.ts`,
 * conditional-check failures are business answers. See
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html and local/README.md
 * ("What the SDK v3 retries by itself").
 *
 * Why not the DynamoDB client's defaults (4 attempts, 1 s throttling base, 20 s cap): a request of
 * order-api makes up to five DynamoDB calls (idempotency record, catalog, order, order again, answer
 * saved) inside a 10 s function timeout and API Gateway's 29 s, and a client that is answered 503 with
 * `Retry-After` backs off itself. So: 3 attempts per call, full jitter over 100 ms doubling, capped at
 * 1 s (at most 0.2 + 0.4 s of waits per call, 3 s for five), and a request that hangs is cut after 3 s
 * (a TimeoutError, retried like a lost connection: every write here is conditional, so a retry of a
 * write that took effect finds it done).
 */
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { dynamoDbClientConfig, dynamoDbClients } from '../shared/dynamodb.ts';

/** Attempts per DynamoDB call, the first included. */
export const ORDER_API_DYNAMODB_ATTEMPTS = 3;
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 1_000;
/** Longer than any answer DynamoDB gives a small item (single-digit ms), short of the function timeout. */
const REQUEST_TIMEOUT_MS = 3_000;
const CONNECTION_TIMEOUT_MS = 1_000;

/**
 * The wait before retry `retry` (1 for the first, as `ConfiguredRetryStrategy` counts them): full
 * jitter under 200 ms, then 400 ms, doubling up to 1 s.
 */
export const apiBackoffMs = (retry: number, random: () => number = Math.random): number =>
  Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry));

/** The client settings: the shared ones, and the retry budget above. */
export function orderApiDynamoDbConfig(
  env: Readonly<Record<string, string | undefined>>,
  random: () => number = Math.random,
): DynamoDBClientConfig {
  return {
    ...dynamoDbClientConfig(env),
    maxAttempts: ORDER_API_DYNAMODB_ATTEMPTS,
    retryStrategy: new ConfiguredRetryStrategy(ORDER_API_DYNAMODB_ATTEMPTS, (retry) =>
      apiBackoffMs(retry, random),
    ),
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECTION_TIMEOUT_MS },
  };
}

const clients = dynamoDbClients((env) => orderApiDynamoDbConfig(env));

/** The low-level client (the idempotency store's) of this execution environment; its calls are traced. */
export const orderApiDynamoDbClient = (): DynamoDBClient => clients.client();

/** The document client (orders, catalog, notifications) on the same low-level client. */
export const orderApiDocumentClient = (): DynamoDBDocumentClient => clients.documentClient();

/** Forgets the clients (`resetClients`), so the next request reads the environment again. */
export const resetOrderApiClients = (): void => clients.reset();
