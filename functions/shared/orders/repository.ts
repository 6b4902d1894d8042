import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed, WRITE_CONFLICT_RETRY } from '../dynamodb.ts';
import { retry } from '../retry.ts';
import {
  type Cancellation,
  cancelUpdate,
  StoredOrder,
  type Transition,
  transitionUpdate,
  type UpdateParams,
} from './model.ts';

/** An applied transition returns the order as stored after it; a refused one, the order as it is. */
export type TransitionResult =
  | { applied: true; order: StoredOrder }
  | { applied: false; current: StoredOrder | undefined };

/** What the steps need from the orders table; handlers get the DynamoDB one, unit tests a fake. */
export interface OrdersPort {
  get(orderId: string): Promise<StoredOrder | undefined>;
  /** Writes a new order unless one with the same id exists; then returns the existing one. */
  create(
    order: StoredOrder,
  ): Promise<{ created: true } | { created: false; existing: StoredOrder | undefined }>;
  /** Applies a conditional transition; when its condition refuses it, returns the order as it is. */
  transition(t: Transition): Promise<TransitionResult>;
  /** Cancels the order if it is still cancellable (see `cancelUpdate`); else returns it as it is. */
  cancel(c: Cancellation): Promise<TransitionResult>;
}

/** Items are ours, but they are parsed anyway: a row that does not fit is reported, not half-used. */
export function parseStoredOrder(item: Record<string, unknown> | undefined): StoredOrder | undefined {
  if (!item) return undefined;
  const parsed = StoredOrder.safeParse(item);
  if (!parsed.success) {
    throw new Error(`orders table item ${String(item.orderId)} is malformed: ${parsed.error.message}`);
  }
  return parsed.data;
}

/**
 * Whether a refused transition's order shows the transition itself, written by this very attempt: the
 * answer to the write was lost (a 500 or a dropped connection after DynamoDB applied it), the SDK sent it
 * again, and its condition met the write it had made. The history entry carries the attempt's own
 * timestamp, which no other attempt (a redelivery, a retry of the batch) shares. Pure.
 */
export function isOwnTransition(t: Transition, current: StoredOrder | undefined): current is StoredOrder {
  if (!current || current.status !== t.to || current.digest !== t.digest) return false;
  const entry = current.history.findLast((step) => step.status === t.to);
  return entry?.at === t.at && entry.detail === t.detail;
}

export function dynamoOrders(client: DynamoDBDocumentClient, tableName: string): OrdersPort {
  const get = async (orderId: string) => {
    const answer = await client.send(
      new GetCommand({ TableName: tableName, Key: { orderId }, ConsistentRead: true }),
    );
    return parseStoredOrder(answer.Item);
  };
  /** A conditional update: the order as stored after it, or, refused, the order as it is. */
  const update = async (params: UpdateParams): Promise<TransitionResult> => {
    const orderId = params.Key.orderId;
    try {
      const answer = await retry(
        () => client.send(new UpdateCommand({ ...params, ReturnValues: 'ALL_NEW' })),
        WRITE_CONFLICT_RETRY,
      );
      const order = parseStoredOrder(answer.Attributes);
      if (!order) throw new Error(`order ${orderId} was updated but DynamoDB returned no item`);
      return { applied: true, order };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return { applied: false, current: await get(orderId) };
    }
  };
  return {
    get,
    async create(order) {
      try {
        await retry(
          () =>
            client.send(
              new PutCommand({
                TableName: tableName,
                Item: order,
                ConditionExpression: 'attribute_not_exists(orderId)',
              }),
            ),
          WRITE_CONFLICT_RETRY,
        );
        return { created: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        return { created: false, existing: await get(order.orderId) };
      }
    },
    cancel: (c) => update(cancelUpdate(tableName, c)),
    async transition(t) {
      const result = await update(transitionUpdate(tableName, t));
      if (!result.applied && isOwnTransition(t, result.current))
        return { applied: true, order: result.current };
      return result;
    },
  };
}
