import { describe, expect, it } from 'vitest';
import { functionEnvironment, sharedEnvironment } from './environment.ts';

const endpoints = {
  kafkaBrokers: ['127.0.0.1:9092'],
  dynamodbEndpoint: 'http://127.0.0.1:8000',
  snsEndpoint: 'http://127.0.0.1:8001',
  tablePrefix: 'run-1',
};

describe('the local environment of the notification channel', () => {
  it("gives the publisher its topic's ARN (the one provisioning creates in moto) and moto's SNS endpoint", () => {
    const env = functionEnvironment('notification', endpoints);
    expect(env.NOTIFICATIONS_TOPIC_ARN).toBe(
      `arn:aws:sns:${env.AWS_REGION}:123456789012:run-1-notifications`,
    );
    expect(env.SNS_ENDPOINT).toBe('http://127.0.0.1:8001');
    expect(env.DYNAMODB_ENDPOINT).toBe('http://127.0.0.1:8000');
    expect(env).not.toHaveProperty('NOTIFICATION_CHANNEL');
  });

  it('gives no other function a topic, and shares one value per variable', () => {
    expect(functionEnvironment('inventory', endpoints)).not.toHaveProperty('NOTIFICATIONS_TOPIC_ARN');
    expect(sharedEnvironment(['inventory', 'notification'], endpoints).NOTIFICATIONS_TOPIC_ARN).toContain(
      'run-1-notifications',
    );
  });
});
