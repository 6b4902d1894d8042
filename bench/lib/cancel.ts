/** Cancelling orders the way a careful client does, for the runtime-kill-cancel fault run. */
import { z } from 'zod';
import { RequestRefused, RetryableAnswer, retryUntilDeadline } from './client-retry.ts';
import type { CancelAnswer } from './verify.ts';

const Conflict = z.object({ status: z.string().min(1) });

/**
 * POSTs `/orders/{id}/cancel` until it gets a final answer: 202 (cancelled) or 409 with the order's
 * status (shipped or rejected first). A network error, a 5xx or a 429 (a runtime being killed or
 * restarted) is retried until `deadlineMs`. No Idempotency-Key: without one a cancellation is idempotent
 * by the order's state, so a retry after a lost 202 answers 202 again; with one, a crash mid-request
 * would leave the key "in progress" until its record expires.
 */
export async function cancelOrder(
  apiUrl: string | (() => string),
  orderId: string,
  options: { deadlineMs?: number; reason?: string } = {},
): Promise<CancelAnswer> {
  return retryUntilDeadline(
    'POST /orders/{id}/cancel',
    async (): Promise<CancelAnswer> => {
      const base = typeof apiUrl === 'string' ? apiUrl : apiUrl();
      const response = await fetch(`${base}/orders/${encodeURIComponent(orderId)}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: options.reason ?? 'chaos' }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (response.status === 202) return { status: 202 };
      if (response.status === 409) {
        const conflict = Conflict.safeParse(JSON.parse(text));
        if (conflict.success) return { status: 409, currentStatus: conflict.data.status };
      }
      if (response.status < 500 && response.status !== 429) {
        throw new RequestRefused(
          `POST /orders/{id}/cancel answered ${response.status}: ${text.slice(0, 300)}`,
        );
      }
      throw new RetryableAnswer(`HTTP ${response.status}`);
    },
    { deadlineMs: options.deadlineMs ?? 60_000 },
  );
}
