import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IdempotencyAlreadyInProgressError } from '@aws-lambda-powertools/idempotency';
import Ajv2020Module from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { CancelRequest, OrderRequest } from '../../events/schemas/order-request.ts';
import { manifest } from '../../topology/manifest.ts';
import { failureOf, failureResponse } from './failures.ts';
import { EXAMPLE_ORDER_ID, type OpenApiDocument, orderApiOpenApi } from './openapi.ts';

type Schema = { [key: string]: unknown };
const document: OpenApiDocument = orderApiOpenApi();
const schemas = document.components.schemas as Record<string, Schema>;
const operation = (path: string, method: string) =>
  (document.paths[path] as Record<string, Schema>)[method] as Schema & {
    responses: Record<string, unknown>;
    security: unknown[];
  };

// CommonJS under NodeNext: the class is `.default` of the module object.
const Ajv2020 = Ajv2020Module.default;
const ajv = new Ajv2020({ allErrors: true, strict: false });
for (const [name, schema] of Object.entries(schemas)) ajv.addSchema(schema, `#/components/schemas/${name}`);
const validator = (name: string) => ajv.compile({ $ref: `#/components/schemas/${name}` });

describe('the OpenAPI document of order-api', () => {
  it('is OpenAPI 3.1 and describes exactly the routes of the manifest, with their auth', () => {
    expect(document.openapi).toBe('3.1.0');
    const routes = manifest.functions['order-api'].trigger.routes;
    const described = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(described.sort()).toEqual(routes.map((r) => `${r.method} ${r.resource}`).sort());
    for (const route of routes) {
      const op = operation(route.resource, route.method.toLowerCase());
      expect(op.security).toEqual(route.auth === 'iam' ? [{ sigv4: [] }] : []);
      if (route.auth === 'iam') expect(op.responses['403']).toBeDefined();
    }
    expect(Object.keys(document.components.securitySchemes as object)).toEqual(['sigv4']);
  });

  it('locally (the emulator checks no signature) requires none', () => {
    const local = orderApiOpenApi({
      local: true,
      servers: [{ url: 'http://127.0.0.1:3000', description: 'local' }],
    });
    const securities = Object.values(local.paths).flatMap((methods) =>
      Object.values(methods as Record<string, { security: unknown[] }>).map((op) => op.security),
    );
    expect(securities).toEqual(securities.map(() => []));
    expect((local.servers as { url: string }[])[0]?.url).toBe('http://127.0.0.1:3000');
  });

  it('documents every answer the functions give', () => {
    expect(Object.keys(operation('/orders', 'post').responses).sort()).toEqual(
      ['202', '400', '403', '409', '413', '415', '422', '503'].sort(),
    );
    expect(Object.keys(operation('/orders/{id}', 'get').responses).sort()).toEqual(
      ['200', '400', '403', '404', '413', '503'].sort(),
    );
    expect(Object.keys(operation('/orders/{id}/cancel', 'post').responses).sort()).toEqual(
      ['202', '400', '403', '404', '409', '413', '415', '503'].sort(),
    );
    const idempotencyKey = (operation('/orders', 'post').parameters as Schema[]).find(
      (p) => p.name === 'Idempotency-Key',
    );
    expect(idempotencyKey?.in).toBe('header');
  });

  it('documents the 503 as order-api answers it: Retry-After required, a Failure body with the reason', () => {
    const responses = document.components.responses as Record<string, Schema>;
    const unavailable = responses.Unavailable as { headers: Record<string, Schema> };
    expect(unavailable.headers['retry-after']).toMatchObject({ required: true });
    const answer = JSON.parse(failureResponse(failureOf(new Error('anything'))).body) as unknown;
    expect(validator('Failure')(answer)).toBe(true);
    expect(validator('Error')(answer)).toBe(false);
    // An Idempotency-Key in progress is a 409 with the same body: the 409s accept it, and their refusals.
    const inProgress = failureOf(new IdempotencyAlreadyInProgressError('in progress'));
    expect(inProgress.statusCode).toBe(409);
    expect(validator('Failure')(JSON.parse(failureResponse(inProgress).body))).toBe(true);
    expect(validator('Failure')({ message: 'x', reason: 'later', retryAfterSeconds: 1 })).toBe(false);
  });

  it('describes request bodies with the zod schemas the function parses with', () => {
    const example = (
      (operation('/orders', 'post').requestBody as Schema).content as Record<string, { example: unknown }>
    )['application/json']?.example as { orderId: string };
    expect(example.orderId).toBe(EXAMPLE_ORDER_ID);
    expect(OrderRequest.safeParse(example).success).toBe(true);
    expect(validator('OrderRequest')(example)).toBe(true);
    expect(validator('OrderRequest')({ ...example, coupon: 'FREE' })).toBe(false);
    expect(validator('OrderRequest')({ ...example, items: [] })).toBe(false);
    expect(validator('CancelRequest')({ reason: 'late' })).toBe(true);
    expect(CancelRequest.safeParse({ reason: 'late' }).success).toBe(true);
    expect(validator('CancelRequest')({ reason: 1 })).toBe(false);
  });

  it('describes the answers as the handler builds them', () => {
    expect(validator('Accepted')({ orderId: 'o-1', status: 'RECEIVED', statusUrl: '/orders/o-1' })).toBe(
      true,
    );
    expect(validator('Error')({ message: 'no', errors: [{ path: 'items', message: 'empty' }] })).toBe(true);
    expect(validator('Error')({ message: 'no', extra: 1 })).toBe(false);
    expect(validator('CancelConflict')({ message: 'too late', status: 'SHIPPED' })).toBe(true);
  });

  it('has every route in docs/api.http, whose bodies parse as the API parses them', () => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'api.http'), 'utf8');
    const variables = Object.fromEntries([...text.matchAll(/^@(\w+) = (.*)$/gm)].map((m) => [m[1], m[2]]));
    const requests = text.split(/^###.*$/m).slice(1);
    const lines = requests.map((request) => {
      const [line = ''] = request.trim().split('\n');
      const [method = '', url = ''] = line.split(' ');
      // `{{orderId}}` in a path is the `{id}` of its resource; the rest of the URL is the base.
      return `${method} ${url.replace('{{baseUrl}}', '').replace('{{orderId}}', '{id}')}`;
    });
    const routes = manifest.functions['order-api'].trigger.routes.map((r) => `${r.method} ${r.resource}`);
    for (const route of routes) expect(lines).toContain(route);
    const bodies = requests.flatMap((request) => {
      const body = request
        .split(/\n\s*\n/)
        .slice(1)
        .join('\n')
        .trim();
      return body ? [JSON.parse(body.replaceAll(/\{\{(\w+)\}\}/g, (_, name) => variables[name] ?? ''))] : [];
    });
    const orders = bodies.filter((body) => 'items' in body);
    expect(orders.map((body) => OrderRequest.safeParse(body).success)).toEqual([true, true, false]);
    expect(bodies.filter((body) => 'reason' in body).every((b) => CancelRequest.safeParse(b).success)).toBe(
      true,
    );
  });

  it('is what docs/openapi.json holds (run `npm run openapi` after changing the API)', () => {
    const file = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'openapi.json'), 'utf8'),
    );
    expect(file).toEqual(JSON.parse(JSON.stringify(document)));
  });
});
