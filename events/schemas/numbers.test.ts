import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decode, encode, newEvent } from '../codec.ts';
import { Notification, Parcel } from './events.ts';
import { dynamoDbNumber, isDynamoDbNumber } from './numbers.ts';

const base = newEvent('Notification', {
  correlationId: 'ord-1',
  causationId: 'evt-1',
  source: 'shipper',
  occurredAt: new Date('2026-11-24T10:00:00.000Z'),
  data: {
    orderId: 'ord-1',
    customerId: 'cust-1',
    kind: 'order-shipped',
    channel: 'email',
    subject: 'Shipped',
    message: 'Your order is on its way.',
    details: {},
  },
});
const notification = (details: Record<string, number>) => ({ ...base, data: { ...base.data, details } });

describe('numbers DynamoDB can store', () => {
  it.each([0, -0, 1, -1, 37.5, 1e-130, -1e-130, 9.99e125, -9.99e125, Number.MAX_SAFE_INTEGER, 0.1 + 0.2])(
    'accepts %d',
    (n) => {
      expect(isDynamoDbNumber(n)).toBe(true);
      expect(dynamoDbNumber().safeParse(n).success).toBe(true);
    },
  );

  it.each([
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1e126,
    -1e126,
    Number.MAX_VALUE,
    9.991e125,
    1e-131,
    -5e-131,
    Number.MIN_VALUE,
  ])('refuses %d', (n) => {
    expect(isDynamoDbNumber(n)).toBe(false);
    expect(dynamoDbNumber().safeParse(n).success).toBe(false);
  });

  it('keeps the rules of the schema it narrows', () => {
    const weight = dynamoDbNumber(z.int().positive());
    expect(weight.safeParse(250).success).toBe(true);
    expect(weight.safeParse(0).success).toBe(false);
    expect(weight.safeParse(2.5).success).toBe(false);
  });

  it('shows the range in the JSON Schema', () => {
    expect(z.toJSONSchema(dynamoDbNumber())).toMatchObject({ minimum: -9.99e125, maximum: 9.99e125 });
  });
});

describe('number fields at the schema edge', () => {
  it('makes a notification with a number DynamoDB cannot store poison', () => {
    const good = notification({ total: 37.5, items: 3 });
    expect(Notification.safeParse(good).success).toBe(true);
    for (const bad of [1e200, -1e200, 1e-200]) {
      // JSON carries them as is: a producer other than the owning step can write them.
      const bytes = JSON.stringify(notification({ total: bad }));
      const decoded = decode('Notification', bytes);
      expect(decoded.ok).toBe(false);
      if (!decoded.ok)
        expect(new Set(decoded.error.issues.map((i) => i.path))).toEqual(new Set(['data.details.total']));
    }
    expect(() => encode('Notification', notification({ total: 1e-200 }))).toThrow();
  });

  it('bounds a parcel weight', () => {
    expect(Parcel.safeParse({ parcelId: 'p-1', weightGrams: 850, size: 'S' }).success).toBe(true);
    for (const weightGrams of [1e130, 0, -5, 1.5]) {
      expect(Parcel.safeParse({ parcelId: 'p-1', weightGrams, size: 'S' }).success).toBe(false);
    }
  });
});
