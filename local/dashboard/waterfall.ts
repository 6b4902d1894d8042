import * as z from 'zod';
import type { Span } from '../../functions/shared/spans.ts';

/** A span as it arrives from an execution environment: checked, since it crossed a process boundary. */
export const SpanSchema = z.object({
  traceId: z.string().max(64),
  spanId: z.string().max(32),
  parentId: z.string().max(32).optional(),
  orderId: z.string().max(128),
  source: z.string().max(64),
  name: z.string().max(128),
  startMs: z.number().finite(),
  durationMs: z.number().finite().nonnegative(),
  failed: z.boolean().optional(),
}) satisfies z.ZodType<Span>;

const byStart = (a: Span, b: Span) => a.startMs - b.startMs || a.name.localeCompare(b.name);
const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * An order's spans in causal order: each span after the span that caused it (its parent), a parent's
 * children by start time, depth first, so that a hop is followed by what it did and then by what it made
 * happen; a span whose parent is unknown (not recorded, or dropped) starts a tree of its own, trees by
 * start time. Offsets are from the earliest start, in milliseconds; `depth` counts the hops from the span
 * that started the order. A span never starts before the span that caused it: `queued` starts at the
 * record's Kafka timestamp, whole milliseconds, which can fall a fraction of one before its producer's
 * start; it is drawn from its parent's start, ending where it ended. The spans may come in any order (they
 * arrive as environments answer); the same spans always give the same waterfall.
 */
export function waterfall(spans: readonly Span[]) {
  const ids = new Set(spans.map((span) => span.spanId));
  const caused = (span: Span) =>
    span.parentId !== undefined && span.parentId !== span.spanId && ids.has(span.parentId);
  const children = new Map<string, Span[]>();
  for (const span of spans.filter(caused))
    children.set(span.parentId as string, [...(children.get(span.parentId as string) ?? []), span]);
  const rows: (Pick<Span, 'source' | 'name' | 'startMs' | 'durationMs'> & {
    depth: number;
    failed?: true;
  })[] = [];
  const visited = new Set<Span>();
  const visit = (span: Span, depth: number, parentStart: number) => {
    // A cycle of forged ids is cut where it closes.
    if (visited.has(span)) return;
    visited.add(span);
    const start = Math.max(span.startMs, parentStart);
    rows.push({
      source: span.source,
      name: span.name,
      startMs: start,
      durationMs: round(Math.max(0, span.durationMs - (start - span.startMs))),
      depth,
      ...(span.failed ? { failed: true } : {}),
    });
    for (const child of [...(children.get(span.spanId) ?? [])].sort(byStart)) visit(child, depth + 1, start);
  };
  for (const root of spans.filter((span) => !caused(span)).sort(byStart)) visit(root, 0, -Infinity);
  // Spans only reachable through a cycle: listed last, by start.
  for (const span of [...spans].sort(byStart)) visit(span, 0, -Infinity);
  const origin = Math.min(...rows.map((row) => row.startMs));
  return rows.map(({ startMs, ...row }) => ({ ...row, offsetMs: round(startMs - origin) }));
}
