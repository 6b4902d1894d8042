import {
  compatibilityPartitioner,
  Producer,
  type ProducerOptions,
  type SASLOptions,
  stringSerializer,
} from '@platformatic/kafka';
import type { EncodedRecord } from '../../../events/codec.ts';
import { type KafkaConfig, kafkaConfigFromEnv, parseBrokerList } from '../config.ts';

/** Keys and header values are text; record values are the codec's bytes, sent as they are. */
export type RecordProducer = Producer<string, Buffer, string, string>;
export type RecordProducerOptions = ProducerOptions<string, Buffer, string, string>;

/** Signs a short-lived MSK IAM token with the function's role (SASL OAUTHBEARER). */
export type TokenProvider = () => Promise<string>;

export class KafkaConfigurationError extends Error {
  override readonly name = 'KafkaConfigurationError';
}

/**
 * The producer's settings. Idempotent (the broker drops the duplicates of a retried send) with acks from
 * all in-sync replicas; the Java-compatible partitioner, so a key lands on the partition every other
 * Kafka client would choose. IAM means TLS + OAUTHBEARER; `none` is plaintext, for a local broker.
 */
export function producerOptions(
  brokers: readonly string[],
  auth: KafkaConfig['auth'],
  clientId: string,
  tokenProvider?: TokenProvider,
): RecordProducerOptions {
  if (brokers.length === 0) throw new KafkaConfigurationError('no Kafka bootstrap brokers');
  const options: RecordProducerOptions = {
    clientId,
    bootstrapBrokers: [...brokers],
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
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
  };
  if (auth === 'iam') {
    if (!tokenProvider) throw new KafkaConfigurationError('IAM authentication needs a token provider');
    const sasl: SASLOptions = { mechanism: 'OAUTHBEARER', token: tokenProvider };
    options.sasl = sasl;
    options.tls = {};
  }
  return options;
}

/** A client id Kafka accepts (no whitespace), naming the function in broker logs and quotas. */
export function clientIdFor(functionName: string | undefined): string {
  const name = (functionName ?? '').replace(/\s+/g, '-');
  return name ? `order-pipeline-${name}` : 'order-pipeline';
}

async function mskIamTokenProvider(region: string): Promise<TokenProvider> {
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  return async () => (await generateAuthToken({ region })).token;
}

/** The SASL/IAM bootstrap brokers of an MSK cluster, from the MSK API. */
export async function resolveMskBrokers(clusterArn: string, region: string | undefined): Promise<string[]> {
  const { GetBootstrapBrokersCommand, KafkaClient } = await import('@aws-sdk/client-kafka');
  const client = new KafkaClient(region ? { region } : {});
  try {
    const answer = await client.send(new GetBootstrapBrokersCommand({ ClusterArn: clusterArn }));
    const brokers = parseBrokerList(answer.BootstrapBrokerStringSaslIam);
    if (brokers.length === 0) {
      throw new KafkaConfigurationError(
        `MSK cluster ${clusterArn} has no SASL/IAM bootstrap brokers: is IAM authentication enabled on it?`,
      );
    }
    return brokers;
  } finally {
    client.destroy();
  }
}

async function createProducer(config: KafkaConfig): Promise<RecordProducer> {
  const brokers =
    config.brokers.length > 0
      ? config.brokers
      : await resolveMskBrokers(config.clusterArn as string, config.region);
  const tokenProvider =
    config.auth === 'iam' ? await mskIamTokenProvider(config.region as string) : undefined;
  return new Producer(
    producerOptions(brokers, config.auth, clientIdFor(process.env.AWS_LAMBDA_FUNCTION_NAME), tokenProvider),
  );
}

// One producer per execution environment, created on first use and reused by every later invocation:
// connecting (and, on AWS, signing a token) costs far more than a send.
let producer: Promise<RecordProducer> | undefined;

function sharedProducer(): Promise<RecordProducer> {
  if (!producer) {
    producer = createProducer(kafkaConfigFromEnv());
    // A failed creation must not be cached: the next invocation tries again.
    producer.catch(() => {
      producer = undefined;
    });
  }
  return producer;
}

/** Sends the codec's records and resolves once every one is acknowledged by all in-sync replicas. */
export async function produce(records: readonly EncodedRecord[]): Promise<void> {
  if (records.length === 0) return;
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
