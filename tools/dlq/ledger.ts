/**
 * The at-most-once record of dlq:replay: one item per original record in the idempotency table, taken
 * with a conditional put BEFORE the record goes back, so that of concurrent runs exactly one wins. Only
 * the tool writes these items (a Kafka producer cannot), so nothing on a topic ‒ a forged
 * `DeadLetterReplayed` marker, a `replayed-from` header ‒ can make a run skip a letter.
 *
 * A claim is IN_PROGRESS with a lease while its run produces, COMPLETED (naming the copy's coordinates)
 * after. A run that dies between its claim and its completion leaves the claim IN_PROGRESS; once the lease
 * is over, a later run takes it over and sends the record again (a second copy only when the first run
 * died after producing; the consumers' idempotency makes that copy a no-op).
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { type TopicName, topicNames } from '../../events/topics.ts';
import { isConditionalCheckFailed } from '../../functions/shared/dynamodb.ts';
import { CLAIM_PREFIX, COPY_PREFIX } from '../../functions/shared/idempotency.ts';
import { manifest } from '../../topology/index.ts';
import { deadLetterTopic } from '../../topology/topics.ts';

const retentionHours = (topic: string) => manifest.topics[topic as TopicName]?.retentionHours ?? 0;
/**
 * Longer than any letter naming the record can be around: the record is on its topic for that topic's
 * retention, and a letter of it stays on the dead-letter topic for that one's (then DynamoDB's TTL).
 */
export const LEDGER_TTL_SECONDS =
  (Math.max(...topicNames.map(retentionHours)) + retentionHours(deadLetterTopic) + 24) * 3600;

const ClaimItem = z.object({
  status: z.enum(['IN_PROGRESS', 'COMPLETED']),
  letter: z.string(),
  claimedAt: z.string(),
  leaseExpiresAt: z.number(),
  copy: z.string().optional(),
});
const CopyItem = z.object({ original: z.string(), letter: z.string() });

export type ReplayState =
  | { kind: 'none' }
  | { kind: 'completed'; letter: string; copy: string | undefined }
  | { kind: 'in-progress'; letter: string; claimedAt: string; leaseExpiresAt: number }
  /** An item under the tool's key that is not the tool's: never taken for a replay, never overwritten. */
  | { kind: 'unreadable'; error: string };

/** What an item under a claim key says (pure: the item is read back from a table others can write). */
export function claimState(item: Record<string, unknown> | undefined): ReplayState {
  if (item === undefined) return { kind: 'none' };
  const parsed = ClaimItem.safeParse(item);
  if (!parsed.success) return { kind: 'unreadable', error: parsed.error.issues[0]?.message ?? 'invalid' };
  const { status, letter, claimedAt, leaseExpiresAt, copy } = parsed.data;
  return status === 'COMPLETED'
    ? { kind: 'completed', letter, copy }
    : { kind: 'in-progress', letter, claimedAt, leaseExpiresAt };
}

/** Whether a run may take the replay of a record, given what its claim says at `now`. */
export function claimable(state: ReplayState, now: number): boolean {
  return state.kind === 'none' || (state.kind === 'in-progress' && state.leaseExpiresAt < now);
}

export type SkipKind =
  | 'failed again after a replay'
  | 'being replayed by another run'
  | 'claim not written by the tool'
  | 'not a pipeline topic'
  | 'truncated, original gone from its topic'
  | 'truncated, not the original at its coordinates';

/** What to do with a matched letter, from what the ledger says of its record (never from the topic). */
export type Decision =
  | { action: 'replay'; takeOver?: string }
  | { action: 'already-replayed' }
  | { action: 'skip'; kind: SkipKind; reason: string };

/**
 * Pure: the ledger's claim of the letter's record (`state`), whether the ledger knows that record as a copy
 * the tool sent (`copyOf`), at `now`. Headers and markers on the topics play no part: anyone who can
 * produce to a pipeline topic can write them.
 */
export function decide(
  state: ReplayState,
  copyOf: string | undefined,
  includeFailedReplays: boolean,
  now: number,
): Decision {
  if (state.kind === 'completed') return { action: 'already-replayed' };
  const skip = (kind: SkipKind, reason: string): Decision => ({ action: 'skip', kind, reason });
  if (state.kind === 'unreadable')
    return skip('claim not written by the tool', `its claim is unreadable: ${state.error}`);
  if (state.kind === 'in-progress' && !claimable(state, now)) {
    const until = new Date(state.leaseExpiresAt).toISOString();
    return skip(
      'being replayed by another run',
      `claimed at ${state.claimedAt} by another run, until ${until}`,
    );
  }
  if (copyOf !== undefined && !includeFailedReplays) {
    const reason = `failed again after its replay of ${copyOf} (--include-failed-replays sends it again)`;
    return skip('failed again after a replay', reason);
  }
  return state.kind === 'in-progress'
    ? { action: 'replay', takeOver: `claimed at ${state.claimedAt} by a run that did not finish` }
    : { action: 'replay' };
}

export type ClaimResult = { won: true; token: string } | { won: false; state: ReplayState };

export class ReplayLedger {
  readonly #client: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.#client = DynamoDBDocumentClient.from(client);
  }

  /**
   * What the ledger knows of `record` (`<topic>:<partition>:<offset>`): its replay, and the original it is
   * a copy of when the tool sent it (a failed replay's letter names it).
   */
  async look(record: string): Promise<{ state: ReplayState; copyOf: string | undefined }> {
    const keys = [{ id: CLAIM_PREFIX + record }, { id: COPY_PREFIX + record }];
    const answer = await this.#client.send(
      new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
    );
    if (Object.keys(answer.UnprocessedKeys ?? {}).length > 0) throw new Error('DynamoDB left keys unread');
    const items = answer.Responses?.[this.tableName] ?? [];
    const byId = (id: string) => items.find((item) => item.id === id);
    const copy = CopyItem.safeParse(byId(COPY_PREFIX + record));
    return {
      state: claimState(byId(CLAIM_PREFIX + record)),
      copyOf: copy.success ? copy.data.original : undefined,
    };
  }

  /**
   * Takes the replay of `original` for this run, until `now + leaseMs`: a conditional put that succeeds
   * only when nobody holds it (or a holder's lease is over), so of concurrent runs exactly one wins.
   */
  async claim(original: string, letter: string, now: number, leaseMs: number): Promise<ClaimResult> {
    const token = randomUUID();
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            id: CLAIM_PREFIX + original,
            status: 'IN_PROGRESS',
            token,
            letter,
            claimedAt: new Date(now).toISOString(),
            leaseExpiresAt: now + leaseMs,
            expiration: Math.floor(now / 1000) + LEDGER_TTL_SECONDS,
          },
          ConditionExpression:
            'attribute_not_exists(id) OR (#status = :inProgress AND leaseExpiresAt < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':inProgress': 'IN_PROGRESS', ':now': now },
        }),
      );
      return { won: true, token };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return { won: false, state: (await this.look(original)).state };
    }
  }

  /**
   * Marks the claim done and records `copy` (where the record went back) as the tool's copy of
   * `original`, in one transaction; refused when the claim is no longer this run's (its lease ran out).
   */
  async complete(original: string, token: string, letter: string, copy: string, now: number): Promise<void> {
    const expiration = Math.floor(now / 1000) + LEDGER_TTL_SECONDS;
    await this.#client.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id: CLAIM_PREFIX + original },
              UpdateExpression: 'SET #status = :completed, #copy = :copy, #expiration = :expiration',
              ConditionExpression: '#token = :token',
              ExpressionAttributeNames: {
                '#status': 'status',
                '#token': 'token',
                '#copy': 'copy',
                '#expiration': 'expiration',
              },
              ExpressionAttributeValues: {
                ':completed': 'COMPLETED',
                ':copy': copy,
                ':token': token,
                ':expiration': expiration,
              },
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: { id: COPY_PREFIX + copy, original, letter, expiration },
            },
          },
        ],
      }),
    );
  }
}
