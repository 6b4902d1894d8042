import { z } from 'zod';
import { CancelRequest, OrderRequest } from '../../events/schemas/order-request.ts';
import { manifest } from '../../topology/manifest.ts';
import type { HttpRoute } from '../../topology/types.ts';
import { OrderStatus, OrderViewStatus, StoredOrder } from '../shared/orders/model.ts';
import { FAILURE_REASONS } from './failures.ts';

type Json = string | number | boolean | null | Json[] | JsonObject;
interface JsonObject {
  [key: string]: Json;
}

/** The OpenAPI 3.1 document of order-api: components, paths, and what a consumer needs of the rest. */
export interface OpenApiDocument extends JsonObject {
  openapi: string;
  paths: JsonObject;
  components: JsonObject;
}

/** Schemas of the answers; the request schemas are the ones order-api parses with. */
const Issue = z.object({ path: z.string(), message: z.string() });
const ErrorBody = z.object({ message: z.string(), errors: z.array(Issue).optional() });
export const Accepted = z.object({
  orderId: z.string(),
  status: z.literal('RECEIVED'),
  statusUrl: z.string(),
});
const Cancelled = z.object({ orderId: z.string(), status: z.literal('CANCELLED'), statusUrl: z.string() });
/** A request not carried out for now (503, or 409 while its Idempotency-Key is in progress): retry it. */
const FailureBody = z.object({
  message: z.string(),
  reason: z.enum(FAILURE_REASONS),
  retryAfterSeconds: z.number().int().positive(),
});
/** A cancellation that came too late says the order's status; other conflicts only say why. */
const CancelConflict = ErrorBody.extend({ status: OrderStatus.optional() });
/** `GET /orders/{id}`'s answer (tools/test-deployed reads it with this schema too). */
export const OrderView = StoredOrder.pick({
  orderId: true,
  status: true,
  customerId: true,
  total: true,
  currency: true,
  items: true,
  placedAt: true,
  history: true,
  carrier: true,
  trackingNumber: true,
  rejectionReason: true,
  cancellationReason: true,
}).extend({ status: OrderViewStatus, holdReason: z.string().optional() });
export type OrderView = z.infer<typeof OrderView>;
const Health = z.object({ status: z.literal('ok') });

/** A zod schema as a 3.1 component (JSON Schema 2020-12, the document's dialect: no `$schema` inside). */
function component(schema: z.ZodType, io: 'input' | 'output', description: string): JsonObject {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as JsonObject;
  return { ...rest, description };
}

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: JsonObject, extra: JsonObject = {}): JsonObject => ({
  'application/json': { schema, ...extra },
});
const error = (description: string, schema = 'Error', headers?: JsonObject): JsonObject => ({
  description,
  ...(headers ? { headers } : {}),
  content: jsonContent(ref(schema)),
});
const stringHeader = (description: string): JsonObject => ({ description, schema: { type: 'string' } });
/** RFC 9110 §10.2.3: delay-seconds. Every 503 of order-api carries it. */
const retryAfter = (description: string, required = false): JsonObject => ({
  description,
  ...(required ? { required: true } : {}),
  schema: { type: 'string', pattern: '^[0-9]+$' },
});
/** A 409 is either a refusal (`schema`) or an Idempotency-Key still in progress (`Failure`). */
const conflictOrInProgress = (description: string, schema: string): JsonObject => ({
  description,
  headers: { 'retry-after': retryAfter('Seconds to wait when the first request is in progress.') },
  content: jsonContent({ oneOf: [ref(schema), ref('Failure')] }),
});

/** Answers every route of the function can give (its screen, its catch-all) and API Gateway's own. */
const common: JsonObject = {
  '400': { $ref: '#/components/responses/BadRequest' },
  '503': { $ref: '#/components/responses/Unavailable' },
};
const gateway: JsonObject = {
  '403': { $ref: '#/components/responses/Forbidden' },
  '413': { $ref: '#/components/responses/TooLarge' },
};
const withBody: JsonObject = {
  '413': { $ref: '#/components/responses/TooLarge' },
  '415': { $ref: '#/components/responses/UnsupportedMediaType' },
};

/** The document's example order; the id examples name it, so examples can be tried in a row (and are, by the fuzz test). */
export const EXAMPLE_ORDER_ID = 'order-1001';
const exampleOrder: JsonObject = {
  orderId: EXAMPLE_ORDER_ID,
  customerId: 'cust-42',
  items: [{ sku: 'SKU-TSHIRT-M', quantity: 2 }],
  shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Seattle', postalCode: '98101', country: 'US' },
};

const idempotencyKey: JsonObject = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: the same key (per caller, for 24 hours) replays the first answer (`idempotent-replayed: true`); the same key for another request (another route, order or body) is a 409.',
  schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
};
const orderIdParameter: JsonObject = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The order id, as `POST /orders` answered it.',
  schema: ref('OrderId'),
  example: EXAMPLE_ORDER_ID,
};
/** The order an answer names, for the operation that reads or cancels it (clients and fuzzers follow it). */
const linkTo = (operationId: string): JsonObject => ({
  operationId,
  parameters: { id: '$response.body#/orderId' },
});
const location = { location: stringHeader('The order’s status URL (`GET /orders/{id}`).') };

/** What each route of the manifest does; a route without one here is a build error (see below). */
const operations: Record<string, JsonObject> = {
  'GET /health': {
    operationId: 'getHealth',
    summary: 'Liveness probe',
    responses: {
      '200': { description: 'The function answers.', content: jsonContent(ref('Health')) },
      ...common,
    },
  },
  'POST /orders': {
    operationId: 'createOrder',
    summary: 'Place an order',
    description:
      'Accepts the order for processing (202) once it is validated, priced from the catalog and stored; the pipeline confirms or rejects it asynchronously. camelCase keys are canonical; the snake_case spellings (`customer_id`, `shipping_address`, `postal_code`, …) are accepted too. Prices and the total are optional and, if given, must be the catalog’s.',
    parameters: [idempotencyKey],
    requestBody: {
      required: true,
      content: jsonContent(ref('OrderRequest'), { example: exampleOrder }),
    },
    responses: {
      '202': {
        description: 'Accepted; follow `statusUrl`.',
        headers: {
          ...location,
          'idempotent-replayed': stringHeader('`true` when this is the replay of an earlier answer.'),
        },
        content: jsonContent(ref('Accepted')),
        links: { GetOrder: linkTo('getOrder'), CancelOrder: linkTo('cancelOrder') },
      },
      ...common,
      '409': conflictOrInProgress(
        'The Idempotency-Key was used for another request (another order, route or body; the same order id with other content too), or its first request is still in progress (`reason: in-progress`, `retry-after`).',
        'Error',
      ),
      '422': error(
        'A SKU of the order cannot be sold now: its catalog entry is invalid (the operator is alerted; not worth retrying until it is fixed).',
      ),
      ...withBody,
      ...gateway,
    },
  },
  'GET /orders/{id}': {
    operationId: 'getOrder',
    summary: 'An order’s status and history',
    parameters: [orderIdParameter],
    responses: {
      '200': { description: 'The order.', content: jsonContent(ref('Order')) },
      ...common,
      '404': error('No such order.'),
      ...gateway,
    },
  },
  'POST /orders/{id}/cancel': {
    operationId: 'cancelOrder',
    summary: 'Cancel an order that has not shipped',
    parameters: [orderIdParameter, idempotencyKey],
    requestBody: {
      required: false,
      description: 'Optional: an empty body cancels without a reason.',
      content: jsonContent(ref('CancelRequest'), { example: { reason: 'changed my mind' } }),
    },
    responses: {
      '202': {
        description: 'Cancelled (again, if it already was).',
        headers: location,
        content: jsonContent(ref('Cancelled')),
        links: { GetOrder: linkTo('getOrder') },
      },
      ...common,
      '404': error('No such order.'),
      '409': conflictOrInProgress(
        'Too late (the order is `status`), or the Idempotency-Key was used for another request (another order, route or reason) or is still in progress (`reason: in-progress`, `retry-after`).',
        'CancelConflict',
      ),
      ...withBody,
      ...gateway,
    },
  },
};

const routeKey = (route: Pick<HttpRoute, 'method' | 'resource'>) => `${route.method} ${route.resource}`;

export interface OpenApiOptions {
  /** Servers to list first, e.g. the local emulator's URL. */
  servers?: { url: string; description: string }[];
  /** The local emulator's document: it checks no signature, so no operation requires one there. */
  local?: boolean;
}

/**
 * The OpenAPI 3.1 document of order-api: its routes from the manifest, its request bodies from the zod
 * schemas order-api parses with (the API Gateway model comes from the same ones), its answers from what
 * the handler and API Gateway (the local emulator) send.
 */
export function orderApiOpenApi(options: OpenApiOptions = {}): OpenApiDocument {
  const routes = manifest.functions['order-api'].trigger.routes;
  const known = new Set(routes.map(routeKey));
  const undeclared = Object.keys(operations).filter((key) => !known.has(key));
  if (undeclared.length > 0)
    throw new Error(`operations for routes the manifest lacks: ${undeclared.join(', ')}`);
  const paths: JsonObject = {};
  for (const route of routes) {
    const operation = operations[routeKey(route)];
    if (!operation) throw new Error(`the OpenAPI document does not describe ${routeKey(route)}`);
    const path = (paths[route.resource] ?? {}) as JsonObject;
    path[route.method.toLowerCase()] = {
      ...operation,
      tags: ['orders'],
      security: route.auth === 'iam' && !options.local ? [{ sigv4: [] }] : [],
    };
    paths[route.resource] = path;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Order API',
      version: '1.0.0',
      description:
        'Places, reads and cancels orders of the order pipeline. Generated from topology/manifest.ts and the zod schemas (functions/order-api/openapi.ts); `npm run openapi` writes docs/openapi.json, and the local API serves it at `/openapi.json`. On AWS every route but `/health` needs an IAM (SigV4) signature; locally nothing is checked.',
    },
    servers: [
      ...(options.servers ?? []),
      {
        url: 'https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}',
        description: 'API Gateway (the stack’s ApiUrl output)',
        variables: {
          restApiId: { default: 'example' },
          region: { default: 'us-east-1' },
          stage: { default: 'prod' },
        },
      },
    ],
    tags: [{ name: 'orders' }],
    paths,
    components: {
      schemas: {
        OrderRequest: component(OrderRequest, 'input', 'The body of `POST /orders` (camelCase spelling).'),
        CancelRequest: component(CancelRequest, 'input', 'The body of `POST /orders/{id}/cancel`.'),
        OrderId: component(StoredOrder.shape.orderId, 'input', 'Letters, digits, `-` and `_`.'),
        Accepted: component(Accepted, 'output', 'An accepted order.'),
        Cancelled: component(Cancelled, 'output', 'A cancelled order.'),
        Order: component(OrderView, 'output', 'An order, its status and its history in time order.'),
        Health: component(Health, 'output', 'The liveness answer.'),
        Error: component(ErrorBody, 'output', 'Why a request failed; `errors` names each invalid field.'),
        CancelConflict: component(CancelConflict, 'output', 'Why a cancellation was refused.'),
        Failure: component(
          FailureBody,
          'output',
          'A request not carried out for now, and why (`reason`): retry after `retryAfterSeconds` (the `retry-after` header), with the same Idempotency-Key. Nothing was done twice.',
        ),
      },
      responses: {
        BadRequest: error('The request (path, headers, body) is invalid; `errors` says where and why.'),
        Unavailable: error(
          'Not carried out for now (DynamoDB throttled, a write conflicted, a dependency failed or timed out, past the retries): never a 500. Retry after `retry-after` seconds with the same Idempotency-Key.',
          'Failure',
          { 'retry-after': retryAfter('Seconds to wait before retrying.', true) },
        ),
        Forbidden: error(
          'API Gateway: no such route, or (on AWS) the request is not signed by an allowed IAM principal.',
        ),
        TooLarge: error('The body is too large (order-api: 64 KiB for an order, 4 KiB for a cancellation).'),
        UnsupportedMediaType: error('The body is not `application/json` in UTF-8.', 'Error', {
          'accept-post': stringHeader('`application/json`'),
        }),
      },
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description:
            'AWS Signature Version 4 (IAM auth of the REST API). The local emulator checks nothing.',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}
