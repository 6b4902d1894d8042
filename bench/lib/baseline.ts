/**
 * The baseline: a chain of bare Kafka consume→produce hops, no business logic, no DynamoDB, no Lambda
 * emulation and **no batching window**: a hop forwards records as soon as they arrive. While one send is
 * in flight, the records that arrive meanwhile go together in the next send (what a producer with
 * `linger.ms=0` does), so nothing ever waits for a batch to fill. Same client library as the functions,
 * the ESM emulator's consumer settings and the functions' producer settings (idempotent, acks=all), so
 * the ratio pipeline/baseline says what the steps and their batching cost on top of Kafka itself.
 */
import { once } from 'node:events';
import { Consumer, type Message, type MessagesStream, Producer } from '@platformatic/kafka';
import { connectionOptions } from '../../functions/shared/kafka/connection.ts';
import { producerOptions, type RecordProducer } from '../../functions/shared/kafka/producer.ts';
import { retry } from '../../functions/shared/retry.ts';

type Record_ = Message<Buffer, Buffer, Buffer, Buffer>;

/**
 * Forwards `from` to `to`, at most `maxRecordsPerSend` records (the function's batch size) a send;
 * `onBatch` hears of each acknowledged send, with its records and how long it took.
 */
export async function startHop(options: {
  name: string;
  from: string;
  to: string;
  groupId: string;
  brokers: string[];
  maxRecordsPerSend: number;
  onBatch: (records: Record_[], durationMs: number) => void;
  log: (line: string) => void;
}): Promise<{ stop(): Promise<void> }> {
  const { name, from, to, groupId, brokers, log } = options;
  const consumer = new Consumer({
    clientId: `bench-${name}`,
    groupId,
    bootstrapBrokers: brokers,
    autocommit: false,
    // A fetch answers as soon as one record is there (minBytes 1): this only bounds an idle long-poll.
    maxWaitTime: 250,
    sessionTimeout: 30_000,
    heartbeatInterval: 1_000,
  });
  const producer: RecordProducer = new Producer(
    producerOptions(connectionOptions({ brokers, auth: 'none', clientId: `bench-${name}` })),
  );
  const stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> = await consumer.consume({
    topics: [from],
    mode: 'committed',
    fallbackMode: 'earliest',
    autocommit: false,
    maxWaitTime: 250,
  });
  const buffer: Record_[] = [];
  const stopped = new AbortController();
  let stopping = false;
  stream.on('data', (record: Record_) => buffer.push(record));
  stream.on('error', (error: Error) => {
    if (!stopping) log(`[baseline:${name}] consumer error: ${error.message}`);
  });
  // The next record, or the stop (a consumer error ends the wait too: the loop looks again).
  const waitForRecords = () => once(stream, 'data', { signal: stopped.signal }).catch(() => undefined);

  async function send(batch: Record_[]): Promise<void> {
    const started = performance.now();
    const messages = batch.map((record) => ({
      topic: to,
      key: record.key?.toString('utf8') ?? '',
      value: record.value,
      headers: Object.fromEntries(
        record.headerEntries.map(([key, value]) => [key.toString('utf8'), value?.toString('utf8') ?? '']),
      ),
    }));
    try {
      // Until it is acknowledged or the hop stops: a bare hop has nowhere else to put the batch.
      await retry(() => producer.send({ messages }), {
        attempts: Number.MAX_SAFE_INTEGER,
        delay: (retry) => Math.min(5_000, 250 * 2 ** retry),
        retryIf: () => !stopping,
        onRetry: ({ error, attempt }) =>
          log(`[baseline:${name}] produce failed (attempt ${attempt}): ${(error as Error).message}`),
      });
    } catch (error) {
      if (stopping) return;
      throw error;
    }
    options.onBatch(batch, performance.now() - started);
  }

  // Offsets are committed after the records were forwarded, in order, but off the forwarding path: a
  // bare hop does not wait for its commit before it forwards the next records.
  let commits: Promise<void> = Promise.resolve();
  const commit = (batch: Record_[]) => {
    const last = new Map<number, Record_>();
    for (const record of batch) last.set(record.partition, record);
    commits = commits
      .then(() => Promise.all([...last.values()].map((record) => record.commit())))
      .then(
        () => undefined,
        (error: unknown) => {
          if (!stopping) log(`[baseline:${name}] commit failed: ${(error as Error).message}`);
        },
      );
  };

  const loop = (async () => {
    while (!stopping) {
      if (buffer.length === 0) {
        await waitForRecords();
        continue;
      }
      const batch = buffer.splice(0, options.maxRecordsPerSend);
      await send(batch);
      commit(batch);
    }
  })();

  return {
    async stop() {
      stopping = true;
      stopped.abort();
      await loop;
      await commits;
      stream.removeAllListeners('data');
      await stream.close().catch(() => undefined);
      await consumer.close().catch(() => undefined);
      await producer.close().catch(() => undefined);
    },
  };
}
