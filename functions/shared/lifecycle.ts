import { resetConfig } from './config.ts';
import { resetDynamoDbClients } from './dynamodb.ts';
import { closeProducer } from './kafka/producer.ts';

const resets = new Set<() => void>();

/** Registers state to forget on `resetClients()` (handlers register their lazily built dependencies). */
export function onReset(reset: () => void): void {
  resets.add(reset);
}

/**
 * Closes the Kafka producer and forgets every module-level client and cached setting, so that the next
 * invocation starts from the environment as it is then. For the local runtime's shutdown and for tests;
 * a Lambda never needs it.
 */
export async function resetClients(): Promise<void> {
  await closeProducer();
  resetDynamoDbClients();
  resetConfig();
  for (const reset of resets) reset();
}
