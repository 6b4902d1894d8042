import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { classify } from '../functions/shared/msk-records.ts';
import { decode, decodeWith, encode, encodeWith, Headers, newEvent, newEventWith } from './codec.ts';
import { compareVersions, describeReport } from './json-schema-compatibility.ts';
import { committedSchemas, planSchemaWrites, schemasOf } from './json-schemas.ts';
import { OrderReceived } from './schemas/events.ts';
import { eventsFor } from './testing.ts';
import { topicVersions } from './topics.ts';
import { readVersion, sameVersion, versionsOf } from './versions.ts';

/**
 * A breaking change rolled out as events/README.md tells, on a test-only version 2 of OrderReceived:
 * it adds a required `salesChannel`, which records of version 1 lack (so the guard refuses it as a change
 * to version 1). Not in topics.ts: no product event has a second version.
 */
const OrderReceivedV2 = OrderReceived.extend({
  version: z.literal(2),
  data: OrderReceived.shape.data.extend({ salesChannel: z.enum(['web', 'api']) }),
});
type OrderReceivedV2 = z.infer<typeof OrderReceivedV2>;

/** Version 1 as version 2: every order before version 2 came through the web shop. */
const toV2 = (v1: z.infer<typeof OrderReceived>): OrderReceivedV2 => ({
  ...v1,
  version: 2,
  data: { ...v1.data, salesChannel: 'web' },
});

/** Step 2: consumers read both versions, producers still write version 1. */
const consumersFirst = versionsOf(OrderReceived, [
  readVersion(OrderReceived, toV2),
  sameVersion(OrderReceivedV2),
]);
/** Step 3: producers write version 2; version 1 records still on the topic are read. */
const producersSwitched = versionsOf(OrderReceivedV2, consumersFirst.read);

const v1 = eventsFor('ord-v1').OrderReceived;
const v2 = newEventWith(producersSwitched.write, {
  correlationId: 'ord-v2',
  causationId: 'req-ord-v2',
  source: 'order-api',
  data: { ...eventsFor('ord-v2').OrderReceived.data, salesChannel: 'api' },
});

describe('decode during a rollout', () => {
  it('reads a version 1 record, upcast to version 2 with the documented default', () => {
    const decoded = decodeWith('OrderReceived', consumersFirst, encode('OrderReceived', v1).value);
    expect(decoded).toEqual({
      ok: true,
      event: { ...v1, version: 2, data: { ...v1.data, salesChannel: 'web' } },
    });
  });

  it('reads a version 2 record as it is', () => {
    const record = encodeWith('OrderReceived', producersSwitched.write, v2);
    expect(decodeWith('OrderReceived', consumersFirst, record.value)).toEqual({ ok: true, event: v2 });
    expect(decodeWith('OrderReceived', producersSwitched, record.value)).toEqual({ ok: true, event: v2 });
  });

  it('validates a record against its own version: a version 2 record without salesChannel is refused', () => {
    const bytes = JSON.stringify({ ...v1, version: 2 });
    const decoded = decodeWith('OrderReceived', consumersFirst, bytes);
    expect(!decoded.ok && decoded.error.kind).toBe('schema');
    expect(!decoded.ok && decoded.error.issues.map((i) => i.path)).toEqual(['data.salesChannel']);
  });

  it('fails a version its consumers do not read with unknown-version, naming the versions read', () => {
    const decoded = decodeWith('OrderReceived', consumersFirst, JSON.stringify({ ...v2, version: 3 }));
    expect(!decoded.ok && decoded.error.kind).toBe('unknown-version');
    expect(!decoded.ok && decoded.error.message).toBe(
      'unknown-version: version: topic OrderReceived reads version 1, 2 of OrderReceived, got 3',
    );
  });

  it('reports a missing version as a schema issue at `version`, with the other issues', () => {
    const { version: _, ...unversioned } = v1;
    const decoded = decodeWith('OrderReceived', consumersFirst, JSON.stringify(unversioned));
    expect(!decoded.ok && decoded.error.kind).toBe('schema');
    expect(!decoded.ok && decoded.error.issues.map((i) => i.path)).toEqual(['version']);
  });

  it('a producer deployed before its consumers: today consumers dead-letter its version 2 as poison', () => {
    const record = encodeWith('OrderReceived', producersSwitched.write, v2);
    expect(decode('OrderReceived', record.value)).toMatchObject({
      ok: false,
      error: { kind: 'unknown-version' },
    });
    const raw = {
      ...{ topic: 'OrderReceived', partition: 0, offset: '7', timestamp: 0, headers: [] },
      key: Buffer.from(record.key).toString('base64'),
      value: record.value.toString('base64'),
    };
    expect(classify('OrderReceived', raw)).toMatchObject({
      kind: 'poison',
      error: { kind: 'unknown-version' },
    });
  });
});

describe('producers write the declared version', () => {
  it('newEvent and encode write the version the topic declares (1 for every product topic today)', () => {
    const declared = topicVersions.OrderReceived.write.shape.version.value;
    const record = encode(
      'OrderReceived',
      newEvent('OrderReceived', {
        correlationId: 'ord-1',
        causationId: 'req-1',
        source: 'order-api',
        data: v1.data,
      }),
    );
    expect(record.headers[Headers.eventVersion]).toBe(String(declared));
    expect(JSON.parse(record.value.toString('utf8')).version).toBe(declared);
  });

  it('after the switch, version 2 in the value and the event-version header', () => {
    expect(v2.version).toBe(2);
    const record = encodeWith('OrderReceived', producersSwitched.write, v2);
    expect(record.headers[Headers.eventVersion]).toBe('2');
    expect(JSON.parse(record.value.toString('utf8'))).toMatchObject({
      version: 2,
      data: { salesChannel: 'api' },
    });
  });

  it('encode refuses a version 1 event where version 2 is written', () => {
    expect(() =>
      encodeWith('OrderReceived', producersSwitched.write, v1 as unknown as OrderReceivedV2),
    ).toThrow(/version/);
  });
});

describe('a declaration consumers can live with', () => {
  it('refuses a written version that is not read, a version read twice, another event type', () => {
    expect(() => versionsOf(OrderReceivedV2, [sameVersion(OrderReceived)])).toThrow(
      'OrderReceived: version 2 is written but not read (reads 1)',
    );
    expect(() => versionsOf(OrderReceived, [sameVersion(OrderReceived), sameVersion(OrderReceived)])).toThrow(
      /read twice/,
    );
    const Other = OrderReceived.extend({ eventType: z.literal('Other'), version: z.literal(2) });
    const otherAsV1 = readVersion(Other, (e) => ({
      ...e,
      eventType: 'OrderReceived' as const,
      version: 1 as const,
    }));
    expect(() => versionsOf(OrderReceived, [sameVersion(OrderReceived), otherAsV1])).toThrow(
      /same event type/,
    );
  });
});

const committed = await committedSchemas();

describe('the compatibility guard covers every version read', () => {
  it('has a file per version: version 1 committed, version 2 new (npm run schemas writes it)', () => {
    const schemas = schemasOf('OrderReceived', consumersFirst);
    expect(schemas.map((s) => s.file)).toEqual([
      'OrderReceived/v1.schema.json',
      'OrderReceived/v2.schema.json',
    ]);
    expect(planSchemaWrites(schemas, committed).map((p) => [p.next.file, p.action])).toEqual([
      ['OrderReceived/v1.schema.json', 'unchanged'],
      ['OrderReceived/v2.schema.json', 'new'],
    ]);
    // The same schemas after the switch: the written version first, the one still read after.
    expect(schemasOf('OrderReceived', producersSwitched).map((s) => s.file)).toEqual([
      'OrderReceived/v2.schema.json',
      'OrderReceived/v1.schema.json',
    ]);
  });

  it("compares each version with its own file: an incompatible change to version 2 is refused, version 1's file untouched", () => {
    const v2File = schemasOf('OrderReceived', consumersFirst).filter((s) => s.version === 2);
    const narrowed = OrderReceivedV2.extend({
      data: OrderReceivedV2.shape.data.extend({ salesChannel: z.enum(['web']) }),
    });
    const changed = schemasOf(
      'OrderReceived',
      versionsOf(OrderReceived, [readVersion(OrderReceived, toV2), sameVersion(narrowed)]),
    );
    const plans = planSchemaWrites(changed, [...committed, ...v2File]);
    expect(plans.map((p) => [p.next.file, p.action])).toEqual([
      ['OrderReceived/v1.schema.json', 'unchanged'],
      ['OrderReceived/v2.schema.json', 'incompatible'],
    ]);
    expect(plans[1]?.action === 'incompatible' && plans[1].problems.join('\n')).toMatch(/data\.salesChannel/);
  });

  it('would refuse version 2 as a change to version 1 (why it is a new version)', () => {
    const [v1Schema, v2Schema] = schemasOf('OrderReceived', consumersFirst);
    const problems = describeReport('OrderReceived', compareVersions(v1Schema!.schema, v2Schema!.schema));
    expect(problems.join('\n')).toMatch(/data\.salesChannel/);
  });
});
