import { compatibilityPartitioner } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { connectionOptions } from './connection.ts';
import { pipelineProducerSettings, producerOptions } from './producer.ts';

describe('producer options', () => {
  it('is an idempotent producer waiting for all in-sync replicas, with bounded retries', () => {
    const options = producerOptions(
      connectionOptions({ brokers: ['127.0.0.1:39092'], auth: 'none', clientId: 'order-pipeline-inventory' }),
    );
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

  it("hashes keys as the Java client does, for the functions and for a tool's raw-byte producer alike", () => {
    const connection = connectionOptions({ brokers: ['127.0.0.1:39092'], auth: 'none', clientId: 'c' });
    expect(producerOptions(connection).partitioner).toBe(compatibilityPartitioner);
    expect(pipelineProducerSettings(connection)).toMatchObject({
      partitioner: compatibilityPartitioner,
      acks: -1,
    });
  });

  it('keeps the TLS and SASL of its connection', () => {
    const token = async () => 'signed-token';
    const options = producerOptions(
      connectionOptions({ brokers: ['b-1.msk:9098'], auth: 'iam', clientId: 'order-pipeline', token }),
    );
    expect(options.tls).toEqual({});
    expect(options.sasl).toEqual({ mechanism: 'OAUTHBEARER', token });
  });
});
