import type { InvocationFailureKind } from '../lambda-context.ts';

/** What Lambda's REPORT line says of one invocation (and what the bench and the dashboard read). */
export interface InvocationReport {
  functionName: string;
  requestId: string;
  /** Wall time of the invocation phase, ms. */
  durationMs: number;
  /** The init phase of a cold start (the environment was created for this invocation), ms. */
  initDurationMs?: number;
  memorySizeMb: number;
  /** The environment's peak heap (V8's used heap plus external memory) so far, MB. */
  maxMemoryUsedMb: number;
  /** Absent when the invocation succeeded or the handler threw (the environment lives on). */
  status?: Exclude<InvocationFailureKind, 'function'>;
}

/**
 * Billed duration, as Lambda rounds it: the invocation up to the next millisecond, plus, since
 * 1 August 2025, the init phase of an on-demand cold start (also rounded up).
 */
export function billedDurationMs(report: Pick<InvocationReport, 'durationMs' | 'initDurationMs'>): number {
  const invocation = Math.max(1, Math.ceil(report.durationMs));
  return report.initDurationMs === undefined ? invocation : invocation + Math.ceil(report.initDurationMs);
}

/** The REPORT line in Lambda's text format: tab-separated fields, init and status only when they apply. */
export function reportLine(report: InvocationReport): string {
  const fields = [
    `REPORT RequestId: ${report.requestId}`,
    `Duration: ${report.durationMs.toFixed(2)} ms`,
    `Billed Duration: ${billedDurationMs(report)} ms`,
    `Memory Size: ${report.memorySizeMb} MB`,
    `Max Memory Used: ${Math.ceil(report.maxMemoryUsedMb)} MB`,
  ];
  if (report.initDurationMs !== undefined)
    fields.push(`Init Duration: ${report.initDurationMs.toFixed(2)} ms`);
  if (report.status) fields.push(`Status: ${report.status}`);
  return fields.join('\t');
}
