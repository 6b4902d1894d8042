import AjvDraft04 from 'ajv-draft-04';
import { describe, expect, it } from 'vitest';
import { OrderRequest } from '../../events/schemas/order-request.ts';
import { orderApiOpenApi } from '../../functions/order-api/openapi.ts';
import { orderRequestJsonSchema, snakeCaseAliases, toApiGatewaySchema } from './order-request-model.ts';

const schema = orderRequestJsonSchema();
// API Gateway validates models with JSON Schema draft 4; ajv-draft-04 is the same dialect.
// The package is CommonJS: under NodeNext its default import is the module object, the class is `.default`.
const Ajv = AjvDraft04.default;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const camel = {
  orderId: 'ord-42',
  customerId: 'cust-7',
  items: [{ sku: 'SKU-TSHIRT-M', name: 'T-shirt', quantity: 2, unitPrice: 19.99 }],
  total: 39.98,
  currency: 'EUR',
  shippingAddress: {
    name: 'Ada',
    line1: '1 Main St',
    line2: 'Flat 2',
    city: 'Seattle',
    postalCode: '98101',
    country: 'US',
  },
};
const snake = {
  order_id: 'ord-42',
  customer_id: 'cust-7',
  items: [{ sku: 'SKU-TSHIRT-M', name: 'T-shirt', quantity: 2, unit_price: 19.99 }],
  total: 39.98,
  shipping_address: {
    name: 'Ada',
    line_1: '1 Main St',
    city: 'Seattle',
    postal_code: '98101',
    country: 'US',
  },
};
type Schema = { [key: string]: unknown };

/** The names a JSON Schema object requires, and per property the required names of what it nests. */
function requiredTree(schema: Schema): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const walk = (node: Schema, at: string) => {
    const required = new Set<string>(Array.isArray(node.required) ? (node.required as string[]) : []);
    // The gateway model states "customerId or customer_id": count such a clause as requiring the name.
    for (const clause of (node.allOf as Schema[] | undefined) ?? []) {
      const spellings = ((clause.anyOf as Schema[] | undefined) ?? []).flatMap((c) => c.required as string[]);
      const canonical = spellings.find((name) => snakeCaseAliases(name).length > 0 || spellings.length === 1);
      if (canonical) required.add(canonical);
    }
    out[at] = [...required].sort();
    const properties = (node.properties ?? {}) as Record<string, Schema>;
    for (const [name, child] of Object.entries(properties)) {
      if (snakeCaseAliases(name).length === 0 && name.includes('_')) continue;
      const object = child.type === 'array' ? (child.items as Schema) : child;
      if (object?.type === 'object') walk(object, `${at}.${name}`);
    }
  };
  walk(schema, '');
  return out;
}

const minimal = {
  customerId: 'c',
  items: [{ sku: 'A', name: 'a', quantity: 1, unitPrice: 0 }],
  shippingAddress: { name: 'n', line1: 'l', city: 'c', postalCode: 'p', country: 'FR' },
};

describe('POST /orders request model', () => {
  it('is draft 4 and names the zod schema it comes from', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
    expect(schema.title).toBe('OrderRequest');
  });

  it('lists the snake_case spellings the API accepts', () => {
    expect(snakeCaseAliases('customerId')).toEqual(['customer_id']);
    expect(snakeCaseAliases('line1')).toEqual(['line_1']);
    expect(snakeCaseAliases('sku')).toEqual([]);
  });

  it.each([
    ['camelCase', camel],
    ['snake_case (the seed spelling)', snake],
    ['minimal', minimal],
    ['mixed spellings', { ...minimal, customerId: undefined, customer_id: 'c' }],
  ])('never rejects a %s body the function accepts', (_, body) => {
    const json = JSON.parse(JSON.stringify(body));
    expect(OrderRequest.safeParse(json).success).toBe(true);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['an unknown key', { ...camel, coupon: 'FREE' }],
    ['no customer id in either spelling', { ...minimal, customerId: undefined }],
    [
      'an empty item list (the seed example)',
      { order_id: '123', customer_id: 'John', items: [], total: 100 },
    ],
    ['a quantity of zero', { ...minimal, items: [{ ...minimal.items[0], quantity: 0 }] }],
    ['a lower-case SKU', { ...minimal, items: [{ ...minimal.items[0], sku: 'abc' }] }],
    [
      'a country that is not ISO alpha-2',
      { ...minimal, shippingAddress: { ...minimal.shippingAddress, country: 'USA' } },
    ],
    ['a string total', { ...camel, total: '39.98' }],
  ])('rejects %s at the gateway, as the function would', (_, body) => {
    const json = JSON.parse(JSON.stringify(body));
    expect(validate(json)).toBe(false);
    expect(OrderRequest.safeParse(json).success).toBe(false);
  });

  it('renders in CDK JsonSchema form without losing anything', () => {
    const cdk = toApiGatewaySchema(schema) as unknown as Record<string, unknown>;
    expect(cdk.schema).toBe(schema.$schema);
    expect(cdk.$schema).toBeUndefined();
    expect(cdk.properties).toEqual(schema.properties);
  });

  it('requires the same fields as the API Gateway model, at every level', () => {
    const gateway = requiredTree(orderRequestJsonSchema() as Schema);
    const openapiSchemas = orderApiOpenApi().components.schemas as Record<string, Schema>;
    const openapi = requiredTree(openapiSchemas.OrderRequest as Schema);
    expect(openapi['']).toEqual(['customerId', 'items', 'shippingAddress']);
    expect(gateway).toEqual(openapi);
  });
});
