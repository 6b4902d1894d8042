import { randomUUID } from 'node:crypto';
import { Admin, Consumer, compatibilityPartitioner, defaultPartitioner, Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../events/index.ts';
import { connectionOptions } from '../../functions/shared/kafka/connection.ts';
import { producerOptions } from '../../functions/shared/kafka/producer.ts';
import { deadLetterEvent, type RawRecord } from '../../functions/shared/msk-records.ts';
import { provisionTables } from '../../local/infra/provision.ts';
import {
  parseDeadLetterQueueRecord,
  REPLAYED_FROM_HEADER,
  REPLAYED_RECORD_HEADER,
} from '../../tools/dlq/dead-letter.ts';
import { ReplayLedger } from '../../tools/dlq/ledger.ts';
import { type ReplayOptions, replayDeadLetters } from '../../tools/dlq/replay.ts';
import { functionLetter, type LetterFixture } from '../../tools/dlq/testing.ts';
import { localTableName } from '../../topology/index.ts';
import { testDynamoDbClient, testInfra } from '../support/env.ts';
import {
  type ConsumedRecord,
  consume,
  createTopics,
  deleteTopics,
  produce,
  type TestRecord,
  uniqueName,
} from '../support/kafka.ts';

const brokers = () => testInfra().kafkaBrokers;
const connection = () => connectionOptions({ brokers: brokers(), auth: 'none', clientId: 'test-dlq-replay' });
/** Bounded well below the test timeout: a regression fails with the tool's own error instead of hanging. */
const timeouts = { overallMs: 60_000, idleMs: 10_000 };

async function offsets(topic: string, timestamp: -1n | -2n): Promise<bigint[]> {
  const consumer = new Consumer({
    groupId: `probe-${randomUUID()}`,
    clientId: 'test-probe',
    bootstrapBrokers: brokers(),
  });
  try {
    return (await consumer.listOffsets({ topics: [topic], timestamp })).get(topic) ?? [];
  } finally {
    await consumer.close(true);
  }
}
const endOffsets = (topic: string) => offsets(topic, -1n);
/** How many records a fresh topic holds (nothing trimmed, nothing transactional: no gaps). */
async function recordCount(topic: string): Promise<bigint> {
  const [starts, ends] = await Promise.all([offsets(topic, -2n), endOffsets(topic)]);
  return ends.reduce((sum, end, p) => sum + end - (starts[p] ?? 0n), 0n);
}

/** Produces one record to a given partition and answers its offset. */
async function sendTo(topic: string, partition: number, key: string, value: Buffer): Promise<bigint> {
  const producer = new Producer({ clientId: 'test-producer', bootstrapBrokers: brokers(), acks: -1 });
  try {
    const result = await producer.send({
      messages: [{ topic, partition, key: Buffer.from(key), value }],
    });
    const offset = result.offsets?.find((o) => o.topic === topic && o.partition === partition)?.offset;
    if (offset === undefined) throw new Error('no offset in the produce result');
    return BigInt(offset);
  } finally {
    await producer.close();
  }
}

/** Retention's doing, on purpose: everything of `partition` below `before` is gone. */
async function trim(topic: string, partition: number, before: bigint): Promise<void> {
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers() });
  try {
    await admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition, offset: before }] }] });
  } finally {
    await admin.close();
  }
}

/** The idempotency table of this file's own, where the runs claim their replays. */
const tablePrefix = uniqueName('dlq-replay');
const dynamodb = testDynamoDbClient();
const ledger = () => new ReplayLedger(dynamodb, localTableName('idempotency', tablePrefix));
beforeAll(async () => {
  await provisionTables(testInfra().dynamodbEndpoint, tablePrefix);
});

const created: string[] = [];
/** A dead-letter topic and a source topic of this test's own, so it can trim them and count their records. */
async function privateTopics(sourcePartitions = 2): Promise<{
  dlq: string;
  source: string;
  options: Omit<ReplayOptions, 'dryRun'>;
}> {
  const id = randomUUID().slice(0, 8);
  const dlq = `test-dlq-${id}`;
  const source = `test-source-${id}`;
  await createTopics(brokers(), { [dlq]: 3, [source]: sourcePartitions });
  created.push(dlq, source);
  return {
    dlq,
    source,
    options: {
      connection: connection(),
      ledger: ledger(),
      filter: {},
      deadLetterTopic: dlq,
      isReplayTarget: (topic) => topic === source,
      timeouts,
    },
  };
}

afterAll(async () => {
  dynamodb.destroy();
  if (created.length > 0) await deleteTopics(brokers(), created);
});

/** A function's dead letter on `dlq`, keyed like its original: a poison record (`{`) unless `value` is given. */
const letterOn = (dlq: string, fixture: Omit<LetterFixture, 'value'> & { value?: Buffer }): TestRecord => ({
  topic: dlq,
  key: fixture.key,
  value: functionLetter({ value: Buffer.from('{'), ...fixture }),
});

/** What a consumer does with a replayed poison record: its own dead letter, from the record as it was read. */
function consumersDeadLetter(record: ConsumedRecord) {
  const raw: RawRecord = {
    topic: record.topic,
    partition: record.partition,
    offset: String(record.offset),
    timestamp: undefined,
    key: record.key === undefined ? null : Buffer.from(record.key).toString('base64'),
    value: record.value.toString('base64'),
    headers: Object.entries(record.headers).map(([key, value]) => ({
      key,
      value: Buffer.from(value).toString('base64'),
    })),
  };
  return encode(
    'DeadLetterQueue',
    deadLetterEvent({
      step: 'notification',
      record: raw,
      reason: 'poison',
      error: { name: 'EventDecodeError', message: 'not-json: still broken' },
      attempts: 1,
      now: new Date(),
    }),
  );
}

describe('dlq:replay on the real broker', () => {
  it('dry-runs without producing, then replays the original bytes, key and headers to the source topic', async () => {
    // A dead letter of a record from KPIs on the shared DeadLetterQueue: no function runs here to consume it.
    const orderId = `ord-replay-${randomUUID().slice(0, 8)}`;
    const original = Buffer.from(`{"broken":"${orderId}"`);
    await produce(
      letterOn('DeadLetterQueue', {
        key: orderId,
        topic: 'KPIs',
        partition: 0,
        offset: '7',
        value: original,
        headers: { 'event-id': `evt-${orderId}` },
      }),
    );
    const before = await endOffsets('KPIs');

    const dry = await replayDeadLetters({
      connection: connection(),
      ledger: ledger(),
      filter: { orderId },
      dryRun: true,
      timeouts,
    });
    expect(dry).toMatchObject({ matched: 1, replayed: 0, wouldReplay: 1, alreadyReplayed: 0 });
    expect(dry.scanned).toBeGreaterThanOrEqual(1);
    expect(await endOffsets('KPIs')).toEqual(before);

    const real = await replayDeadLetters({
      connection: connection(),
      ledger: ledger(),
      filter: { orderId },
      dryRun: false,
      timeouts,
    });
    expect(real).toMatchObject({ matched: 1, replayed: 1, skipped: [] });

    const [replayed] = await consume('KPIs', { count: 1, from: 'earliest', where: (r) => r.key === orderId });
    expect(replayed?.value).toEqual(original);
    expect(replayed?.headers['event-id']).toBe(`evt-${orderId}`);
    expect(replayed?.headers[REPLAYED_FROM_HEADER]).toMatch(/^DeadLetterQueue:\d+:\d+$/);
    expect(replayed?.headers[REPLAYED_RECORD_HEADER]).toBe('KPIs:0:7');
  });

  it('leaves out letters that do not match the filter', async () => {
    const { dlq, options } = await privateTopics();
    await produce(
      letterOn(dlq, { key: 'ord-other', topic: 'x', partition: 0, offset: '1', value: Buffer.from('x') }),
    );
    const summary = await replayDeadLetters({
      ...options,
      filter: { orderId: 'ord-other', reason: 'retries-exhausted' },
      dryRun: false,
    });
    expect(summary).toMatchObject({ scanned: 1, letters: 1, matched: 0, replayed: 0 });
  });

  it('replays a letter once however often it runs, and once for two letters of the same record', async () => {
    const { dlq, source, options } = await privateTopics();
    const letter = letterOn(dlq, { key: 'ord-1', topic: source, partition: 1, offset: '3' });
    // A redelivered poison record is dead-lettered twice: two letters, one record.
    await produce([letter, letter]);

    // Run after run: the first replays the record once and writes its marker, the second only finds it replayed.
    for (const summary of [
      { scanned: 2, letters: 2, markers: 0, matched: 2, replayed: 1, alreadyReplayed: 1 },
      { scanned: 3, letters: 2, markers: 1, matched: 2, replayed: 0, alreadyReplayed: 2 },
    ]) {
      expect(await replayDeadLetters({ ...options, dryRun: false })).toMatchObject(summary);
    }
    const dry = await replayDeadLetters({ ...options, dryRun: true });
    expect(dry).toMatchObject({ wouldReplay: 0, alreadyReplayed: 2 });

    expect(await recordCount(source)).toBe(1n);
    // The marker: on the dead-letter topic, keyed like the letter, naming the letter and its record.
    const [marker] = await consume(dlq, {
      count: 1,
      from: 'earliest',
      where: (r) => parseDeadLetterQueueRecord(r.value).kind === 'marker',
    });
    expect(marker?.key).toBe('ord-1');
    const parsed = parseDeadLetterQueueRecord(marker?.value ?? null);
    expect(parsed.kind === 'marker' && parsed.marker.data).toMatchObject({
      letter: { topic: dlq },
      original: { topic: source, partition: 1, offset: '3' },
      valueFrom: 'dead-letter',
    });
  });

  it('stops between letters when interrupted, and the next run goes on where it stopped', async () => {
    const { dlq, source, options } = await privateTopics();
    await produce(
      ['ord-i1', 'ord-i2'].map((key, i) =>
        letterOn(dlq, { key, topic: source, partition: 0, offset: String(i) }),
      ),
    );
    const stop = new AbortController();
    const logged: string[] = [];
    const first = await replayDeadLetters({
      ...options,
      dryRun: false,
      log: (line) => {
        logged.push(line);
        if (line.startsWith('replayed')) stop.abort();
      },
      signal: stop.signal,
    });
    expect(first).toMatchObject({ matched: 2, replayed: 1, interrupted: true });
    const second = await replayDeadLetters({ ...options, dryRun: false });
    expect(second).toMatchObject({ matched: 2, replayed: 1, alreadyReplayed: 1, interrupted: false });
    expect(await recordCount(source)).toBe(2n);
    expect(logged.some((line) => line.includes('{'))).toBe(false);
  });

  it('adds at most one dead letter for a poison record replayed twice, and one more only when asked', async () => {
    const { dlq, source, options } = await privateTopics();
    await produce(letterOn(dlq, { key: 'ord-2', topic: source, partition: 0, offset: '9' }));

    expect(await replayDeadLetters({ ...options, dryRun: false })).toMatchObject({ replayed: 1 });
    // The consumer fails on the replayed record again and dead-letters it.
    const [replayed] = await consume(source, { count: 1, from: 'earliest' });
    if (!replayed) throw new Error('nothing replayed');
    await produce({ ...consumersDeadLetter(replayed), topic: dlq });

    const second = await replayDeadLetters({ ...options, dryRun: false });
    expect(second).toMatchObject({ letters: 2, markers: 1, replayed: 0, alreadyReplayed: 1 });
    expect(second.skipped).toEqual([
      {
        letter: expect.stringMatching(new RegExp(`^${dlq}:\\d+:\\d+$`)),
        kind: 'failed again after a replay',
        reason: expect.stringContaining('--include-failed-replays'),
      },
    ]);
    expect(await recordCount(source)).toBe(1n);
    // One letter for the original, one for its failed replay, one marker: nothing else.
    expect(await recordCount(dlq)).toBe(3n);

    // Asked for, the failed replay goes back: once, however often asked.
    const retry = { ...options, includeFailedReplays: true, dryRun: false };
    expect(await replayDeadLetters(retry)).toMatchObject({ replayed: 1, alreadyReplayed: 1 });
    expect(await replayDeadLetters(retry)).toMatchObject({ replayed: 0, alreadyReplayed: 2 });
    expect(await recordCount(source)).toBe(2n);
  });

  it('reads partitions that retention trimmed, empty or in part, to their end and does not hang', async () => {
    const { dlq, source, options } = await privateTopics();
    const letter = (key: string) =>
      functionLetter({ key, topic: source, partition: 0, offset: '1', value: Buffer.from(`{"${key}"`) });
    // Partition 0: every record gone, its end above 0. Partition 1: the first gone, the second left.
    const gone = await sendTo(dlq, 0, 'ord-a', letter('ord-a'));
    await trim(dlq, 0, gone + 1n);
    const trimmed = await sendTo(dlq, 1, 'ord-b', letter('ord-b'));
    await sendTo(dlq, 1, 'ord-c', letter('ord-c'));
    await trim(dlq, 1, trimmed + 1n);
    expect((await endOffsets(dlq))[0]).toBeGreaterThan(0n);

    const summary = await replayDeadLetters({ ...options, dryRun: false });
    expect(summary).toMatchObject({ scanned: 1, letters: 1, replayed: 1 });
    const [replayed] = await consume(source, { count: 1, from: 'earliest' });
    expect(replayed?.key).toBe('ord-c');
  });

  it('replays a truncated letter with the full bytes of its original, read back from its topic', async () => {
    const { dlq, source, options } = await privateTopics();
    // Too large for a dead letter to copy whole: the consumers' writer keeps a prefix and the size.
    const full = Buffer.from(`{"note":"${'n'.repeat(200_000)}"}`);
    const offset = await sendTo(source, 1, 'ord-big', full);
    const [original] = await consume(source, { count: 1, from: 'earliest' });
    if (!original) throw new Error('the original is not on its topic');
    const letter = consumersDeadLetter(original);
    expect(letter.value.length).toBeLessThan(full.length / 4);
    await produce({ ...letter, topic: dlq });

    const summary = await replayDeadLetters({ ...options, dryRun: false });
    expect(summary).toMatchObject({ matched: 1, replayed: 1, skipped: [] });
    const [replayed] = await consume(source, {
      count: 1,
      from: 'earliest',
      where: (r) => r.headers[REPLAYED_FROM_HEADER] !== undefined,
    });
    expect(replayed?.value.equals(full)).toBe(true);
    expect(replayed?.key).toBe('ord-big');
    expect(replayed?.headers[REPLAYED_RECORD_HEADER]).toBe(`${source}:1:${offset}`);
    const markers = await consume(dlq, {
      count: 1,
      from: 'earliest',
      where: (r) => parseDeadLetterQueueRecord(r.value).kind === 'marker',
    });
    const marker = parseDeadLetterQueueRecord(markers[0]?.value ?? null);
    expect(marker.kind === 'marker' && marker.marker.data.valueFrom).toBe('source-topic');
  });

  it('skips a truncated letter whose original retention trimmed, and says so', async () => {
    const { dlq, source, options } = await privateTopics();
    const full = Buffer.from(`{"note":"${'n'.repeat(5_000)}"}`);
    const offset = await sendTo(source, 0, 'ord-old', full);
    await trim(source, 0, offset + 1n);
    await produce(
      letterOn(dlq, {
        key: 'ord-old',
        topic: source,
        partition: 0,
        offset,
        value: full.subarray(0, 64),
        truncated: { valueBytes: full.length },
      }),
    );

    const summary = await replayDeadLetters({ ...options, dryRun: false });
    expect(summary).toMatchObject({ matched: 1, replayed: 0 });
    expect(summary.skipped).toEqual([
      {
        letter: expect.any(String),
        kind: 'truncated, original gone from its topic',
        reason: expect.stringContaining('trimmed by retention'),
      },
    ]);
    expect(await endOffsets(source)).toEqual([offset + 1n, 0n]);
    // Nothing went out, so nothing is marked: the letter stays as it was.
    expect(await recordCount(dlq)).toBe(1n);
  });
  it('puts the record back once when three runs race for it (the claim is a conditional write)', async () => {
    const { dlq, source, options } = await privateTopics();
    const keys = ['ord-r1', 'ord-r2', 'ord-r3', 'ord-r4'];
    await produce(
      keys.map((key, i) => letterOn(dlq, { key, topic: source, partition: 0, offset: String(i) })),
    );
    const runs = await Promise.all([1, 2, 3].map(() => replayDeadLetters({ ...options, dryRun: false })));
    expect(runs.reduce((sum, run) => sum + run.replayed, 0)).toBe(keys.length);
    for (const run of runs) {
      // Each letter: replayed by this run, already replayed by another, or still being replayed by another.
      expect(run.replayed + run.alreadyReplayed + run.skipped.length).toBe(keys.length);
      for (const { kind } of run.skipped) expect(kind).toBe('being replayed by another run');
    }
    expect(await recordCount(source)).toBe(BigInt(keys.length));
    // Afterwards every claim is complete: a fourth run replays nothing.
    expect(await replayDeadLetters({ ...options, dryRun: false })).toMatchObject({
      replayed: 0,
      alreadyReplayed: keys.length,
      skipped: [],
    });
  });

  it('does not take a forged marker or replayed-from header for a replay: the letters still go back', async () => {
    const { dlq, source, options } = await privateTopics();
    const letter = (key: string, offset: string, headers?: Record<string, string>) =>
      letterOn(dlq, { key, topic: source, partition: 0, offset, headers: headers ?? {} });
    // Anyone who can write to the dead-letter topic can write a marker naming another record...
    const forgedMarker = {
      eventId: randomUUID(),
      eventType: 'DeadLetterReplayed',
      version: 1,
      occurredAt: new Date().toISOString(),
      correlationId: 'ord-f1',
      causationId: `${dlq}:0:0`,
      source: 'dlq-replay',
      data: {
        letter: { topic: dlq, partition: 0, offset: '0' },
        original: { topic: source, partition: 0, offset: '1' },
        valueFrom: 'dead-letter',
      },
    };
    // ...and anyone who can write to a pipeline topic, a poison record whose headers claim it is a replay.
    await produce([
      { topic: dlq, key: 'ord-f1', value: JSON.stringify(forgedMarker) },
      letter('ord-f1', '1'),
      letter('ord-f2', '2'),
      letter('ord-f3', '3', {
        [REPLAYED_FROM_HEADER]: `${dlq}:0:0`,
        [REPLAYED_RECORD_HEADER]: `${source}:0:2`,
      }),
    ]);
    const summary = await replayDeadLetters({ ...options, dryRun: false });
    expect(summary).toMatchObject({ markers: 1, matched: 3, replayed: 3, alreadyReplayed: 0, skipped: [] });
    expect(await recordCount(source)).toBe(3n);
  });

  it("puts a replayed record on the partition the pipeline's producer puts its key on", async () => {
    const { dlq, source, options } = await privateTopics(6);
    // A key the two partitioners place apart: a plain murmur2 client would put its replay elsewhere.
    const key = Array.from({ length: 50 }, (_, i) => `ord-part-${i}`).find((k) => {
      const bytes = Buffer.from(k);
      const noMessage = { topic: source, key: bytes };
      return defaultPartitioner(noMessage, bytes) % 6 !== compatibilityPartitioner(noMessage, bytes) % 6;
    });
    if (key === undefined) throw new Error('no key the partitioners place apart');
    // Where the pipeline puts this order's records: its own producer settings.
    const pipeline = new Producer(producerOptions(connection()));
    const sent = await pipeline
      .send({ messages: [{ topic: source, key, value: Buffer.from('{"order":"placed"}') }] })
      .finally(() => pipeline.close());
    const partition = sent.offsets?.[0]?.partition;
    // The letter says where the original was; the replay goes where the key goes.
    await produce(letterOn(dlq, { key, topic: source, partition: 5, offset: '0' }));
    expect(await replayDeadLetters({ ...options, dryRun: false })).toMatchObject({ replayed: 1 });
    const [replayed] = await consume(source, {
      count: 1,
      from: 'earliest',
      where: (r) => r.headers[REPLAYED_FROM_HEADER] !== undefined,
    });
    expect(replayed?.key).toBe(key);
    expect(replayed?.partition).toBe(partition);
  });

  it('matches --function exactly: a letter of inventory-release is not one of inventory', async () => {
    const { dlq, options } = await privateTopics();
    const lettersOf = (step: string) =>
      functionLetter({ key: `ord-${step}`, topic: 'x', partition: 0, offset: '1', value: Buffer.from('{') })
        .toString()
        .replaceAll('"notification"', JSON.stringify(step));
    await produce(
      ['inventory', 'inventory-release'].map((step) => ({
        topic: dlq,
        key: `ord-${step}`,
        value: lettersOf(step),
      })),
    );
    const summary = await replayDeadLetters({ ...options, filter: { failedIn: 'inventory' }, dryRun: true });
    expect(summary).toMatchObject({ letters: 2, matched: 1 });
  });
});
