import type { GetBootstrapBrokersCommand, GetBootstrapBrokersCommandOutput } from '@aws-sdk/client-kafka';
import type { BaseOptions, SASLOptions } from '@platformatic/kafka';
import { type KafkaConfig, parseBrokerList } from '../config.ts';
import { captureAwsClient } from '../tracing.ts';

/**
 * How a client reaches the cluster: what every `@platformatic/kafka` client (Producer, Consumer, Admin)
 * takes besides its own settings. The one place that builds TLS and SASL options.
 */
export type KafkaConnection = Pick<BaseOptions, 'clientId' | 'sasl' | 'tls'> & { bootstrapBrokers: string[] };

/** Signs a short-lived MSK IAM token with the caller's credentials (SASL OAUTHBEARER). */
export type TokenProvider = () => Promise<string>;

export class KafkaConfigurationError extends Error {
  override readonly name = 'KafkaConfigurationError';
}

/**
 * The connection to `brokers`. `iam`: TLS + SASL OAUTHBEARER, a fresh token from `token` whenever the
 * client (re)authenticates; `none`: plaintext, for a local broker.
 */
export function connectionOptions(options: {
  brokers: readonly string[];
  auth: KafkaConfig['auth'];
  clientId: string;
  token?: TokenProvider;
}): KafkaConnection {
  const { brokers, auth, clientId, token } = options;
  if (brokers.length === 0) throw new KafkaConfigurationError('no Kafka bootstrap brokers');
  const connection: KafkaConnection = { clientId, bootstrapBrokers: [...brokers] };
  if (auth === 'iam') {
    if (!token) throw new KafkaConfigurationError('IAM authentication needs a token provider');
    const sasl: SASLOptions = { mechanism: 'OAUTHBEARER', token };
    connection.sasl = sasl;
    connection.tls = {};
  }
  return connection;
}

/** A client id Kafka accepts (no whitespace), naming the caller in broker logs and quotas. */
export function clientIdFor(name: string | undefined): string {
  const id = (name ?? '').replace(/\s+/g, '-');
  return id ? `order-pipeline-${id}` : 'order-pipeline';
}

/** What the connection needs from the MSK API (a `KafkaClient` of `@aws-sdk/client-kafka`; tests stub it). */
export interface MskApi {
  send(
    command: GetBootstrapBrokersCommand,
  ): Promise<Pick<GetBootstrapBrokersCommandOutput, 'BootstrapBrokerStringSaslIam'>>;
  destroy?(): void;
}

export interface ConnectionDeps {
  /** The MSK API client for `region`. Default: `@aws-sdk/client-kafka`, loaded only when asked. */
  mskApi?: (region: string | undefined) => Promise<MskApi>;
  /** MSK IAM token signing for `region`. Default: `aws-msk-iam-sasl-signer-js`, loaded only for IAM. */
  signer?: (region: string) => Promise<TokenProvider>;
}

const defaultMskApi = async (region: string | undefined): Promise<MskApi> => {
  const { KafkaClient } = await import('@aws-sdk/client-kafka');
  return captureAwsClient(new KafkaClient(region ? { region } : {}));
};

const defaultSigner = async (region: string): Promise<TokenProvider> => {
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  return async () => (await generateAuthToken({ region })).token;
};

/** The SASL/IAM bootstrap brokers of an MSK cluster, from `GetBootstrapBrokers`. */
export async function resolveMskBrokers(
  clusterArn: string,
  region: string | undefined,
  mskApi: ConnectionDeps['mskApi'] = defaultMskApi,
): Promise<string[]> {
  const { GetBootstrapBrokersCommand } = await import('@aws-sdk/client-kafka');
  const client = await mskApi(region);
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
    client.destroy?.();
  }
}

/**
 * The connection the environment contract describes (`kafkaConfigFromEnv()`, topology/runtime-env.ts):
 * the given brokers, or the cluster's from the MSK API; TLS + IAM tokens when `auth` is `iam`.
 */
export async function resolveConnection(
  config: KafkaConfig,
  clientId: string,
  deps: ConnectionDeps = {},
): Promise<KafkaConnection> {
  let brokers = config.brokers;
  if (brokers.length === 0) {
    if (!config.clusterArn)
      throw new KafkaConfigurationError('no Kafka bootstrap brokers and no MSK cluster ARN');
    brokers = await resolveMskBrokers(config.clusterArn, config.region, deps.mskApi);
  }
  if (config.auth !== 'iam') return connectionOptions({ brokers, auth: config.auth, clientId });
  // readKafkaConfig refuses IAM without a region; checked again for a config built by hand.
  if (!config.region)
    throw new KafkaConfigurationError('IAM authentication needs a region to sign tokens for');
  const token = await (deps.signer ?? defaultSigner)(config.region);
  return connectionOptions({ brokers, auth: 'iam', clientId, token });
}
