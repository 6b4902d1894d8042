import type { GetBootstrapBrokersCommand } from '@aws-sdk/client-kafka';
import { describe, expect, it, vi } from 'vitest';
import { RuntimeEnv } from '../../../topology/runtime-env.ts';
import { readKafkaConfig } from '../config.ts';
import {
  clientIdFor,
  connectionOptions,
  KafkaConfigurationError,
  type MskApi,
  resolveConnection,
} from './connection.ts';

const clusterArn =
  'arn:aws:kafka:eu-west-1:123456789012:cluster/shared/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7';

/** An MSK API that answers GetBootstrapBrokers with `brokers`, and records what it was asked. */
function stubMskApi(brokers: string | undefined) {
  const asked: { region: string | undefined; clusterArn: string | undefined }[] = [];
  const destroyed = vi.fn();
  const mskApi = async (region: string | undefined): Promise<MskApi> => ({
    async send(command: GetBootstrapBrokersCommand) {
      asked.push({ region, clusterArn: command.input.ClusterArn });
      return { BootstrapBrokerStringSaslIam: brokers };
    },
    destroy: destroyed,
  });
  return { mskApi, asked, destroyed };
}

const noSigner = async () => {
  throw new Error('no token may be signed for a plaintext connection');
};

describe('Kafka connection', () => {
  it('connects in plaintext to the brokers the environment names (the local broker)', async () => {
    const config = readKafkaConfig({ [RuntimeEnv.kafkaBrokers]: '127.0.0.1:9092, 127.0.0.1:9093' });
    const { mskApi, asked } = stubMskApi('unused:9098');
    expect(
      await resolveConnection(config, 'order-pipeline-dlq-replay', { mskApi, signer: noSigner }),
    ).toEqual({
      clientId: 'order-pipeline-dlq-replay',
      bootstrapBrokers: ['127.0.0.1:9092', '127.0.0.1:9093'],
    });
    expect(asked).toEqual([]);
  });

  it('uses TLS and SASL OAUTHBEARER with a token signed for the region when auth is IAM', async () => {
    const config = readKafkaConfig({
      [RuntimeEnv.kafkaBrokers]: 'b-1.msk:9098',
      [RuntimeEnv.kafkaAuth]: 'iam',
      AWS_REGION: 'eu-west-1',
    });
    const regions: string[] = [];
    let signed = 0;
    const signer = async (region: string) => {
      regions.push(region);
      return async () => `token-${++signed}`;
    };
    const connection = await resolveConnection(config, 'order-pipeline', { signer });
    expect(connection).toMatchObject({ bootstrapBrokers: ['b-1.msk:9098'], tls: {} });
    expect(connection.sasl?.mechanism).toBe('OAUTHBEARER');
    const token = connection.sasl?.token as () => Promise<string>;
    // A fresh token on every authentication: MSK IAM tokens expire.
    expect([await token(), await token()]).toEqual(['token-1', 'token-2']);
    expect(regions).toEqual(['eu-west-1']);
  });

  it("resolves the brokers from the cluster ARN (GetBootstrapBrokers, the ARN's region) when none are given", async () => {
    const config = readKafkaConfig({ [RuntimeEnv.mskClusterArn]: clusterArn });
    const { mskApi, asked, destroyed } = stubMskApi('b-1.msk:9098,b-2.msk:9098');
    const connection = await resolveConnection(config, 'order-pipeline-inventory', {
      mskApi,
      signer: async () => async () => 'token',
    });
    expect(asked).toEqual([{ region: 'eu-west-1', clusterArn }]);
    expect(destroyed).toHaveBeenCalledOnce();
    // An ARN without KAFKA_AUTH means AWS: IAM.
    expect(connection).toMatchObject({ bootstrapBrokers: ['b-1.msk:9098', 'b-2.msk:9098'], tls: {} });
    expect(connection.sasl?.mechanism).toBe('OAUTHBEARER');
  });

  it('prefers the given brokers to the MSK API', async () => {
    const config = readKafkaConfig({
      [RuntimeEnv.kafkaBrokers]: 'b-9.msk:9098',
      [RuntimeEnv.mskClusterArn]: clusterArn,
    });
    const { mskApi, asked } = stubMskApi('b-1.msk:9098');
    const connection = await resolveConnection(config, 'x', { mskApi, signer: async () => async () => 't' });
    expect(connection.bootstrapBrokers).toEqual(['b-9.msk:9098']);
    expect(asked).toEqual([]);
  });

  it('names a cluster without SASL/IAM brokers', async () => {
    const config = readKafkaConfig({ [RuntimeEnv.mskClusterArn]: clusterArn });
    const { mskApi, destroyed } = stubMskApi(undefined);
    await expect(resolveConnection(config, 'x', { mskApi, signer: noSigner })).rejects.toThrow(
      /has no SASL\/IAM bootstrap brokers: is IAM authentication enabled/,
    );
    expect(destroyed).toHaveBeenCalledOnce();
  });

  it('refuses IAM without a token provider, and an empty broker list', () => {
    expect(() => connectionOptions({ brokers: ['b:9098'], auth: 'iam', clientId: 'x' })).toThrow(
      KafkaConfigurationError,
    );
    expect(() => connectionOptions({ brokers: [], auth: 'none', clientId: 'x' })).toThrow(
      /no Kafka bootstrap brokers/,
    );
  });

  it('derives a client id without whitespace', () => {
    expect(clientIdFor('OrderPipeline-Inventory-AbC')).toBe('order-pipeline-OrderPipeline-Inventory-AbC');
    expect(clientIdFor('my fn')).toBe('order-pipeline-my-fn');
    expect(clientIdFor(undefined)).toBe('order-pipeline');
  });
});
