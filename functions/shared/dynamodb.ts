import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { readDynamoDbEndpoint } from './config.ts';
import { projectRetries } from './errors.ts';
import { fullJitter } from './retry.ts';
import { captureAwsClient } from './tracing.ts';

/**
 * Client settings. On AWS nothing is set: region and credentials come from the Lambda environment.
 * Locally (`DYNAMODB_ENDPOINT` set) the endpoint is dynoxide, which accepts any credentials, so a
 * default region and dummy static credentials are used there and only there.
 */
export function dynamoDbClientConfig(
  env: Readonly<Record<string, string | undefined>>,
): DynamoDBClientConfig {
  const endpoint = readDynamoDbEndpoint(env);
  if (!endpoint) return {};
  return {
    endpoint,
    region: env.AWS_REGION || 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

/**
 * The clients of one configuration, made on first use (the environment read then) and kept for the
 * execution environment: the low-level client, whose calls are X-Ray subsegments (and local spans), and
 * the document client (plain JS values in and out) on it, which sends through the same middleware.
 * `reset` drops them, so the next call reads the environment again.
 */
export function dynamoDbClients(
  config: (env: Readonly<Record<string, string | undefined>>) => DynamoDBClientConfig,
) {
  let client: DynamoDBClient | undefined;
  let documentClient: DynamoDBDocumentClient | undefined;
  const lowLevel = (): DynamoDBClient => {
    client ??= captureAwsClient(new DynamoDBClient(config(process.env)));
    return client;
  };
  return {
    client: lowLevel,
    documentClient(): DynamoDBDocumentClient {
      documentClient ??= DynamoDBDocumentClient.from(lowLevel(), {
        marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
      });
      return documentClient;
    },
    reset(): void {
      client?.destroy();
      client = undefined;
      documentClient = undefined;
    },
  };
}

/** The steps' clients, on the shared settings. */
const shared = dynamoDbClients(dynamoDbClientConfig);

/** The low-level client, shared with the Powertools idempotency persistence layer. */
export const dynamoDbClient = (): DynamoDBClient => shared.client();

/** The document client every business write goes through. */
export const dynamoDbDocumentClient = (): DynamoDBDocumentClient => shared.documentClient();

/** Drops the cached clients, so the next call reads the environment again. */
export const resetDynamoDbClients = (): void => shared.reset();

/** A write refused by its condition: the caller reads the item to learn why. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * Attempts of one single-item write that meets an item inside a running transaction
 * (`TransactionConflictException`, which the SDK does not retry): nothing was written, so it is sent
 * again after a short random wait. 6 attempts wait at most 25 + 50 + 100 + 200 + 400 ms.
 */
export const WRITE_CONFLICT_RETRY = {
  attempts: 6,
  delay: fullJitter({ baseMs: 25, capMs: 1_000 }),
  retryIf: projectRetries,
} as const;
