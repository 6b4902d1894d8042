import type { DeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';

/** One partition's retained offsets: the earliest (inclusive) to the end (exclusive). */
export interface Range {
  start: bigint;
  end: bigint;
}

/** The smaller of two offsets (Math.min takes no bigint). */
const earlier = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * The dead letters on the dead-letter topic, which also holds `dlq:replay`'s `DeadLetterReplayed` markers:
 * those say a letter went back once, they are no dead letter. Per partition, how far its records were
 * classified and the offsets of the markers among them, so that retention (the start moving up) drops
 * letters and markers alike. Only the markers' offsets are kept, not the letters.
 */
export class DeadLetterTally {
  /** Per partition, the next offset to classify. */
  private readonly classified = new Map<number, bigint>();
  private readonly markers = new Map<number, bigint[]>();

  /** What is left to classify of each partition (by index): from where it was read to its end. */
  unread(ranges: readonly Range[]): Range[] {
    return ranges.map(({ start, end }, partition) => {
      const next = this.classified.get(partition) ?? start;
      return { start: next > start ? earlier(next, end) : start, end };
    });
  }

  /**
   * One record classified (once: a record read again after a failed read is ignored). A marker is
   * remembered; anything else is a dead letter, an unreadable record included (someone should look).
   */
  add(partition: number, offset: bigint, record: DeadLetterQueueRecord): void {
    if (offset < (this.classified.get(partition) ?? 0n)) return;
    this.classified.set(partition, offset + 1n);
    if (record.kind !== 'marker') return;
    const offsets = this.markers.get(partition) ?? [];
    offsets.push(offset);
    this.markers.set(partition, offsets);
  }

  /** The ranges given were read to their ends. */
  read(ranges: readonly Range[]): void {
    ranges.forEach(({ end }, partition) => {
      if (end > (this.classified.get(partition) ?? 0n)) this.classified.set(partition, end);
    });
  }

  /** Records classified and still retained, less the markers among them. */
  count(ranges: readonly Range[]): number {
    let letters = 0n;
    ranges.forEach(({ start, end }, partition) => {
      const read = this.classified.get(partition) ?? start;
      const upTo = earlier(read, end);
      const kept = (this.markers.get(partition) ?? []).filter((o) => o >= start && o < upTo);
      this.markers.set(partition, kept);
      if (upTo > start) letters += upTo - start - BigInt(kept.length);
    });
    return Number(letters);
  }
}
