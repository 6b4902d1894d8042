import { describe, expect, it } from 'vitest';
import { sampleOrder, storedOrder } from '../testing.ts';
import type { Transition } from './model.ts';
import { isOwnTransition } from './repository.ts';

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
