import { describe, expect, it } from 'vitest';
import { type ConsumedRecord, onFailureRecord } from '../../local/runtime/msk-event.ts';
import { type CrashRecord, crashVerdict, planCrashes, type RunEvidence } from './chaos-faults.ts';
import type { ChildStats } from './protocol.ts';
import { orderPathTopics } from './topics.ts';

const source = { eventSourceArn: 'arn:aws:kafka:local', bootstrapServers: 'localhost:9092' };
const failure = {
  requestId: 'r1',
  functionArn: 'arn:aws:lambda:local:0:function:inventory',
  approximateInvokeCount: 9,
};

const consumed = (key: string, topic = 'OrderReceived', partition = 0): ConsumedRecord => ({
  topic,
  partition,
  offset: 7n,
  timestamp: 0n,
  key: Buffer.from(key),
  value: Buffer.from('{}'),
  headerEntries: [],
});

/** An on-failure record of the mapping holding `records`. */
function onFailure(...records: ConsumedRecord[]) {
  const [first, ...rest] = records.map((r) => onFailureRecord(source, failure, r));
  for (const other of rest) {
    for (const [k, list] of Object.entries(other.payload.records))
      (first?.payload.records[k] ?? []).push(...list);
  }
  return { value: Buffer.from(JSON.stringify(first)) };
}

const crash = (i: number, partition = 0): CrashRecord => ({
  key: `crash-run-${i}`,
  topic: 'OrderReceived',
  partition,
  kind: 'exit',
});

const stats = (lost: Record<string, number>): ChildStats => ({
  functions: {},
  produced: {},
  dynamodb: {},
  emulators: {},
  inFlight: {},
  environments: Object.fromEntries(
    Object.entries(lost).map(([fn, n]) => [fn, { environmentsLost: n, coldStarts: n }]),
  ),
});

const evidence = (records: RunEvidence['deadLetterRecords'], s: ChildStats[] = []): RunEvidence => ({
  deadLetterRecords: records,
  deadLetters: [],
  stats: s,
  logFiles: [],
});

describe('planCrashes', () => {
  it('spreads 1% of the orders over every partition and the order path topics, exit and oom alike', () => {
    const plan = planCrashes('run', 1_000);
    expect(plan).toHaveLength(10);
    expect(new Set(plan.map((c) => c.partition))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    expect(new Set(plan.map((c) => c.topic))).toEqual(new Set(orderPathTopics));
    expect(plan.filter((c) => c.kind === 'oom')).toHaveLength(4);
    expect(new Set(plan.map((c) => c.key)).size).toBe(10);
  });

  it('injects at least one per partition on a short run', () => {
    expect(planCrashes('run', 20)).toHaveLength(6);
  });
});

describe('crashVerdict', () => {
  it('passes crash records each dead-lettered alone once, with environments lost only where they crashed', () => {
    const verdict = crashVerdict(
      [crash(0), crash(1, 3)],
      evidence(
        [onFailure(consumed('crash-run-0')), onFailure(consumed('crash-run-1', 'OrderReceived', 3))],
        [stats({ inventory: 18, 'order-api': 0 })],
      ),
      'run',
    );
    expect(verdict.failures).toEqual([]);
    expect(verdict.crashPoison).toMatchObject({
      injected: 2,
      deadLetteredAlone: 2,
      genuineOnDeadLetterQueue: 0,
      environmentsLost: { inventory: 18 },
    });
  });

  it.each([
    ['missing', [], 'not on DeadLetterQueue'],
    ['twice', [onFailure(consumed('crash-run-0')), onFailure(consumed('crash-run-0'))], '2 times'],
    [
      'with a neighbour',
      [onFailure(consumed('crash-run-0'), consumed('bench-run-4'))],
      'with 1 other record(s)',
    ],
    ['from elsewhere', [onFailure(consumed('crash-run-0', 'OrderReceived', 2))], 'from OrderReceived:2'],
  ])('fails a crash record %s', (_, records, why) => {
    const verdict = crashVerdict([crash(0)], evidence(records), 'run');
    expect(verdict.crashPoison?.deadLetteredAlone).toBe(0);
    expect(verdict.failures[0]).toContain(why);
  });

  it("fails a genuine order's record on DeadLetterQueue, and reports a bystander function losing environments", () => {
    const verdict = crashVerdict(
      [crash(0)],
      evidence(
        [onFailure(consumed('crash-run-0')), onFailure(consumed('bench-run-3'))],
        [stats({ kpis: 1 })],
      ),
      'run',
    );
    expect(verdict.failures).toEqual([
      '1 genuine order record(s) on DeadLetterQueue, e.g. bench-run-3 (OrderReceived, retries-exhausted)',
    ]);
    expect(verdict.notes?.[0]).toContain('functions fed no crash record lost environments too');
    expect(verdict.notes?.[0]).toContain('kpis 1');
  });
});
