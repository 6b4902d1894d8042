import { isMainThread, parentPort } from 'node:worker_threads';
import type { FromEnvironment } from './protocol.ts';

/**
 * For modules the runtime preloads into every environment (`LocalRuntimeOptions.preload`): sends `data` to
 * the runtime's `onTelemetry`. Outside an environment (the in-process `npm run invoke`) it does nothing.
 */
export function postTelemetry(data: unknown): void {
  if (isMainThread || !parentPort) return;
  parentPort.postMessage({ type: 'telemetry', data } satisfies FromEnvironment);
}
