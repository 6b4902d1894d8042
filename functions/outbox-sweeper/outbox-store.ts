import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed, WRITE_CONFLICT_RETRY } from '../shared/dynamodb.ts';
import { retry } from '../shared/retry.ts';
import type { SweepPorts } from './step.ts';

/** The DynamoDB side of the sweep: pages of the outbox index, and conditional updates. */
export function dynamoSweepPorts(client: DynamoDBDocumentClient, send: SweepPorts['produce']): SweepPorts {
  return {
    async query(params) {
      const answer = await client.send(new QueryCommand(params));
      return {
        items: answer.Items ?? [],
        scanned: answer.ScannedCount ?? answer.Count ?? 0,
        ...(answer.LastEvaluatedKey ? { lastKey: answer.LastEvaluatedKey } : {}),
      };
    },
    async update(params) {
      try {
        // A claim meeting a running transaction is sent again (the SDK does not retry a conflict).
        await retry(() => client.send(new UpdateCommand(params)), WRITE_CONFLICT_RETRY);
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },
    produce: send,
  };
}
