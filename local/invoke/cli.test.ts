import { describe, expect, it } from 'vitest';
import { type FunctionName, functionNames } from '../../topology/index.ts';
import type { MskEvent } from '../runtime/msk-event.ts';
import { triggerMismatch } from './cli.ts';
import { buildSamples, samplesFor } from './samples.ts';

const samples = buildSamples();
const sample = <T>(name: string): T => structuredClone(samples[name]) as T;
const refused = (fn: FunctionName, event: unknown) => triggerMismatch(fn, event) ?? 'accepted';

describe("npm run invoke: an event must be one the function's trigger delivers", () => {
  it("accepts each function's own samples, and refuses every other function's", () => {
    for (const fn of functionNames) {
      const own = new Set(samplesFor(fn));
      for (const name of Object.keys(samples)) {
        const accepted = triggerMismatch(fn, samples[name]) === undefined;
        expect(accepted, `${fn} with ${name}`).toBe(own.has(name));
      }
    }
  });

  it.each([
    ['{}', {}],
    ['[]', []],
    ['null', null],
    ['a number', 42],
    ['a string', 'order-received'],
  ])('refuses %s for every function', (_, event) => {
    for (const fn of functionNames) expect(refused(fn, event), fn).not.toBe('accepted');
  });

  it('refuses an OrderCancelled batch for inventory (it consumes OrderReceived; inventory-release takes it)', () => {
    expect(refused('inventory', samples['order-cancelled'])).toBe(
      'a record of OrderCancelled, and the function consumes only OrderReceived',
    );
    expect(refused('inventory-release', samples['order-cancelled'])).toBe('accepted');
  });

  it('refuses an MSK event mixing in a record of another topic, or filed under another partition', () => {
    const mixed = sample<MskEvent>('order-received');
    const cancelled = sample<MskEvent>('order-cancelled');
    Object.assign(mixed.records, cancelled.records);
    expect(refused('inventory', mixed)).toMatch(/a record of OrderCancelled/);

    const misfiled = sample<MskEvent>('order-received');
    misfiled.records = { 'OrderReceived-3': Object.values(misfiled.records).flat() };
    expect(refused('inventory', misfiled)).toMatch(
      /records\["OrderReceived-3"\] holds a record of OrderReceived-0/,
    );
  });

  it('refuses an MSK event without records, or with a record that is not the shape Lambda sends', () => {
    expect(refused('inventory', { ...sample<MskEvent>('order-received'), records: {} })).toBe(
      'an MSK event without records',
    );
    const noValue = sample<MskEvent>('order-received');
    const [record] = Object.values(noValue.records).flat();
    if (!record) throw new Error('the sample has no record');
    Object.assign(record, { offset: '0' });
    expect(refused('inventory', noValue)).toMatch(/^not an MSK event: records\.OrderReceived-0\.0\.offset/);
  });

  it('refuses an API Gateway event for a route order-api does not have, and a Kafka event for order-api', () => {
    const other = {
      ...sample<Record<string, unknown>>('get-health'),
      resource: '/admin',
      httpMethod: 'DELETE',
    };
    expect(refused('order-api', other)).toMatch(/^DELETE \/admin is not a route of the function/);
    expect(refused('order-api', samples['order-received'])).toMatch(/^not an API Gateway proxy event/);
    expect(refused('inventory', samples['post-orders'])).toMatch(/^not an MSK event/);
    expect(refused('outbox-sweeper', samples['get-health'])).toMatch(/^not an EventBridge Scheduled Event/);
  });
});
