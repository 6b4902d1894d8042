import { describe, expect, it } from 'vitest';
import { EventDecodeError, encode, Headers } from '../../events/codec.ts';
import { DeadLettered } from '../../events/schemas/events.ts';
import { RecordTooLargeError } from './errors.ts';
import {
  classify,
  deadLetterEvent,
  MAX_DEAD_LETTER_BYTES,
  MAX_RECORD_BYTES,
  type RawRecord,
  rawRecordOf,
  recordsByPartition,
  VALUE_PREFIX_BYTES,
} from './msk-records.ts';
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
    if (result.kind === 'poison') {
      expect(result.error).toBeInstanceOf(EventDecodeError);
      expect((result.error as EventDecodeError).kind).toBe(kind);
    }
  });

  it('calls a record larger than any event poison by its size alone, without parsing it', () => {
    // Valid JSON of a valid event, padded past the limit by one header: the size decides, not the content.
    const padded = fromEncoded(
      { ...encoded, headers: { ...encoded.headers, padding: 'x'.repeat(MAX_RECORD_BYTES) } },
      1,
    );
    const result = classify('OrderReceived', rawRecordOf(padded));
    expect(result.kind).toBe('poison');
    if (result.kind === 'poison') {
      expect(result.error).toBeInstanceOf(RecordTooLargeError);
      expect(result.error.message).toMatch(/^the record is \d+ bytes \(key 5, value \d+, headers \d+\)/);
    }
    const big = rawRecordOf(
      mskRecord({ topic: 'OrderReceived', offset: 2, value: '['.repeat(MAX_RECORD_BYTES + 1) }),
    );
    expect(classify('OrderReceived', big)).toMatchObject({
      kind: 'poison',
      error: { name: 'RecordTooLargeError' },
    });
    // Just below the limit it is parsed (and here found not to be JSON).
    const below = rawRecordOf(
      mskRecord({ topic: 'OrderReceived', offset: 3, value: '['.repeat(MAX_RECORD_BYTES) }),
    );
    expect(classify('OrderReceived', below)).toMatchObject({ kind: 'poison', error: { kind: 'not-json' } });
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
  /** The dead letter of `poison` (or `overrides.record`) after one attempt, by inventory unless overridden. */
  const poisonLetter = (overrides: Partial<Parameters<typeof deadLetterEvent>[0]> = {}) =>
    deadLetterEvent({
      step: 'inventory',
      record: poison,
      reason: 'poison',
      error: { name: 'E', message: 'm' },
      attempts: 1,
      now,
      ...overrides,
    });

  it('carries the source coordinates, original bytes, headers, error and function', () => {
    const event = poisonLetter({
      error: { name: 'EventDecodeError', message: 'not-json: Unexpected token' },
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
    const first = poisonLetter();
    expect(poisonLetter({ now: new Date() }).eventId).toBe(first.eventId);
    expect(poisonLetter({ record: { ...poison, offset: '100' } }).eventId).not.toBe(first.eventId);
    expect(poisonLetter({ step: 'warehouse' }).eventId).not.toBe(first.eventId);
  });

  const letterFor = (record: RawRecord) =>
    poisonLetter({
      step: 'notification',
      record,
      // Control characters cost six bytes each in JSON: the worst error message for the size.
      error: { name: 'RecordTooLargeError', message: '\u0001'.repeat(10_000) },
    });
  const sizeOf = (event: ReturnType<typeof letterFor>) => encode('DeadLetterQueue', event).value.length;

  it('copies a record whole as long as the dead letter stays within its bound', () => {
    const value = Buffer.alloc(100 * 1024, 7);
    const event = letterFor(
      rawRecordOf(mskRecord({ topic: 'Notification', offset: 4, key: 'ord-1', value })),
    );
    expect(Buffer.from(event.data.record.value as string, 'base64').equals(value)).toBe(true);
    expect(event.data.record).not.toHaveProperty('valueTruncated');
    expect(event.data.record).not.toHaveProperty('valueBytes');
    expect(sizeOf(event)).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
  });

  it('keeps the coordinates, sizes and a bounded prefix of a record too large to copy, and stays bounded', () => {
    const value = Buffer.alloc(900 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = i % 251;
    const record = rawRecordOf(
      mskRecord({
        topic: 'Notification',
        partition: 1,
        offset: 12,
        key: 'ord-9',
        value,
        headers: { [Headers.eventId]: 'e-1', trace: 'abc' },
      }),
    );
    const event = letterFor(record);
    expect(DeadLettered.parse(event)).toEqual(event);
    expect(event.correlationId).toBe('ord-9');
    expect(event.data.record).toMatchObject({
      topic: 'Notification',
      partition: 1,
      offset: '12',
      key: Buffer.from('ord-9').toString('base64'),
      valueBytes: 900 * 1024,
      valueTruncated: true,
      headers: record.headers,
    });
    expect(event.data.record).not.toHaveProperty('headersTruncated');
    expect(event.data.record).not.toHaveProperty('keyTruncated');
    const prefix = Buffer.from(event.data.record.value as string, 'base64');
    expect(prefix.equals(value.subarray(0, VALUE_PREFIX_BYTES))).toBe(true);
    expect(sizeOf(event)).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    // Same record, same dead letter id, whether it is copied whole or reduced.
    expect(letterFor({ ...record, value: 'AA==' }).eventId).toBe(event.eventId);
  });

  it('stays bounded whatever the key and headers: cuts them and says so', () => {
    const headers = Object.fromEntries(
      Array.from({ length: 300 }, (_, i) => [`h${i}-${'k'.repeat(400)}`, 'v'.repeat(3_000)]),
    );
    const record = rawRecordOf(
      mskRecord({
        topic: 'Notification',
        offset: 5,
        key: 'k'.repeat(300 * 1024),
        value: 'v'.repeat(200 * 1024),
        headers,
      }),
    );
    const event = letterFor(record);
    expect(DeadLettered.parse(event)).toEqual(event);
    expect(sizeOf(event)).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    expect(event.correlationId).toBe('unknown');
    const copy = event.data.record;
    expect(copy).toMatchObject({
      keyBytes: 300 * 1024,
      keyTruncated: true,
      valueBytes: 200 * 1024,
      valueTruncated: true,
      headersTruncated: true,
    });
    expect(Buffer.from(copy.key as string, 'base64').toString()).toBe('k'.repeat(1024));
    expect(copy.headers.length).toBeGreaterThan(0);
    expect(copy.headers.length).toBeLessThan(300);
    for (const header of copy.headers) {
      expect(header.key.length).toBeLessThanOrEqual(256);
      expect(Buffer.from(header.value, 'base64').toString()).toBe('v'.repeat(1024));
    }
    // Thousands of empty headers cannot blow the bound either.
    const many = rawRecordOf(mskRecord({ topic: 'Notification', offset: 6, value: 'v'.repeat(300 * 1024) }));
    many.headers = Array.from({ length: 50_000 }, () => ({ key: '', value: '' }));
    expect(sizeOf(letterFor(many))).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
  });

  it('falls back to "unknown" when the key is not usable as a correlation id', () => {
    const keyless = { ...poison, key: null };
    const event = poisonLetter({ step: 'shipper', record: keyless });
    expect(event.correlationId).toBe('unknown');
    expect(event.data.record.key).toBeNull();
  });
});
