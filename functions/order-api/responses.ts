/** order-api's answers that are not errors, and the JSON every answer is. */
import type { APIGatewayProxyResult } from 'aws-lambda';

export function json(
  statusCode: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

export interface Accepted {
  orderId: string;
  status: 'RECEIVED';
  statusUrl: string;
}

export function acceptedResponse(orderId: string): APIGatewayProxyResult {
  const statusUrl = `/orders/${encodeURIComponent(orderId)}`;
  return json(202, { orderId, status: 'RECEIVED', statusUrl } satisfies Accepted, { location: statusUrl });
}

export function cancelledResponse(orderId: string): APIGatewayProxyResult {
  const statusUrl = `/orders/${encodeURIComponent(orderId)}`;
  return json(202, { orderId, status: 'CANCELLED', statusUrl }, { location: statusUrl });
}
