import type { FromEnvironment } from './environment.ts';

/**
 * For modules the runtime preloads into every environment (`LocalRuntimeOptions.preload`). The preloaded
 * modules are bundled with the function, the environment's runtime apart: they meet on `globalThis`.
 */
const ENVIRONMENT = Symbol.for('order-pipeline.execution-environment');
const ANSWER_HOOKS = Symbol.for('order-pipeline.before-answer');
const shared = globalThis as { [ENVIRONMENT]?: true; [ANSWER_HOOKS]?: (() => void)[] };

/** Set by the environment's runtime: only there does telemetry go anywhere. */
export function markEnvironment(): void {
  shared[ENVIRONMENT] = true;
}

/** Sends `data` to the runtime's `onTelemetry`; outside an environment (`npm run invoke`, tests) nothing. */
export function postTelemetry(data: unknown): void {
  if (!shared[ENVIRONMENT] || !process.send) return;
  process.send({ type: 'telemetry', data } satisfies FromEnvironment);
}

/** Runs `hook` just before the environment answers each invocation (its messages arrive before the answer). */
export function beforeAnswer(hook: () => void): void {
  shared[ANSWER_HOOKS] ??= [];
  shared[ANSWER_HOOKS].push(hook);
}

export function answerHooks(): readonly (() => void)[] {
  return shared[ANSWER_HOOKS] ?? [];
}
