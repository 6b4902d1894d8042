import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/shared/config.ts';
import { readConfig } from './config.ts';

const from = (context: Record<string, unknown>) => readConfig((key) => context[key]);

describe('deployment config from CDK context', () => {
  it('defaults to a new VPC and a small provisioned cluster, retaining data', () => {
    expect(from({})).toEqual({
      kafkaVersion: '3.9.x',
      brokerInstanceType: 'kafka.t3.small',
      brokerVolumeGiB: 10,
      destroyData: false,
      apiRateLimit: 50,
      apiBurstLimit: 100,
      minimumPollers: 1,
    });
  });

  it('reads the event source mappings settings, refusing windows AWS refuses and inverted poller bounds', () => {
    expect(from({ batchingWindowSeconds: '2', minimumPollers: '2', maximumPollers: '4' })).toMatchObject({
      batchingWindowSeconds: 2,
      minimumPollers: 2,
      maximumPollers: 4,
    });
    expect(() => from({ batchingWindowSeconds: '301' })).toThrow(/batchingWindowSeconds/);
    expect(() => from({ batchingWindowSeconds: '0.5' })).toThrow(/batchingWindowSeconds/);
    expect(() => from({ minimumPollers: '3', maximumPollers: '2' })).toThrow(/at least minimumPollers \(3\)/);
  });

  it('reads the strings that `-c key=value` passes', () => {
    const config = from({
      destroyData: 'true',
      brokerVolumeGiB: '100',
      apiRateLimit: '5',
      alarmEmail: 'a@b.co',
    });
    expect(config).toMatchObject({
      destroyData: true,
      brokerVolumeGiB: 100,
      apiRateLimit: 5,
      alarmEmail: 'a@b.co',
    });
  });

  it('needs the VPC and security group of an existing cluster', () => {
    const arn = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shared/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7';
    expect(() => from({ mskClusterArn: arn })).toThrow(/-c vpcId=<its VPC> and -c mskSecurityGroupId/);
    expect(from({ mskClusterArn: arn, vpcId: 'vpc-0abc', mskSecurityGroupId: 'sg-0def' })).toMatchObject({
      mskClusterArn: arn,
    });
  });

  it('names every malformed value', () => {
    try {
      from({ mskClusterArn: 'my-cluster', vpcId: 'default', destroyData: 'yes' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toMatch(/-c mskClusterArn: must be an MSK cluster ARN/);
      expect(message).toMatch(/-c vpcId: must look like vpc-/);
      expect(message).toMatch(/-c destroyData/);
    }
  });
});
