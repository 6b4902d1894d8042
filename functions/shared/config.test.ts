import { describe, expect, it } from 'vitest';
import { ConfigError, parseBrokerList, readKafkaConfig, readTableName } from './config.ts';
import { dynamoDbClientConfig } from './dynamodb.ts';

const arn = 'arn:aws:kafka:eu-west-1:123456789012:cluster/orders/0a1b2c3d-4e5f-6789-abcd-ef0123456789-2';

describe('Kafka configuration', () => {
  it('takes local brokers as plaintext', () => {
    expect(readKafkaConfig({ KAFKA_BROKERS: ' 127.0.0.1:39092 , 127.0.0.1:39093 ' })).toEqual({
      brokers: ['127.0.0.1:39092', '127.0.0.1:39093'],
      clusterArn: undefined,
      auth: 'none',
      region: undefined,
    });
  });

  it('defaults to IAM with a cluster ARN, and takes the region from the ARN when AWS_REGION is unset', () => {
    const config = readKafkaConfig({ MSK_CLUSTER_ARN: arn });
    expect(config).toMatchObject({ brokers: [], clusterArn: arn, auth: 'iam', region: 'eu-west-1' });
    expect(readKafkaConfig({ MSK_CLUSTER_ARN: arn, AWS_REGION: 'us-east-2' }).region).toBe('us-east-2');
  });

  it('names the missing variables', () => {
    expect(() => readKafkaConfig({})).toThrow(ConfigError);
    expect(() => readKafkaConfig({ KAFKA_BROKERS: '' })).toThrow(
      /KAFKA_BROKERS is not set, and neither is MSK_CLUSTER_ARN/,
    );
  });

  it('refuses an unknown auth mode and a malformed ARN, naming the variable', () => {
    expect(() => readKafkaConfig({ KAFKA_BROKERS: 'b:9092', KAFKA_AUTH: 'scram' })).toThrow(/KAFKA_AUTH/);
    expect(() => readKafkaConfig({ MSK_CLUSTER_ARN: 'my-cluster' })).toThrow(
      /MSK_CLUSTER_ARN must be an MSK cluster ARN/,
    );
  });

  it('needs a region to sign IAM tokens', () => {
    expect(() => readKafkaConfig({ KAFKA_BROKERS: 'b-1:9098', KAFKA_AUTH: 'iam' })).toThrow(
      /AWS_REGION is not set/,
    );
  });

  it('splits broker lists, ignoring blanks', () => {
    expect(parseBrokerList('b-1:9098,b-2:9098,,')).toEqual(['b-1:9098', 'b-2:9098']);
    expect(parseBrokerList(undefined)).toEqual([]);
  });
});

describe('table names', () => {
  it('reads TABLE_<NAME>', () => {
    expect(readTableName('orders', { TABLE_ORDERS: 'stack-Orders-1' })).toBe('stack-Orders-1');
  });

  it('names the missing variable and the table', () => {
    expect(() => readTableName('idempotency', {})).toThrow(
      'environment variable TABLE_IDEMPOTENCY is not set (the physical name of the idempotency table)',
    );
  });
});

describe('DynamoDB client settings', () => {
  it('uses the Lambda environment as it is on AWS: no endpoint, no credentials', () => {
    expect(dynamoDbClientConfig({ AWS_REGION: 'eu-west-1' })).toEqual({});
  });

  it('points at the local endpoint with a default region and dummy credentials', () => {
    expect(dynamoDbClientConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:45123' })).toEqual({
      endpoint: 'http://127.0.0.1:45123',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  it('refuses an endpoint that is not a URL', () => {
    expect(() => dynamoDbClientConfig({ DYNAMODB_ENDPOINT: 'localhost' })).toThrow(
      /DYNAMODB_ENDPOINT is not a URL/,
    );
  });
});
