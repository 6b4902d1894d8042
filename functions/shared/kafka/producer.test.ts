import { describe, expect, it, vi } from 'vitest';
import { clientIdFor, KafkaConfigurationError, producerOptions } from './producer.ts';

describe('producer options', () => {
  it('is an idempotent producer waiting for all in-sync replicas, with bounded retries', () => {
    const options = producerOptions(['127.0.0.1:39092'], 'none', 'order-pipeline-inventory');
    expect(options).toMatchObject({
      clientId: 'order-pipeline-inventory',
      bootstrapBrokers: ['127.0.0.1:39092'],
      idempotent: true,
      acks: -1,
      retries: 5,
      autocreateTopics: false,
    });
    expect(options.sasl).toBeUndefined();
    expect(options.tls).toBeUndefined();
  });

  it('uses TLS and SASL OAUTHBEARER with a fresh signed token for IAM', async () => {
    const token = vi.fn(async () => 'signed-token');
    const options = producerOptions(['b-1.msk:9098'], 'iam', 'order-pipeline', token);
    expect(options.tls).toEqual({});
    expect(options.sasl?.mechanism).toBe('OAUTHBEARER');
    const provider = options.sasl?.token as () => Promise<string>;
    expect(await provider()).toBe('signed-token');
    expect(token).toHaveBeenCalledOnce();
  });

  it('refuses IAM without a token provider, and an empty broker list', () => {
    expect(() => producerOptions(['b:9098'], 'iam', 'x')).toThrow(KafkaConfigurationError);
    expect(() => producerOptions([], 'none', 'x')).toThrow(/no Kafka bootstrap brokers/);
  });

  it('derives a client id without whitespace from the function name', () => {
    expect(clientIdFor('OrderPipeline-Inventory-AbC')).toBe('order-pipeline-OrderPipeline-Inventory-AbC');
    expect(clientIdFor('my fn')).toBe('order-pipeline-my-fn');
    expect(clientIdFor(undefined)).toBe('order-pipeline');
  });
});
