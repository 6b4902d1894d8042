import { randomUUID } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { encode, newEvent } from '../../events/index.ts';
import { REPLAYED_FROM_HEADER, replayDeadLetters } from '../../tools/dlq/replay.ts';
import { testInfra } from '../support/env.ts';
import { consume, produce } from '../support/kafka.ts';

/** A dead letter of a record from KPIs: no function consumes that topic, so the replay disturbs no other test. */
function deadLetterOf(orderId: string, originalValue: Buffer) {
  return encode(
    'DeadLetterQueue',
    newEvent('DeadLetterQueue', {
      correlationId: orderId,
      causationId: `KPIs:0:${orderId}`,
      source: 'notification',
      data: {
        reason: 'poison',
        function: 'notification',
        error: { name: 'EventDecodeError', message: 'schema: data.value: expected number' },
        attempts: 1,
        record: {
          topic: 'KPIs',
          partition: 0,
          offset: '7',
          key: Buffer.from(orderId).toString('base64'),
          value: originalValue.toString('base64'),
          headers: [{ key: 'event-id', value: Buffer.from(`evt-${orderId}`).toString('base64') }],
        },
      },
    }),
  );
}

async function endOffsets(topic: string): Promise<bigint[]> {
  const consumer = new Consumer({
    groupId: `probe-${randomUUID()}`,
    clientId: 'test-offsets-probe',
    bootstrapBrokers: testInfra().kafkaBrokers,
  });
  try {
    return (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
  } finally {
    await consumer.close(true);
  }
}

describe('dlq:replay on the real broker', () => {
  it('dry-runs without producing, then replays the original bytes, key and headers to the source topic', async () => {
    const orderId = `ord-replay-${randomUUID().slice(0, 8)}`;
    const original = Buffer.from(`{"broken":"${orderId}"`);
    await produce({ ...deadLetterOf(orderId, original) });
    const { kafkaBrokers } = testInfra();
    const before = await endOffsets('KPIs');

    const dry = await replayDeadLetters({ brokers: kafkaBrokers, filter: { orderId }, dryRun: true });
    expect(dry).toMatchObject({ matched: 1, replayed: 0 });
    expect(dry.scanned).toBeGreaterThanOrEqual(1);
    expect(await endOffsets('KPIs')).toEqual(before);

    const real = await replayDeadLetters({ brokers: kafkaBrokers, filter: { orderId }, dryRun: false });
    expect(real).toMatchObject({ matched: 1, replayed: 1, skipped: 0 });

    const [replayed] = await consume('KPIs', { count: 1, from: 'earliest', where: (r) => r.key === orderId });
    expect(replayed?.value).toEqual(original);
    expect(replayed?.headers['event-id']).toBe(`evt-${orderId}`);
    expect(replayed?.headers[REPLAYED_FROM_HEADER]).toMatch(/^DeadLetterQueue:\d+:\d+$/);
  });

  it('leaves out letters that do not match the filter', async () => {
    const orderId = `ord-other-${randomUUID().slice(0, 8)}`;
    await produce({ ...deadLetterOf(orderId, Buffer.from('x')) });
    const summary = await replayDeadLetters({
      brokers: testInfra().kafkaBrokers,
      filter: { orderId, reason: 'retries-exhausted' },
      dryRun: false,
    });
    expect(summary).toMatchObject({ matched: 0, replayed: 0 });
  });
});
