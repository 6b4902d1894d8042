/**
 * The baseline: a chain of plain Kafka consume→produce hops, no business logic, no DynamoDB, no Lambda
 * emulation. Each hop batches like the function it stands for (the manifest's batch size and batching
 * window, one batch at a time, offsets committed after the batch's produce is acknowledged), consumes with
 * the ESM emulator's consumer settings and produces with the functions' producer settings, so the ratio
 * pipeline/baseline isolates what the steps themselves cost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, type MessagesStream, Producer } from '@platformatic/kafka';
import { producerOptions, type RecordProducer } from '../../functions/shared/kafka/producer.ts';
import type { KafkaTrigger } from '../../topology/types.ts';

type Record_ = Message<Buffer, Buffer, Buffer, Buffer>;

export interface HopOptions {
  name: string;
  from: string;
  to: string;
  groupId: string;
  brokers: string[];
  trigger: Pick<KafkaTrigger, 'batchSize' | 'maximumBatchingWindowSeconds'>;
  /** Called after a batch was produced and committed, with how long that took. */
  onBatch?: (records: Record_[], durationMs: number) => void;
  log?: (line: string) => void;
}

export interface RunningHop {
  stop(): Promise<void>;
}

export async function startHop(options: HopOptions): Promise<RunningHop> {
  const { name, from, to, groupId, brokers, trigger } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const consumer = new Consumer({
    clientId: `bench-${name}`,
    groupId,
    bootstrapBrokers: brokers,
    autocommit: false,
    maxWaitTime: 250,
    sessionTimeout: 30_000,
    heartbeatInterval: 1_000,
  });
  const producer: RecordProducer = new Producer(producerOptions(brokers, 'none', `bench-${name}`));
  const stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> = await consumer.consume({
    topics: [from],
    mode: 'committed',
    fallbackMode: 'earliest',
    autocommit: false,
    maxWaitTime: 250,
  });
  const buffer: { record: Record_; arrivedAt: number }[] = [];
  let wake: (() => void) | undefined;
  let stopping = false;
  stream.on('data', (record: Record_) => {
    buffer.push({ record, arrivedAt: Date.now() });
    wake?.();
  });
  stream.on('error', (error: Error) => {
    if (!stopping) log(`[baseline:${name}] consumer error: ${error.message}`);
  });

  const waitForRecords = (ms?: number) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, Math.max(0, ms));
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  async function nextBatch(): Promise<Record_[]> {
    while (buffer.length === 0 && !stopping) await waitForRecords();
    const first = buffer[0];
    if (!first || stopping) return [];
    const windowEnd = first.arrivedAt + trigger.maximumBatchingWindowSeconds * 1000;
    while (buffer.length < trigger.batchSize && Date.now() < windowEnd && !stopping) {
      await waitForRecords(windowEnd - Date.now());
    }
    return buffer.splice(0, trigger.batchSize).map((item) => item.record);
  }

  async function forward(batch: Record_[]): Promise<void> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send({
          messages: batch.map((record) => ({
            topic: to,
            key: record.key?.toString('utf8') ?? '',
            value: record.value,
            headers: Object.fromEntries(
              record.headerEntries.map(([key, value]) => [
                key.toString('utf8'),
                value?.toString('utf8') ?? '',
              ]),
            ),
          })),
        });
        break;
      } catch (error) {
        if (stopping) return;
        log(`[baseline:${name}] produce failed (attempt ${attempt}): ${(error as Error).message}`);
        await sleep(Math.min(5_000, 250 * 2 ** attempt));
      }
    }
    const last = new Map<number, Record_>();
    for (const record of batch) last.set(record.partition, record);
    await Promise.all([...last.values()].map((record) => record.commit())).catch((error: unknown) =>
      log(`[baseline:${name}] commit failed: ${(error as Error).message}`),
    );
    options.onBatch?.(batch, performance.now() - started);
  }

  const loop = (async () => {
    while (!stopping) {
      const batch = await nextBatch();
      if (batch.length > 0) await forward(batch);
    }
  })();

  return {
    async stop() {
      stopping = true;
      wake?.();
      await loop;
      stream.removeAllListeners('data');
      await stream.close().catch(() => undefined);
      await consumer.close().catch(() => undefined);
      await producer.close().catch(() => undefined);
    },
  };
}
