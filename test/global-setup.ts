/**
 * vitest globalSetup of the `integration` project: one real Kafka broker and one DynamoDB endpoint
 * (dynoxide) and one SNS endpoint (moto) for the whole run, on free ports in a temporary data dir, with the manifest's topics and
 * tables created. With KAFKA_BROKERS / DYNAMODB_ENDPOINT already set (e.g. docker-compose), those are
 * used and nothing is started.
 *
 * Test files read the endpoints through test/support/env.ts (vitest `inject`, with process.env as a
 * fallback: the forks that run test files are started after this and inherit it).
 */
import type { TestProject } from 'vitest/node';
import {
  findFreePorts,
  type LocalInfra,
  provisionFromManifest,
  startLocalInfra,
} from '../local/infra/index.ts';
import { RuntimeEnv } from '../topology/runtime-env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    dynamodbEndpoint: string;
    snsEndpoint: string;
  }
}

const log = (line: string) => process.stderr.write(`[integration] ${line}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Ports the OS says are free now; never the developer's 9092/8000/8001, which `npm start` may hold.
  const [kafkaPort, controllerPort, dynamodbPort, snsPort] = await findFreePorts(4);

  let infra: LocalInfra | undefined;
  try {
    infra = await startLocalInfra({
      ephemeral: true,
      kafkaPort,
      controllerPort,
      dynamodbPort,
      snsPort,
      log,
    });
    await provisionFromManifest(infra);
  } catch (error) {
    await infra?.stop();
    throw error;
  }
  log(
    `Kafka ${infra.kafkaBrokers.join(',')}${infra.started.kafka ? '' : ' (external)'}, DynamoDB ${infra.dynamodbEndpoint}${infra.started.dynamodb ? '' : ' (external)'}, SNS ${infra.snsEndpoint}${infra.started.sns ? '' : ' (external)'}`,
  );

  const brokers = infra.kafkaBrokers.join(',');
  process.env[RuntimeEnv.kafkaBrokers] = brokers;
  process.env[RuntimeEnv.dynamodbEndpoint] = infra.dynamodbEndpoint;
  process.env[RuntimeEnv.snsEndpoint] = infra.snsEndpoint;
  project.provide('kafkaBrokers', brokers);
  project.provide('dynamodbEndpoint', infra.dynamodbEndpoint);
  project.provide('snsEndpoint', infra.snsEndpoint);

  const running = infra;
  return async () => {
    await running.stop();
  };
}
