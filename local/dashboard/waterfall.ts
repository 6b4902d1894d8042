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

/** One line of an order's waterfall. */
export interface WaterfallRow {
  source: string;
  name: string;
  /** Milliseconds from the order's first span's start. */
  offsetMs: number;
  durationMs: number;
  /** Hops from the span that started the order (0 for it). */
  depth: number;
  failed?: boolean;
}

const byStart = (a: Span, b: Span) => a.startMs - b.startMs || a.name.localeCompare(b.name);
const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * An order's spans in causal order: each span after the span that caused it (its parent), a parent's
 * children by start time, depth first, so that a hop is followed by what it did and then by what it made
 * happen; a span whose parent is unknown (not recorded, or dropped) starts a tree of its own, trees by
 * start time. Offsets are from the earliest start, in milliseconds. The spans may come in any order (they
 * arrive as environments answer); the same spans always give the same waterfall.
 */
export function waterfall(spans: readonly Span[]): WaterfallRow[] {
  if (spans.length === 0) return [];
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const span of spans) {
    if (span.parentId !== undefined && span.parentId !== span.spanId && ids.has(span.parentId)) {
      const siblings = children.get(span.parentId) ?? [];
      siblings.push(span);
      children.set(span.parentId, siblings);
    } else roots.push(span);
  }
  const origin = Math.min(...spans.map((span) => span.startMs));
  const rows: WaterfallRow[] = [];
  const visited = new Set<Span>();
  const visit = (span: Span, depth: number) => {
    // A cycle of forged ids is cut where it closes.
    if (visited.has(span)) return;
    visited.add(span);
    rows.push({
      source: span.source,
      name: span.name,
      offsetMs: round(span.startMs - origin),
      durationMs: round(span.durationMs),
      depth,
      ...(span.failed ? { failed: true } : {}),
    });
    for (const child of [...(children.get(span.spanId) ?? [])].sort(byStart)) visit(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) visit(root, 0);
  // Spans only reachable through a cycle: listed last, by start.
  for (const span of [...spans].sort(byStart)) visit(span, 0);
  return rows;
}
