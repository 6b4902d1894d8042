import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { envelopeOf } from './envelope.ts';
import { compareVersions, describeReport } from './json-schema-compatibility.ts';
import { committedSchemas, currentSchemas, jsonSchemaOf, planSchemaWrites } from './json-schemas.ts';
import { Notification } from './schemas/events.ts';

const committed = await committedSchemas();
const current = currentSchemas();
const named = current.map((schema) => [schema.file, schema] as const);

/**
 * The guard of issue #22: each event's zod schema stays compatible, both ways, with the JSON Schema
 * committed for its version. A consumer of the committed version must read what the current producer
 * writes, and the current consumer what a producer of the committed version wrote (a rollback, or records
 * still on the topic). Failing here means: undo the change, or make a new version (events/README.md).
 */
describe('event schema compatibility with the committed versions', () => {
  it.each(named)('%s is compatible with its committed schema, both ways', (name, schema) => {
    const file = committed.find((c) => c.file === schema.file);
    expect(file, `${name} has no committed schema: run npm run schemas`).toBeDefined();
    if (!file) return;
    expect(describeReport(name, compareVersions(file.schema, schema.schema))).toEqual([]);
  });

  it.each(named)('%s is committed exactly as generated (npm run schemas)', (_, schema) => {
    const file = committed.find((c) => c.file === schema.file);
    expect(file?.schema).toEqual(schema.schema);
  });

  it('has no committed file that no schema in the code defines', () => {
    const defined = new Set(current.map((s) => s.file));
    expect(committed.map((s) => s.file).filter((file) => !defined.has(file))).toEqual([]);
  });
});

describe('npm run schemas', () => {
  const committedNotification = jsonSchemaOf('Notification', Notification);
  const withData = (data: z.ZodObject) => jsonSchemaOf('Notification', envelopeOf('Notification', data));

  it('writes a version that has no file yet and leaves an identical one', () => {
    expect(planSchemaWrites([committedNotification], []).map((p) => p.action)).toEqual(['new']);
    expect(planSchemaWrites([committedNotification], [committedNotification]).map((p) => p.action)).toEqual([
      'unchanged',
    ]);
  });

  it('overwrites a committed version with a compatible change (an optional field added)', () => {
    const next = withData(Notification.shape.data.extend({ locale: z.string().optional() }));
    expect(planSchemaWrites([next], [committedNotification])).toMatchObject([
      { action: 'compatible-change' },
    ]);
  });

  it('refuses an incompatible change, naming the field', () => {
    const next = withData(Notification.shape.data.extend({ channel: z.enum(['email', 'sms']) }));
    const [plan] = planSchemaWrites([next], [committedNotification]);
    expect(plan?.action).toBe('incompatible');
    expect(plan?.action === 'incompatible' && plan.problems).toEqual([
      `Notification/Notification v1: a consumer of the committed schema would refuse the new one: data.channel: value "sms" written, not among the reader's "email"`,
    ]);
  });
});
