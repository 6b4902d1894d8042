/**
 * A record that can never succeed, whatever the number of retries (for example an event about an order
 * in a state that forbids it). The consumer sends it to the DeadLetterQueue and goes on with the batch.
 * Any other error is treated as transient: it fails the batch, and the event source mapping retries it.
 */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
}

/** An order whose stored status forbids what an event asks for. */
export class InvalidTransitionError extends PermanentError {
  override readonly name = 'InvalidTransitionError';
}
