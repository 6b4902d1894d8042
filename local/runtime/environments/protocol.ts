/** Messages between the local runtime and one execution environment (a process, over IPC). */

/** What a new environment is told (its argument): the function to load; its variables are its `env`. */
export interface EnvironmentData {
  /** File URL of the function's bundle (./bundle.ts). */
  entryUrl: string;
  functionName: string;
  memoryMb: number;
  timeoutSeconds: number;
}

export type ToEnvironment = { type: 'invoke'; requestId: string; deadline: number; event: unknown };

export type FromEnvironment =
  | { type: 'ready'; initDurationMs: number; memoryUsedMb: number }
  | { type: 'init-error'; errorType: string; errorMessage: string }
  | { type: 'result'; requestId: string; payload: unknown; memoryUsedMb: number }
  | { type: 'error'; requestId: string; errorType: string; errorMessage: string; memoryUsedMb: number }
  /** An exception nobody caught: reported with its type, then the environment exits (as Lambda's runtime does). */
  | { type: 'uncaught'; errorType: string; errorMessage: string }
  /** Anything the preloaded modules want the runtime to know (the bench's counters). */
  | { type: 'telemetry'; data: unknown };
