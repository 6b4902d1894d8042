import { defineConfig } from 'vitest/config';

/**
 * `unit`: pure logic, no broker, no database.
 * `integration`: real Apache Kafka and a DynamoDB endpoint, started once by test/global-setup.ts
 * (or taken from KAFKA_BROKERS / DYNAMODB_ENDPOINT) and stopped when the run ends.
 */
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: ['node_modules/**', 'cdk.out/**', '.local/**', 'test/integration/**', 'test/e2e/**'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          // One broker and one database for the whole run: files take turns so their timings stay sane.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
