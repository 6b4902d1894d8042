import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { sampleOrder, storedOrder } from '../testing.ts';
import type { Transition } from './model.ts';
import { dynamoOrders, isOwnTransition } from './repository.ts';

const stored = storedOrder(sampleOrder());
const confirm: Transition = {
  orderId: stored.orderId,
  from: ['RECEIVED'],
  to: 'CONFIRMED',
  at: '2026-11-24T10:00:01.000Z',
  detail: '2 SKU(s) reserved',
  digest: stored.digest ?? 'digest',
};
const confirmed = (at: string, detail = confirm.detail) => ({
  ...stored,
  status: 'CONFIRMED' as const,
  history: [...stored.history, { status: 'CONFIRMED' as const, at, ...(detail ? { detail } : {}) }],
});

describe('isOwnTransition (a refused transition that met its own lost write)', () => {
  it.each([
    ['the transition with its own timestamp: own', confirmed(confirm.at), true],
    [
      'the same transition by another attempt (a redelivery): not own',
      confirmed('2026-11-24T10:05:00.000Z'),
      false,
    ],
    ['another detail at the same instant: not own', confirmed(confirm.at, 'other'), false],
    ['still RECEIVED: not own', stored, false],
    ['another order content: not own', { ...confirmed(confirm.at), digest: 'other' }, false],
    ['no order: not own', undefined, false],
  ])('%s', (_, current, own) => {
    expect(isOwnTransition(confirm, current)).toBe(own);
  });
});

/** A document client that answers each command with the next scripted answer (a value, or an error to throw). */
function scripted(answers: unknown[]) {
  const sent: string[] = [];
  const client = {
    async send(command: { constructor: { name: string } }) {
      sent.push(command.constructor.name);
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return { sent, orders: dynamoOrders(client as unknown as DynamoDBDocumentClient, 'orders') };
}
const awsError = (name: string) => Object.assign(new Error(name), { name });

describe('dynamoOrders.transition under AWS errors', () => {
  it('sends a write that met a running transaction again (the SDK does not retry TransactionConflictException)', async () => {
    const conflict = awsError('TransactionConflictException');
    const { sent, orders } = scripted([conflict, conflict, { Attributes: confirmed(confirm.at) }]);
    expect(await orders.transition(confirm)).toMatchObject({ applied: true });
    expect(sent).toEqual(['UpdateCommand', 'UpdateCommand', 'UpdateCommand']);
  });

  it('takes a refusal that met its own lost write for applied, and any other for refused', async () => {
    const refused = awsError('ConditionalCheckFailedException');
    const own = scripted([refused, { Item: confirmed(confirm.at) }]);
    expect(await own.orders.transition(confirm)).toMatchObject({ applied: true });
    const other = scripted([refused, { Item: confirmed('2026-11-24T10:05:00.000Z') }]);
    expect(await other.orders.transition(confirm)).toMatchObject({ applied: false });
  });

  it('does not retry what is not a conflict (a throttled request the SDK retried already)', async () => {
    const { sent, orders } = scripted([awsError('ThrottlingException')]);
    await expect(orders.transition(confirm)).rejects.toThrow('ThrottlingException');
    expect(sent).toEqual(['UpdateCommand']);
  });
});
