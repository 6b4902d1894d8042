import { describe, expect, it } from 'vitest';
import { claimable, claimState, decide, LEDGER_TTL_SECONDS } from './ledger.ts';

const now = Date.parse('2026-11-24T10:00:00.000Z');
const inProgress = (leaseExpiresAt: number) =>
  claimState({
    id: 'dlq-replay#OrderReceived:0:7',
    status: 'IN_PROGRESS',
    token: 't',
    letter: 'DeadLetterQueue:0:1',
    claimedAt: '2026-11-24T09:59:00.000Z',
    leaseExpiresAt,
  });

describe("dlq:replay's ledger", () => {
  it('reads a claim item, and refuses to take an item that is not one for a replay', () => {
    expect(claimState(undefined)).toEqual({ kind: 'none' });
    expect(
      claimState({
        status: 'COMPLETED',
        letter: 'DLQ:0:1',
        claimedAt: 'x',
        leaseExpiresAt: 1,
        copy: 'T:1:2',
      }),
    ).toEqual({ kind: 'completed', letter: 'DLQ:0:1', copy: 'T:1:2' });
    expect(inProgress(now + 1)).toMatchObject({ kind: 'in-progress', leaseExpiresAt: now + 1 });
    expect(claimState({ status: 'DONE' })).toMatchObject({ kind: 'unreadable' });
    expect(claimState({ status: 'COMPLETED', letter: 1 })).toMatchObject({ kind: 'unreadable' });
  });

  it('lets a run take a record nobody holds, or whose holder let its lease run out; never a completed one', () => {
    expect(claimable({ kind: 'none' }, now)).toBe(true);
    expect(claimable(inProgress(now - 1), now)).toBe(true);
    expect(claimable(inProgress(now), now)).toBe(false);
    expect(claimable(inProgress(now + 60_000), now)).toBe(false);
    expect(claimable({ kind: 'completed', letter: 'l', copy: undefined }, now)).toBe(false);
    expect(claimable({ kind: 'unreadable', error: 'x' }, now)).toBe(false);
  });

  it('keeps its items longer than any letter naming the record can be on the dead-letter topic', () => {
    // OrderReceived's 168 h on its topic, then 336 h of a letter on DeadLetterQueue.
    expect(LEDGER_TTL_SECONDS).toBeGreaterThan((168 + 336) * 3600);
  });
});

describe('dlq:replay decides from the ledger alone', () => {
  it('replays a record without a claim, whatever its letter or the topic says', () => {
    expect(decide({ kind: 'none' }, undefined, false, now)).toEqual({ action: 'replay' });
  });

  it('skips a record whose claim is completed, or held by a run within its lease', () => {
    expect(decide({ kind: 'completed', letter: 'l', copy: 'T:0:1' }, undefined, true, now)).toEqual({
      action: 'already-replayed',
    });
    expect(decide(inProgress(now + 5_000), undefined, false, now)).toMatchObject({
      action: 'skip',
      kind: 'being replayed by another run',
    });
    expect(decide({ kind: 'unreadable', error: 'x' }, undefined, false, now)).toMatchObject({
      action: 'skip',
      kind: 'claim not written by the tool',
    });
  });

  it('takes over a claim whose run died before completing it, once its lease is over', () => {
    expect(decide(inProgress(now - 1), undefined, false, now)).toEqual({
      action: 'replay',
      takeOver: 'claimed at 2026-11-24T09:59:00.000Z by a run that did not finish',
    });
  });

  it('tells a failed replay by the ledger knowing the record as its copy, and sends it again only when asked', () => {
    expect(decide({ kind: 'none' }, 'OrderReceived:0:7', false, now)).toMatchObject({
      action: 'skip',
      kind: 'failed again after a replay',
    });
    expect(decide({ kind: 'none' }, 'OrderReceived:0:7', true, now)).toEqual({ action: 'replay' });
  });
});
