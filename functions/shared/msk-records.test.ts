import { describe, expect, it } from 'vitest';
import { encode, Headers } from '../../events/codec.ts';
import { DeadLettered } from '../../events/schemas/events.ts';
import { classify, deadLetterEvent, rawRecordOf, recordsByPartition } from './msk-records.ts';
import { fromEncoded, mskEvent, mskRecord, orderReceived } from './testing.ts';

const received = orderReceived();
const encoded = encode('OrderReceived', received);
const now = new Date('2026-11-24T10:00:05.000Z');

describe('MSK records', () => {
  it('keeps key, value and headers as base64, offsets as text', () => {
    const raw = rawRecordOf(fromEncoded(encoded, 42, 3));
    expect(raw).toMatchObject({ topic: 'OrderReceived', partition: 3, offset: '42' });
    expect(Buffer.from(raw.key as string, 'base64').toString()).toBe('ord-1');
    expect(Buffer.from(raw.value as string, 'base64').equals(encoded.value)).toBe(true);
    const eventIdHeader = raw.headers.find((h) => h.key === Headers.eventId);
    expect(Buffer.from(eventIdHeader?.value as string, 'base64').toString()).toBe(received.eventId);
  });

  it('represents a record without key or value with nulls', () => {
    const raw = rawRecordOf(mskRecord({ topic: 'OrderReceived', offset: 1, value: null }));
    expect(raw.key).toBeNull();
    expect(raw.value).toBeNull();
  });

  it('groups records per partition, each in offset order', () => {
    const event = mskEvent([
      mskRecord({ topic: 'OrderReceived', partition: 1, offset: 11, value: 'b' }),
      mskRecord({ topic: 'OrderReceived', partition: 0, offset: 7, value: 'x' }),
      mskRecord({ topic: 'OrderReceived', partition: 1, offset: 10, value: 'a' }),
    ]);
    const partitions = recordsByPartition(event).map((records) =>
      records.map((r) => `${r.partition}@${r.offset}`),
    );
    expect(partitions).toEqual([['1@10', '1@11'], ['0@7']]);
  });
});

describe('record classification', () => {
  it('decodes a valid event of the step topic', () => {
    const result = classify('OrderReceived', rawRecordOf(fromEncoded(encoded, 1)));
    expect(result).toEqual({ kind: 'event', event: received });
  });

  it.each([
    ['not JSON', mskRecord({ topic: 'OrderReceived', offset: 1, value: '{nope' }), 'not-json'],
    ['without a value', mskRecord({ topic: 'OrderReceived', offset: 1, value: null }), 'empty'],
    [
      'invalid against the schema',
      mskRecord({ topic: 'OrderReceived', offset: 1, value: '{"eventId":"x"}' }),
      'schema',
    ],
    [
      'of another event type',
      mskRecord({
        topic: 'OrderReceived',
        offset: 1,
        value: JSON.stringify({ ...received, eventType: 'OrderConfirmed' }),
      }),
      'wrong-event-type',
    ],
    [
      'from a topic the step does not consume',
      fromEncoded({ ...encoded, topic: 'KPIs' }, 1),
      'unknown-topic',
    ],
  ])('calls a record %s poison', (_, record, kind) => {
    const result = classify('OrderReceived', rawRecordOf(record));
    expect(result.kind).toBe('poison');
    if (result.kind === 'poison') expect(result.error.kind).toBe(kind);
  });
});

describe('dead letters', () => {
  const poison = rawRecordOf(
    mskRecord({
      topic: 'OrderReceived',
      partition: 2,
      offset: 99,
      key: 'ord-7',
      value: '{nope',
      headers: { [Headers.eventId]: 'not-a-uuid', trace: 'abc' },
      timestamp: 1_764_000_000_123,
    }),
  );

  it('carries the source coordinates, original bytes, headers, error and function', () => {
    const event = deadLetterEvent({
      step: 'inventory',
      record: poison,
      reason: 'poison',
      error: { name: 'EventDecodeError', message: 'not-json: Unexpected token' },
      attempts: 1,
      now,
    });
    expect(DeadLettered.parse(event)).toEqual(event);
    expect(event.correlationId).toBe('ord-7');
    expect(event.source).toBe('inventory');
    expect(event.data).toEqual({
      reason: 'poison',
      function: 'inventory',
      error: { name: 'EventDecodeError', message: 'not-json: Unexpected token' },
      attempts: 1,
      record: {
        topic: 'OrderReceived',
        partition: 2,
        offset: '99',
        timestamp: 1_764_000_000_123,
        key: Buffer.from('ord-7').toString('base64'),
        value: Buffer.from('{nope').toString('base64'),
        headers: [
          { key: Headers.eventId, value: Buffer.from('not-a-uuid').toString('base64') },
          { key: 'trace', value: Buffer.from('abc').toString('base64') },
        ],
      },
    });
    // Encodable as is: the record goes on the DeadLetterQueue topic keyed by the order id.
    expect(encode('DeadLetterQueue', event).key).toBe('ord-7');
  });

  it('gets the same id for the same record and step, another for another record', () => {
    const input = {
      step: 'inventory',
      reason: 'poison',
      error: { name: 'E', message: 'm' },
      attempts: 1,
      now,
    } as const;
    const first = deadLetterEvent({ ...input, record: poison });
    expect(deadLetterEvent({ ...input, record: poison, now: new Date() }).eventId).toBe(first.eventId);
    expect(deadLetterEvent({ ...input, record: { ...poison, offset: '100' } }).eventId).not.toBe(
      first.eventId,
    );
    expect(deadLetterEvent({ ...input, step: 'warehouse', record: poison }).eventId).not.toBe(first.eventId);
  });

  it('falls back to "unknown" when the key is not usable as a correlation id', () => {
    const keyless = { ...poison, key: null };
    const event = deadLetterEvent({
      step: 'shipper',
      record: keyless,
      reason: 'poison',
      error: { name: 'E', message: 'm' },
      attempts: 1,
      now,
    });
    expect(event.correlationId).toBe('unknown');
    expect(event.data.record.key).toBeNull();
  });
});
