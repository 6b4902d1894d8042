import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  type ChangeKind,
  compareVersions,
  describeReport,
  incompatibilities,
  type JsonSchema,
} from './json-schema-compatibility.ts';

/** As the committed files are generated: what a consumer accepts (zod's input side), draft-07. */
const json = (schema: z.ZodType): JsonSchema =>
  z.toJSONSchema(schema, { io: 'input', target: 'draft-7' }) as JsonSchema;

const Kind = z.enum(['order-confirmed', 'order-shipped']);
const before = z.object({
  orderId: z.string().min(1).max(64),
  kind: Kind,
  quantity: z.int().positive().max(1000),
  total: z.number().nonnegative(),
  note: z.string().optional(),
  tags: z.array(z.string()).max(10),
  details: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  parcel: z.object({ size: z.enum(['S', 'M', 'L']), weight: z.number() }),
  key: z.string().nullable(),
});
type Shape = typeof before.shape;
const changed = (shape: Partial<Record<keyof Shape | 'extra', z.ZodType>>, drop: (keyof Shape)[] = []) => {
  const next: Record<string, z.ZodType> = { ...before.shape, ...shape };
  for (const field of drop) delete next[field];
  return z.object(next);
};

/** Each breaking change, the direction it breaks in, and the field the report must name. */
const breaking: [string, z.ZodType, 'forward' | 'backward', string, ChangeKind][] = [
  ['an optional field made required', changed({ note: z.string() }), 'backward', 'note', 'field-optional'],
  ['a required field added', changed({ extra: z.string() }), 'backward', 'extra', 'field-missing'],
  [
    'a field removed that old consumers require',
    changed({}, ['quantity']),
    'forward',
    'quantity',
    'field-missing',
  ],
  [
    'a type narrowed (number to integer)',
    changed({ total: z.int().nonnegative() }),
    'backward',
    'total',
    'type-narrowed',
  ],
  [
    'a type changed (string to number)',
    changed({ orderId: z.number() }),
    'forward',
    'orderId',
    'type-narrowed',
  ],
  [
    'an enum value removed',
    changed({ kind: z.enum(['order-confirmed']) }),
    'backward',
    'kind',
    'value-not-accepted',
  ],
  [
    'an enum value added that old consumers refuse',
    changed({ kind: z.enum(['order-confirmed', 'order-shipped', 'order-returned']) }),
    'forward',
    'kind',
    'value-not-accepted',
  ],
  [
    'a nested enum value removed',
    changed({ parcel: z.object({ size: z.enum(['S', 'M']), weight: z.number() }) }),
    'backward',
    'parcel.size',
    'value-not-accepted',
  ],
  [
    'a string shortened',
    changed({ orderId: z.string().min(1).max(32) }),
    'backward',
    'orderId',
    'bound-narrowed',
  ],
  ['a minimum raised', changed({ total: z.number().positive() }), 'backward', 'total', 'bound-narrowed'],
  [
    'an array bound narrowed',
    changed({ tags: z.array(z.string()).max(5) }),
    'backward',
    'tags',
    'bound-narrowed',
  ],
  [
    'array items narrowed',
    changed({ tags: z.array(z.string().min(3)).max(10) }),
    'backward',
    'tags[]',
    'bound-narrowed',
  ],
  [
    'a pattern added',
    changed({ orderId: z.string().min(1).max(64).regex(/^o-/) }),
    'backward',
    'orderId',
    'constraint-changed',
  ],
  ['null no longer accepted', changed({ key: z.string() }), 'backward', 'key', 'type-narrowed'],
  [
    'a record value narrowed',
    changed({ details: z.record(z.string(), z.string()).default({}) }),
    'backward',
    'details.*',
    'type-narrowed',
  ],
  [
    'a field made strict',
    changed({ parcel: z.strictObject({ size: z.enum(['S', 'M', 'L']) }) }),
    'backward',
    'parcel.weight',
    'field-refused',
  ],
];

/** Changes both sides read: each passes both ways. */
const safe: [string, z.ZodType][] = [
  ['nothing changed', before],
  ['an optional field added', changed({ extra: z.string().optional() })],
  ['a field with a default added', changed({ extra: z.array(z.string()).default([]) })],
  ['an optional field removed', changed({}, ['note'])],
  ['a description added', changed({ note: z.string().optional().describe('free text') })],
];

describe('JSON Schema compatibility check', () => {
  it.each(breaking)('catches %s, naming the field', (_, next, direction, field, kind) => {
    const report = compareVersions(json(before.extend({})), json(next));
    const found = report[direction];
    expect(found.map((issue) => [issue.path, issue.kind])).toContainEqual([field, kind]);
    expect(found.find((issue) => issue.path === field)?.message).toContain(field);
  });

  it.each(safe)('lets %s pass both ways', (_, next) => {
    expect(compareVersions(json(before), json(next))).toEqual({ forward: [], backward: [] });
  });

  // The decision documented in events/README.md: an enum value may be added only where the readers
  // already running take any string too; a closed z.enum refuses it (the 'breaking' case above).
  it('lets an enum value be added where the field already accepted any string', () => {
    const tolerant = changed({ kind: Kind.or(z.string()) });
    const added = changed({ kind: z.enum([...Kind.options, 'order-returned']).or(z.string()) });
    expect(compareVersions(json(tolerant), json(added))).toEqual({ forward: [], backward: [] });
  });

  it('refuses to make a tolerant field a closed enum', () => {
    const tolerant = changed({ kind: Kind.or(z.string()) });
    const report = compareVersions(json(tolerant), json(before));
    expect(report.forward).toEqual([]);
    expect(report.backward.map((issue) => [issue.path, issue.kind])).toContainEqual([
      'kind',
      'values-narrowed',
    ]);
  });

  it('treats an integer as a number a reader of numbers accepts', () => {
    expect(incompatibilities(json(z.int()), json(z.number()))).toEqual([]);
    expect(incompatibilities(json(z.number()), json(z.int()))).toMatchObject([{ kind: 'type-narrowed' }]);
  });

  it('sees a changed const (the envelope version and event type)', () => {
    expect(incompatibilities(json(z.literal(2)), json(z.literal(1)))).toMatchObject([
      { kind: 'value-not-accepted', message: "the value: value 2 written, not among the reader's 1" },
    ]);
  });

  it('reports a keyword it cannot compare instead of ignoring it', () => {
    const writer = { type: 'object', properties: { a: { type: 'string', not: { const: 'x' } } } };
    expect(incompatibilities(writer, writer)).toMatchObject([{ path: 'a', kind: 'unsupported-keyword' }]);
  });

  it('says who would refuse what, per direction', () => {
    const lines = describeReport(
      'Notification v1',
      compareVersions(json(before), json(changed({ note: z.string() }))),
    );
    expect(lines).toEqual([
      'Notification v1: the new schema would refuse what the committed one allowed (rollback, records on the topic): note: required by the reader, optional for the writer',
    ]);
  });
});
