import {
  type IdempotencyConfig,
  IdempotencyItemAlreadyExistsError,
  IdempotencyRecordStatus,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { tableName } from './config.ts';
import { dynamoDbClient } from './dynamodb.ts';
import { fullJitter, retry } from './retry.ts';

/**
 * Whether the in-progress record a put met is the one this very put wrote: its answer was lost (a 500 or a
 * dropped connection after DynamoDB stored it), the SDK sent it again, and the condition (no record, or an
 * expired one) refused the copy. An in-progress record carries the deadline of the invocation that wrote
 * it, to the millisecond, and its expiry: equal both, it is this put's, and nothing was done under it yet.
 * Pure.
 */
export function isOwnInProgressRecord(
  putting: Pick<IdempotencyRecord, 'idempotencyKey' | 'expiryTimestamp' | 'inProgressExpiryTimestamp'>,
  existing:
    | Pick<
        IdempotencyRecord,
        'idempotencyKey' | 'expiryTimestamp' | 'inProgressExpiryTimestamp' | 'getStatus'
      >
    | undefined,
): boolean {
  if (!existing || putting.inProgressExpiryTimestamp === undefined) return false;
  return (
    existing.getStatus() === IdempotencyRecordStatus.INPROGRESS &&
    existing.idempotencyKey === putting.idempotencyKey &&
    existing.inProgressExpiryTimestamp === putting.inProgressExpiryTimestamp &&
    existing.expiryTimestamp === putting.expiryTimestamp
  );
}

/**
 * Attempts of settling an in-progress record (each with the SDK's own 4): deleting it after the guarded
 * function failed, completing it after it succeeded. Both writes are unconditional, so sending one again
 * is harmless.
 */
const SETTLE_RETRY = { attempts: 4, delay: fullJitter({ baseMs: 50, capMs: 1_000 }) } as const;

/**
 * Powertools' DynamoDB persistence layer, with two answers to a lost or refused request that would leave
 * a record in progress — which blocks every retry of its key until the invocation's deadline, long enough
 * for the event source mapping's short local retries to dead-letter a record that only needed retrying,
 * and on AWS a stall of its partition for up to the function timeout:
 * - an in-progress put whose answer was lost is recognised as this put's own (see
 *   {@link isOwnInProgressRecord}), and the guarded function runs: when the SDK's retry was refused by the
 *   record (the refusal carries it), and when every attempt failed without a 4xx (a 500, a timeout, a
 *   dropped connection: DynamoDB may have stored it) and a consistent read finds it;
 * - the delete after the guarded function failed (so that a retry may run it again) and the completion
 *   after it succeeded (else a retry past the deadline would run it again: a second send) are retried.
 */
export class LostAnswerAwarePersistenceLayer extends DynamoDBPersistenceLayer {
  /**
   * Keys whose settling failed in this environment: their in-progress record may guard a send that
   * happened, so a later put that meets it (same invocation, same deadline) is never taken for its own.
   */
  readonly #unsettled = new Set<string>();

  protected override async _putRecord(record: IdempotencyRecord): Promise<void> {
    try {
      await super._putRecord(record);
    } catch (error) {
      if (!(await this.#storedOwnRecord(record, error))) throw error;
    }
  }

  /** Whether the put that failed with `error` stored `record` all the same. */
  async #storedOwnRecord(record: IdempotencyRecord, error: unknown): Promise<boolean> {
    if (this.#unsettled.has(record.idempotencyKey)) return false;
    if (error instanceof IdempotencyItemAlreadyExistsError)
      return isOwnInProgressRecord(record, error.existingRecord);
    // A 4xx (throttling, a validation error) is DynamoDB's word that nothing was stored.
    if ((error as { $fault?: unknown }).$fault === 'client') return false;
    const stored = await this._getRecord(record.idempotencyKey).catch(() => undefined);
    return isOwnInProgressRecord(record, stored);
  }

  protected override _deleteRecord(record: IdempotencyRecord): Promise<void> {
    return this.#settle(record, () => super._deleteRecord(record));
  }

  protected override _updateRecord(record: IdempotencyRecord): Promise<void> {
    return this.#settle(record, () => super._updateRecord(record));
  }

  async #settle(record: IdempotencyRecord, write: () => Promise<void>): Promise<void> {
    try {
      await retry(write, SETTLE_RETRY);
      this.#unsettled.delete(record.idempotencyKey);
    } catch (error) {
      this.#unsettled.add(record.idempotencyKey);
      throw error;
    }
  }
}

/**
 * The Powertools idempotency store on the idempotency table. Each use gets its own instance: a
 * persistence layer keeps the configuration of the first function it serves. `client` is the function's
 * own DynamoDB client when it has one (order-api's retry budget), else the shared one.
 */
export function idempotencyStore(client: DynamoDBClient = dynamoDbClient()): DynamoDBPersistenceLayer {
  return new LostAnswerAwarePersistenceLayer({
    tableName: tableName('idempotency'),
    keyAttr: 'id',
    expiryAttr: 'expiration',
    awsSdkV3Client: client,
  });
}

/**
 * The idempotency table also holds `npm run dlq:replay`'s ledger (tools/dlq/ledger.ts): its claims, and
 * the items that mark a record as a copy it sent. Every key the tool writes starts with one of these; the
 * deployed functions' roles may write none of them (infra's `NoReplayClaims`).
 */
export const CLAIM_PREFIX = 'dlq-replay#';
export const COPY_PREFIX = 'dlq-replay-copy#';
export const REPLAY_LEDGER_PREFIXES = [CLAIM_PREFIX, COPY_PREFIX] as const;

/** Records stay deduplicated as long as the topics keep them (168 h), so a late redelivery is still caught. */
export const RECORD_IDEMPOTENCY_SECONDS = 7 * 24 * 60 * 60;

/**
 * Registers an invocation's Lambda context with an idempotency config, its remaining time never under
 * 1 ms, so that every in-progress record carries the invocation's deadline and a crash leaves it in
 * progress only until then. Powertools stamps that deadline only when the remaining time is truthy
 * (`BasePersistenceLayer.saveInProgress`, 2.35); at 0 (Lambda ends an invocation a little after its
 * timeout, and a stalled machine reaches it between a check and the put) the record would stay in
 * progress until its expiry (days), refusing every retry of its key
 * (https://docs.powertools.aws.dev/lambda/typescript/latest/api/classes/_aws-lambda-powertools_idempotency.index.IdempotencyConfig.html,
 * the same edge in Python: https://github.com/aws-powertools/powertools-lambda-python/issues/4759). Every
 * config the functions use registers through here: order-api's requests, the notification's send, the
 * consumer's dead letters.
 */
export function registerInvocation(config: IdempotencyConfig, context: Context): void {
  const atLeastOneMs = Object.assign(Object.create(context) as Context, {
    getRemainingTimeInMillis: () => Math.max(1, context.getRemainingTimeInMillis()),
  });
  config.registerLambdaContext(atLeastOneMs);
}
