import { describe, expect, it } from 'vitest';
import type { DeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';
import { DeadLetterTally } from './kafka-state.ts';

const letter: DeadLetterQueueRecord = { kind: 'letters', letters: [] };
const marker = { kind: 'marker' } as DeadLetterQueueRecord;
const unreadable: DeadLetterQueueRecord = { kind: 'unreadable', error: 'not JSON' };

describe('dead letters on the dead-letter topic', () => {
  it("counts letters, not dlq:replay's markers, and what retention trimmed is gone", () => {
    const tally = new DeadLetterTally();
    const ranges = [
      { start: 0n, end: 4n },
      { start: 10n, end: 12n },
    ];
    const unread = tally.unread(ranges);
    expect(unread).toEqual(ranges);
    for (const [i, r] of [letter, marker, unreadable, marker].entries()) tally.add(0, BigInt(i), r);
    tally.add(1, 10n, letter);
    tally.add(1, 11n, marker);
    tally.read(unread);
    // Partition 0: a letter and an unreadable record; partition 1: a letter.
    expect(tally.count(ranges)).toBe(3);
    // A record read again (a failed read retried) is counted once.
    tally.add(0, 1n, marker);
    expect(tally.count(ranges)).toBe(3);
    // Two more records, then retention trims partition 0 below offset 2.
    const later = [
      { start: 2n, end: 6n },
      { start: 10n, end: 12n },
    ];
    expect(tally.unread(later)).toEqual([
      { start: 4n, end: 6n },
      { start: 12n, end: 12n },
    ]);
    tally.add(0, 4n, marker);
    tally.add(0, 5n, letter);
    tally.read(tally.unread(later));
    // Partition 0 keeps offsets 2..5: unreadable, marker, marker, letter.
    expect(tally.count(later)).toBe(3);
  });

  it('counts nothing it has not read yet', () => {
    const tally = new DeadLetterTally();
    expect(tally.count([{ start: 0n, end: 100n }])).toBe(0);
  });
});
