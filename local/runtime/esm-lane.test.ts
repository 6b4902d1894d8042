import { describe, expect, it } from 'vitest';
import * as esm from './esm-lane.ts';
import type { InvokeOutcome } from './lambda-context.ts';

const topic = 'OrderReceived';
const rec = (offset: number, timestamp = 1_000_000): esm.LaneRecord => ({
  topic,
  partition: 3,
  offset: BigInt(offset),
  timestamp: BigInt(timestamp),
});
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => rec(from + i));
const offsets = (records: readonly esm.LaneRecord[]) => records.map((r) => Number(r.offset));
const item = (partition: string, offset: unknown) => ({ itemIdentifier: { partition, offset } });

const settings: esm.LaneSettings = {
  batchSize: 10,
  maximumBatchingWindowSeconds: 0,
  retryAttempts: 2,
  bisectBatchOnFunctionError: false,
  reportBatchItemFailures: true,
  maximumRecordAgeSeconds: -1,
};

describe('readResponse: an invocation’s outcome, as the mapping reads it', () => {
  const batch = range(40, 45);
  const ok = (payload: unknown): InvokeOutcome => ({ status: 'ok', requestId: 'r-1', payload });
  const cases: [string, unknown, Partial<esm.LaneSettings>, esm.Verdict][] = [
    ['no response', undefined, {}, { kind: 'success' }],
    ['a null response', null, {}, { kind: 'success' }],
    ['a response without the list', { processed: 5 }, {}, { kind: 'success' }],
    ['a null list', { batchItemFailures: null }, {}, { kind: 'success' }],
    ['an empty list', { batchItemFailures: [] }, {}, { kind: 'success' }],
    [
      'one failed record',
      { batchItemFailures: [item('OrderReceived-3', 42)] },
      {},
      { kind: 'partial', from: 42n },
    ],
    [
      'several: the lowest offset is the checkpoint',
      {
        batchItemFailures: [
          item('OrderReceived-3', 44),
          item('OrderReceived-3', 41),
          item('OrderReceived-3', 43),
        ],
      },
      {},
      { kind: 'partial', from: 41n },
    ],
    [
      'ignored without ReportBatchItemFailures',
      { batchItemFailures: [item('OrderReceived-3', 42)] },
      { reportBatchItemFailures: false },
      { kind: 'success' },
    ],
  ];
  it.each(cases)('%s', (_, payload, overrides, verdict) => {
    expect(esm.readResponse(ok(payload), batch, { ...settings, ...overrides })).toEqual(verdict);
  });

  const failures: [string, unknown][] = [
    ['a list that is not a list', { batchItemFailures: { itemIdentifier: 'x' } }],
    ['a null itemIdentifier', { batchItemFailures: [{ itemIdentifier: null }] }],
    ['an empty string itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    [
      'a string itemIdentifier (not the Kafka shape)',
      { batchItemFailures: [{ itemIdentifier: 'OrderReceived-3-42' }] },
    ],
    [
      'a bad key name',
      { batchItemFailures: [{ itemIdentifier: { 'topic-partition': 'OrderReceived-3', offset: 42 } }] },
    ],
    ['an offset as a string', { batchItemFailures: [item('OrderReceived-3', '42')] }],
    ['an offset not in the invocation', { batchItemFailures: [item('OrderReceived-3', 45)] }],
    ['another partition', { batchItemFailures: [item('OrderReceived-4', 42)] }],
    [
      'one good and one bad identifier',
      { batchItemFailures: [item('OrderReceived-3', 42), { itemIdentifier: null }] },
    ],
  ];
  it.each(failures)('%s: a complete failure', (_, payload) => {
    expect(esm.readResponse(ok(payload), batch, settings)).toMatchObject({ kind: 'failure' });
  });

  it('a failed invocation is a failure whatever the settings, with its kind and error as the reason', () => {
    const crashed: InvokeOutcome = {
      status: 'error',
      requestId: 'r-2',
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: 'exit 137',
    };
    for (const reportBatchItemFailures of [false, true])
      expect(esm.readResponse(crashed, batch, { ...settings, reportBatchItemFailures })).toEqual({
        kind: 'failure',
        reason: 'crash: Runtime.ExitError: exit 137',
      });
  });
});

describe('afterInvocation: what follows an invocation', () => {
  const work = (records: esm.LaneRecord[], retries = 0, invocations = 1): esm.Work<esm.LaneRecord> => ({
    records,
    retries,
    invocations,
  });
  const failure: esm.Verdict = { kind: 'failure', reason: 'crash: Runtime.ExitError' };
  const cases: [
    string,
    esm.Work<esm.LaneRecord>,
    esm.Verdict,
    Partial<esm.LaneSettings>,
    { pending: number[][]; retries: number[]; exhausted: number[]; bisected: boolean },
  ][] = [
    [
      'success: done',
      work(range(0, 4)),
      { kind: 'success' },
      {},
      { pending: [], retries: [], exhausted: [], bisected: false },
    ],
    [
      'failure: retried whole, one retry used',
      work(range(0, 4)),
      failure,
      {},
      { pending: [[0, 1, 2, 3]], retries: [1], exhausted: [], bisected: false },
    ],
    [
      'failure with no retry left: all to on-failure',
      work(range(0, 4), 2, 3),
      failure,
      {},
      { pending: [], retries: [], exhausted: [0, 1, 2, 3], bisected: false },
    ],
    [
      'failure, infinite retries',
      work(range(0, 2), 500, 501),
      failure,
      { retryAttempts: -1 },
      { pending: [[0, 1]], retries: [501], exhausted: [], bisected: false },
    ],
    [
      'failure with bisect: halves, retries kept',
      work(range(0, 5), 1, 2),
      failure,
      { bisectBatchOnFunctionError: true },
      {
        pending: [
          [0, 1, 2],
          [3, 4],
        ],
        retries: [1, 1],
        exhausted: [],
        bisected: true,
      },
    ],
    [
      'failure with bisect even with no retry left',
      work(range(0, 2), 2, 3),
      failure,
      { bisectBatchOnFunctionError: true },
      { pending: [[0], [1]], retries: [2, 2], exhausted: [], bisected: true },
    ],
    [
      'failure with bisect, one record: retried',
      work(range(7, 8)),
      failure,
      { bisectBatchOnFunctionError: true },
      { pending: [[7]], retries: [1], exhausted: [], bisected: false },
    ],
    [
      'failure with bisect, one record, no retry left',
      work(range(7, 8), 2, 3),
      failure,
      { bisectBatchOnFunctionError: true },
      { pending: [], retries: [], exhausted: [7], bisected: false },
    ],
    [
      'partial: resumes from the checkpoint, one retry used',
      work(range(0, 5)),
      { kind: 'partial', from: 2n },
      {},
      { pending: [[2, 3, 4]], retries: [1], exhausted: [], bisected: false },
    ],
    [
      'partial, no bisect even when on',
      work(range(0, 5)),
      { kind: 'partial', from: 2n },
      { bisectBatchOnFunctionError: true },
      { pending: [[2, 3, 4]], retries: [1], exhausted: [], bisected: false },
    ],
    [
      'partial with no retry left: the named record alone to on-failure, the rest afresh',
      work(range(0, 5), 2, 3),
      { kind: 'partial', from: 2n },
      {},
      { pending: [[3, 4]], retries: [0], exhausted: [2], bisected: false },
    ],
    [
      'partial on the last record with no retry left',
      work(range(0, 5), 2, 3),
      { kind: 'partial', from: 4n },
      {},
      { pending: [], retries: [], exhausted: [4], bisected: false },
    ],
  ];
  it.each(cases)('%s', (_, given, verdict, overrides, expected) => {
    const next = esm.afterInvocation(given, verdict, { ...settings, ...overrides });
    expect({
      pending: next.pending.map((w) => offsets(w.records)),
      retries: next.pending.map((w) => w.retries),
      exhausted: offsets(next.exhausted),
      bisected: next.bisected,
    }).toEqual(expected);
  });
});

/** Works one batch through the rules with a scripted function, as the shell does with a real one. */
function workThrough(
  batch: esm.LaneRecord[],
  fn: (records: esm.LaneRecord[]) => esm.Verdict,
  overrides: Partial<esm.LaneSettings>,
) {
  const rules = { ...settings, ...overrides };
  const pending = [esm.freshWork(batch)];
  const succeeded: number[] = [];
  const toOnFailure: { offset: number; invocations: number }[] = [];
  const commits: number[] = [];
  let invocations = 0;
  for (let work = pending.shift(); work; work = pending.shift()) {
    invocations++;
    const invoked = { ...work, invocations: work.invocations + 1 };
    const verdict = fn(invoked.records);
    if (verdict.kind === 'success') succeeded.push(...offsets(invoked.records));
    if (verdict.kind === 'partial')
      succeeded.push(...offsets(invoked.records.filter((r) => r.offset < verdict.from)));
    const next = esm.afterInvocation(invoked, verdict, rules);
    toOnFailure.push(
      ...next.exhausted.map((r) => ({ offset: Number(r.offset), invocations: invoked.invocations })),
    );
    pending.unshift(...next.pending);
    const point = esm.commitPoint(pending, batch);
    const from = commits.at(-1) ?? Number(batch[0]?.offset);
    if (point !== undefined && Number(point) > from) commits.push(Number(point));
  }
  return { succeeded, toOnFailure, commits, invocations };
}

describe('a batch worked through the rules', () => {
  const poisonAt = [0, 1, 6, 13, 99];
  it.each(poisonAt)(
    'with bisect, a record at %i that crashes every invocation carrying it ends alone on on-failure; the others succeed once',
    (poison) => {
      const batch = range(0, 100);
      const result = workThrough(
        batch,
        (records) =>
          records.some((r) => r.offset === BigInt(poison))
            ? { kind: 'failure', reason: 'crash' }
            : { kind: 'success' },
        { bisectBatchOnFunctionError: true, retryAttempts: 8 },
      );
      expect(result.toOnFailure.map((f) => f.offset)).toEqual([poison]);
      // The first invocation, every split on the way down (7 for 100 records), then its 8 retries alone.
      expect(result.toOnFailure[0]?.invocations).toBeGreaterThanOrEqual(9);
      expect(result.succeeded.sort((a, b) => a - b)).toEqual(offsets(batch).filter((o) => o !== poison));
      // Commits move forward only, and end past the batch.
      expect(result.commits).toEqual([...result.commits].sort((a, b) => a - b));
      expect(result.commits.at(-1)).toBe(100);
    },
  );

  it('without bisect, the poison takes its whole batch to on-failure after the retries', () => {
    const result = workThrough(
      range(0, 10),
      (records) =>
        records.some((r) => r.offset === 4n) ? { kind: 'failure', reason: 'crash' } : { kind: 'success' },
      { retryAttempts: 2 },
    );
    expect(result.toOnFailure).toEqual(offsets(range(0, 10)).map((offset) => ({ offset, invocations: 3 })));
    expect(result.succeeded).toEqual([]);
    expect(result.commits).toEqual([10]);
  });

  it('a record that fails transiently twice (partial response) resumes its partition from it; the records before it run once', () => {
    let failuresLeft = 2;
    const seen: number[][] = [];
    const result = workThrough(
      range(0, 6),
      (records) => {
        seen.push(offsets(records));
        if (records.some((r) => r.offset === 3n) && failuresLeft-- > 0) return { kind: 'partial', from: 3n };
        return { kind: 'success' };
      },
      { retryAttempts: 8 },
    );
    expect(seen).toEqual([
      [0, 1, 2, 3, 4, 5],
      [3, 4, 5],
      [3, 4, 5],
    ]);
    expect(result.toOnFailure).toEqual([]);
    expect(result.commits).toEqual([3, 6]);
  });

  it('a record reported failed forever goes alone to on-failure, and the records after it go on', () => {
    const result = workThrough(
      range(0, 6),
      (records) =>
        records.some((r) => r.offset === 3n) ? { kind: 'partial', from: 3n } : { kind: 'success' },
      { retryAttempts: 2 },
    );
    expect(result.toOnFailure).toEqual([{ offset: 3, invocations: 3 }]);
    expect(result.succeeded).toEqual([0, 1, 2, 4, 5]);
    expect(result.commits).toEqual([3, 4, 6]);
  });
});

describe('expire: MaximumRecordAgeInSeconds', () => {
  const now = 10_000_000;
  const batch = [rec(0, now - 120_001), rec(1, now - 120_000), rec(2, now - 5_000), rec(3, now)];
  const cases: [string, number, number[], number[]][] = [
    ['-1: never', -1, [], [0, 1, 2, 3]],
    ['120 s: the record older than that', 120, [0], [1, 2, 3]],
    ['60 s', 60, [0, 1], [2, 3]],
  ];
  it.each(cases)('%s', (_, maxAge, expired, fresh) => {
    const result = esm.expire(batch, now, maxAge);
    expect({ expired: offsets(result.expired), fresh: offsets(result.fresh) }).toEqual({ expired, fresh });
  });
});

describe('LaneBuffer: buffering, batch forming and back-pressure', () => {
  const buffer = (overrides: Partial<esm.LaneSettings> = {}) =>
    new esm.LaneBuffer<esm.LaneRecord>({ ...settings, ...overrides });

  it('forms batches of batchSize, in offset order, and skips what a batch already took', () => {
    const lane = buffer({ batchSize: 3 });
    for (const r of range(0, 7)) expect(lane.accept(r, 100, 0)).toBe('taken');
    expect(lane.due(0)).toEqual({ kind: 'ready' });
    expect(offsets(lane.take())).toEqual([0, 1, 2]);
    expect(offsets(lane.take())).toEqual([3, 4, 5]);
    lane.reset();
    // After a rejoin the stream starts again from the committed offsets: what batches took is not taken again.
    expect(lane.accept(rec(5), 100, 0)).toBe('already-taken');
    expect(lane.accept(rec(6), 100, 0)).toBe('taken');
  });

  const windows: [
    string,
    Partial<esm.LaneSettings>,
    number,
    number,
    ReturnType<esm.LaneBuffer<esm.LaneRecord>['due']>,
  ][] = [
    ['empty', {}, 0, 0, { kind: 'empty' }],
    ['window 0: at once', { maximumBatchingWindowSeconds: 0 }, 1, 0, { kind: 'ready' }],
    ['window open, batch not full', { maximumBatchingWindowSeconds: 2 }, 1, 500, { kind: 'wait', ms: 1_500 }],
    ['window passed', { maximumBatchingWindowSeconds: 2 }, 1, 2_000, { kind: 'ready' }],
    [
      'batch full before the window',
      { maximumBatchingWindowSeconds: 2, batchSize: 3 },
      3,
      10,
      { kind: 'ready' },
    ],
  ];
  it.each(windows)('due: %s', (_, overrides, count, now, due) => {
    const lane = buffer(overrides);
    for (const r of range(0, count)) lane.accept(r, 100, 0);
    expect(lane.due(now)).toEqual(due);
  });

  it('never takes more than the payload limit, but always at least one record', () => {
    const lane = buffer({ batchSize: 10 });
    const big = esm.MAX_PAYLOAD_BYTES / 2;
    for (const r of range(0, 4)) lane.accept(r, big, 0);
    expect(lane.due(0)).toEqual({ kind: 'ready' });
    expect(offsets(lane.take())).toEqual([0, 1]);
    const huge = buffer();
    huge.accept(rec(0), 2 * esm.MAX_PAYLOAD_BYTES, 0);
    expect(offsets(huge.take())).toEqual([0]);
  });

  it('drops records while retrying with a full buffer, and keeps dropping until the gap is refetched', () => {
    const lane = buffer({ batchSize: 1 });
    for (const r of range(0, lane.capacity)) lane.accept(r, 10, 0);
    lane.retrying = true;
    expect(lane.accept(rec(lane.capacity), 10, 0)).toBe('dropped');
    lane.take();
    expect(lane.accept(rec(lane.capacity), 10, 0)).toBe('dropped');
    expect(lane.gap).toBe(true);
    lane.reset();
    expect(lane.gap).toBe(false);
    expect(lane.accept(rec(1), 10, 0)).toBe('taken');
  });

  it('flow: pauses on a full progressing lane, never for a retrying one, resumes once all are down to half', () => {
    const full = buffer({ batchSize: 1 });
    for (const r of range(0, full.capacity)) full.accept(r, 10, 0);
    const idle = buffer();
    expect(esm.flow([full, idle], false)).toBe('pause');
    expect(esm.flow([full, idle], true)).toBe('keep');
    full.retrying = true;
    expect(esm.flow([full, idle], false)).toBe('keep');
    full.retrying = false;
    while (!full.isDrained()) full.take();
    expect(esm.flow([full, idle], true)).toBe('resume');
  });
});

describe('commitPoint and backoffMs', () => {
  const batch = range(10, 20);
  it.each([
    ['nothing pending: past the batch', [], 20],
    ['the first pending record', [esm.freshWork(range(14, 20))], 14],
    ['an empty pending work is skipped', [esm.freshWork([]), esm.freshWork(range(16, 20))], 16],
  ] as [string, esm.Work<esm.LaneRecord>[], number][])('%s', (_, pending, point) => {
    expect(esm.commitPoint(pending, batch)).toBe(BigInt(point));
  });

  it.each([
    [1, 20],
    [2, 40],
    [3, 80],
    [10, 100],
  ])('after %i failures in a row: %i ms', (failures, ms) => {
    expect(esm.backoffMs(failures, { initialMs: 20, maxMs: 100 })).toBe(ms);
  });
});
