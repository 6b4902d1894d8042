import { describe, expect, it } from 'vitest';
import { applyEnvironment, functionEnvironment, passedThroughVariables } from './environment.ts';

const endpoints = {
  kafkaBrokers: ['127.0.0.1:9092'],
  dynamodbEndpoint: 'http://127.0.0.1:8000',
  snsEndpoint: 'http://127.0.0.1:8001',
  tablePrefix: 'run-1',
};

describe('function environment', () => {
  it('wires the manifest: tables, endpoints, service name', () => {
    const env = functionEnvironment('inventory', endpoints);
    expect(env).toMatchObject({
      KAFKA_BROKERS: '127.0.0.1:9092',
      KAFKA_AUTH: 'none',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      TABLE_INVENTORY: 'run-1-inventory',
      TABLE_ORDERS: 'run-1-orders',
      POWERTOOLS_SERVICE_NAME: 'inventory',
      AWS_LAMBDA_FUNCTION_NAME: 'inventory',
    });
    expect(env).not.toHaveProperty('TABLE_NOTIFICATIONS');
  });

  it('puts back what it changed', () => {
    process.env.RUNTIME_TEST_KEEP = 'before';
    const restore = applyEnvironment({ RUNTIME_TEST_KEEP: 'during', RUNTIME_TEST_NEW: 'x' });
    expect(process.env.RUNTIME_TEST_KEEP).toBe('during');
    restore();
    expect(process.env.RUNTIME_TEST_KEEP).toBe('before');
    expect(process.env).not.toHaveProperty('RUNTIME_TEST_NEW');
    delete process.env.RUNTIME_TEST_KEEP;
  });
});

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

  it('gives no other function a topic', () => {
    expect(functionEnvironment('inventory', endpoints)).not.toHaveProperty('NOTIFICATIONS_TOPIC_ARN');
  });

  it('passes only log levels through from the shell, never its credentials or other settings', () => {
    const shell = { POWERTOOLS_LOG_LEVEL: 'DEBUG', AWS_SECRET_ACCESS_KEY: 'x', HOME: '/root', PATH: '/bin' };
    expect(passedThroughVariables(shell)).toEqual({ POWERTOOLS_LOG_LEVEL: 'DEBUG' });
  });
});
