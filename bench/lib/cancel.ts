/** Cancelling orders the way a careful client does, for the runtime-kill-cancel fault run. */
import { z } from 'zod';
import { type ApiUrl, postUntilFinal } from './client-retry.ts';
import type { CancelAnswer } from './verify.ts';

const Conflict = z.object({ status: z.string().min(1) });

/**
 * POSTs `/orders/{id}/cancel` until it gets a final answer: 202 (cancelled) or 409 with the order's
 * status (shipped or rejected first). A network error, a 5xx or a 429 (a runtime being killed or
 * restarted) is retried until `deadlineMs`. No Idempotency-Key: without one a cancellation is idempotent
 * by the order's state, so a retry after a lost 202 answers 202 again; with one, a crash mid-request
 * would leave the key "in progress" until its record expires.
 */
export function cancelOrder(
  apiUrl: ApiUrl,
  orderId: string,
  options: { deadlineMs?: number; reason?: string } = {},
): Promise<CancelAnswer> {
  const path = `/orders/${encodeURIComponent(orderId)}/cancel`;
  const body = { reason: options.reason ?? 'chaos' };
  return postUntilFinal<CancelAnswer>(
    apiUrl,
    path,
    body,
    (status, text) => {
      if (status === 202) return { status: 202 };
      const conflict = status === 409 ? Conflict.safeParse(JSON.parse(text)) : undefined;
      return conflict?.success ? { status: 409, currentStatus: conflict.data.status } : undefined;
    },
    { what: 'POST /orders/{id}/cancel', deadlineMs: options.deadlineMs },
  );
}
