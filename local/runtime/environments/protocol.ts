/** Messages between the local runtime and one execution environment (a worker thread). */

/** What a new environment is told: the function to load; its variables are the worker's `env`. */
export interface EnvironmentData {
  /** Absolute file URL of the function's entry module. */
  entryUrl: string;
  /** Modules imported before the entry (instrumentation, e.g. the bench's counters), as file URLs. */
  preloadUrls: readonly string[];
  functionName: string;
  memoryMb: number;
  timeoutSeconds: number;
}

export type ToEnvironment =
  | { type: 'invoke'; requestId: string; deadline: number; event: unknown }
  /** Close the function's clients (its Kafka producer) before the environment is terminated. */
  | { type: 'shutdown' };

export type FromEnvironment =
  | { type: 'ready'; initDurationMs: number }
  | { type: 'init-error'; errorType: string; errorMessage: string }
  | { type: 'result'; requestId: string; payload: unknown; memoryUsedMb: number }
  | { type: 'error'; requestId: string; errorType: string; errorMessage: string; memoryUsedMb: number }
  /** Anything the preloaded modules want the runtime to know (the bench's counters). */
  | { type: 'telemetry'; data: unknown }
  | { type: 'shutdown-done' };
