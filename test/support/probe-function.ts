/**
 * A function for the execution-environment tests: each event names what the invocation does, as a
 * misbehaving handler would.
 */
import { appendFile } from 'node:fs/promises';

// Tells environments apart: two may load within the same millisecond.
const loadedAt = Date.now() + Math.random();
let invocations = 0;

export type ProbeEvent =
  | { op: 'env' }
  | { op: 'count' }
  | { op: 'throw' }
  | { op: 'exit' }
  | { op: 'timer-throw' }
  | { op: 'oom' }
  | { op: 'late-write'; file: string; afterMs: number }
  | { op: 'sleep'; ms: number };

export const handler = async (event: ProbeEvent) => {
  invocations += 1;
  switch (event.op) {
    case 'env':
      return { env: { ...process.env }, loadedAt };
    case 'count':
      return { invocations, loadedAt };
    case 'throw':
      throw new TypeError('thrown by the handler');
    case 'exit':
      process.exit(7);
      break;
    case 'timer-throw':
      setTimeout(() => {
        throw new Error('thrown from a timer');
      }, 5);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      return 'not reached';
    case 'oom': {
      const hoard: string[] = [];
      for (;;) hoard.push('x'.repeat(1 << 20) + hoard.length);
    }
    case 'late-write':
      await new Promise((resolve) => setTimeout(resolve, event.afterMs));
      await appendFile(event.file, 'late\n');
      return 'written';
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, event.ms));
      return { invocations, loadedAt };
  }
};
