import type { JsonSchema } from 'aws-cdk-lib/aws-apigateway';
import { z } from 'zod';
import { OrderRequest } from '../../events/schemas/order-request.ts';

type Json = string | number | boolean | null | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Every key that OrderRequest's preprocessing (`snake_case` → `camelCase`, `_x` → `X`) turns into `key`:
 * `customerId` ← `customer_id`, `line1` ← `line_1`. JSON Schema cannot express the preprocessing, so the
 * model lists the spellings instead.
 */
export function snakeCaseAliases(key: string): string[] {
  let spellings = [''];
  for (const [index, char] of [...key].entries()) {
    const fromSnake = index > 0 && /[A-Z0-9]/.test(char) ? `_${char.toLowerCase()}` : undefined;
    spellings = spellings.flatMap((prefix) =>
      fromSnake ? [prefix + char, prefix + fromSnake] : [prefix + char],
    );
  }
  return spellings.filter((spelling) => spelling !== key);
}

/** Rewrites every object schema so that each property may also be spelled the snake_case way. */
function acceptSnakeCase(schema: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isObject(value)) {
      const properties: JsonObject = {};
      for (const [name, sub] of Object.entries(value)) {
        const converted = isObject(sub) ? acceptSnakeCase(sub) : sub;
        properties[name] = converted;
        for (const alias of snakeCaseAliases(name)) properties[alias] = converted;
      }
      out.properties = properties;
    } else if (key === 'required' && Array.isArray(value)) {
    } else if (Array.isArray(value)) {
      out[key] = value.map((item) => (isObject(item) ? acceptSnakeCase(item) : item));
    } else {
      out[key] = isObject(value) ? acceptSnakeCase(value) : value;
    }
  }
  const required = Array.isArray(schema.required)
    ? schema.required.filter((r): r is string => typeof r === 'string')
    : [];
  const plain = required.filter((name) => snakeCaseAliases(name).length === 0);
  const aliased = required.filter((name) => snakeCaseAliases(name).length > 0);
  if (plain.length > 0) out.required = plain;
  if (aliased.length > 0) {
    // "customerId or customer_id is present", for each aliased required property.
    const existing = Array.isArray(out.allOf) ? out.allOf : [];
    out.allOf = [
      ...existing,
      ...aliased.map((name) => ({
        anyOf: [name, ...snakeCaseAliases(name)].map((spelling) => ({ required: [spelling] })),
      })),
    ];
  }
  return out;
}

/**
 * The JSON Schema (draft 4, API Gateway's dialect) of a `POST /orders` body, derived from the zod
 * `OrderRequest` with `z.toJSONSchema`. It checks the structure (types, lengths, patterns, required and
 * unknown keys, in both spellings); the function still parses with zod and owns the rules JSON Schema
 * cannot state (money with two decimals, total equal to the lines, one line per SKU).
 */
export function orderRequestJsonSchema(): JsonObject {
  const generated = z.toJSONSchema(OrderRequest, { target: 'draft-4', io: 'input' }) as JsonObject;
  return { ...acceptSnakeCase(generated), title: 'OrderRequest' };
}

const cdkKeys: Record<string, string> = { $schema: 'schema', $ref: 'ref', $id: 'id' };

/** The same schema in the shape of CDK's `JsonSchema` (which spells `$schema` as `schema`). */
export function toApiGatewaySchema(schema: JsonObject): JsonSchema {
  const convert = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(convert);
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cdkKeys[k] ?? k, convert(v)]));
  };
  return convert(schema) as JsonSchema;
}
