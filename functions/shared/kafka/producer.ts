import {
  compatibilityPartitioner,
  Producer,
  type ProducerOptions,
  stringSerializer,
} from '@platformatic/kafka';
import type { EncodedRecord } from '../../../events/codec.ts';
import { kafkaConfigFromEnv } from '../config.ts';
import { traceProduce } from '../tracing.ts';
import { clientIdFor, type KafkaConnection, resolveConnection } from './connection.ts';

/** Keys and header values are text; record values are the codec's bytes, sent as they are. */
export type RecordProducer = Producer<string, Buffer, string, string>;
export type RecordProducerOptions = ProducerOptions<string, Buffer, string, string>;

/**
 * The settings every producer of the pipeline shares, whatever its serializers (dlq:replay sends raw
 * bytes with them). Idempotent (the broker drops the duplicates of a retried send) with acks from all
 * in-sync replicas; the Java-compatible partitioner, so a key lands on the partition every other Kafka
 * client would choose, and a record sent again by a tool lands beside its order's other records.
 */
export function pipelineProducerSettings(connection: KafkaConnection) {
  return {
    ...connection,
    idempotent: true,
    acks: -1,
    partitioner: compatibilityPartitioner,
    // Bounded retries: a broker that stays away must fail the invocation (the ESM retries the batch)
    // well before the Lambda timeout, instead of retrying forever.
    retries: 5,
    retryDelay: 250,
    connectTimeout: 5_000,
    timeout: 10_000,
    autocreateTopics: false,
  };
}

/** The producer's settings on `connection` (connection.ts): the pipeline's, keys and headers as text. */
export function producerOptions(connection: KafkaConnection): RecordProducerOptions {
  return {
    ...pipelineProducerSettings(connection),
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
  };
}

async function createProducer(): Promise<RecordProducer> {
  const connection = await resolveConnection(
    kafkaConfigFromEnv(),
    clientIdFor(process.env.AWS_LAMBDA_FUNCTION_NAME),
  );
  return new Producer(producerOptions(connection));
}

// One producer per execution environment, created on first use and reused by every later invocation:
// connecting (and, on AWS, signing a token) costs far more than a send.
let producer: Promise<RecordProducer> | undefined;

function sharedProducer(): Promise<RecordProducer> {
  if (!producer) {
    producer = createProducer();
    // A failed creation must not be cached: the next invocation tries again.
    producer.catch(() => {
      producer = undefined;
    });
  }
  return producer;
}

/**
 * Sends the codec's records and resolves once every one is acknowledged by all in-sync replicas. Each
 * record carries its order's trace header, and the send is a `## kafka produce` subsegment (tracing.ts).
 */
export async function produce(records: readonly EncodedRecord[]): Promise<void> {
  if (records.length === 0) return;
  await traceProduce(process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'producer', records, send);
}

async function send(records: readonly EncodedRecord[]): Promise<void> {
  const current = sharedProducer();
  const client = await current;
  try {
    await client.send({
      messages: records.map((record) => ({
        topic: record.topic,
        key: record.key,
        value: record.value,
        headers: record.headers,
      })),
    });
  } catch (error) {
    // Start from a fresh connection next time rather than reuse a client in an unknown state.
    if (producer === current) producer = undefined;
    client.close(true).catch(() => undefined);
    throw error;
  }
}

/** Closes the shared producer (local runtime and tests call it at shutdown). Safe to call at any time. */
export async function closeProducer(): Promise<void> {
  const current = producer;
  producer = undefined;
  if (!current) return;
  const client = await current.catch(() => undefined);
  await client?.close();
}
