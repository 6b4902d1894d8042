/**
 * Preloaded into every function's execution environments by `npm start` (see `feedDashboard`): the spans
 * the function records (functions/shared/spans.ts: queued, process, AWS calls, produce) travel to the
 * dashboard, in one message per invocation, sent just before the environment answers.
 */
import { onSpans, type Span } from '../../functions/shared/spans.ts';
import { beforeAnswer, postTelemetry } from '../runtime/environments/telemetry.ts';

export const TRACE_FEED_MODULE = 'local/dashboard/trace-feed.ts';
/** An invocation's spans beyond this many are dropped: a batch of 500 orders is still a few thousand. */
const MAX_SPANS_PER_MESSAGE = 5_000;

let pending: Span[] = [];

onSpans((spans) => {
  if (pending.length < MAX_SPANS_PER_MESSAGE) pending.push(...spans);
});

beforeAnswer(() => {
  if (pending.length === 0) return;
  postTelemetry({ feed: 'spans', items: pending });
  pending = [];
});
