import { describe, expect, it } from 'vitest';
import { errorResponse } from './aws-errors.ts';
import {
  builtInFaultProfile,
  FAULT_PROFILE_NAMES,
  FaultInjector,
  type FaultProfileInput,
  matchRule,
  parseFaultProfile,
} from './profile.ts';
import { type ParsedRequest, parseRequest } from './request.ts';

const auth =
  'AWS4-HMAC-SHA256 Credential=local/20261201/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00';
const ddb = (operation: string, body: unknown) =>
  parseRequest(
    { 'x-amz-target': `DynamoDB_20120810.${operation}`, authorization: auth },
    Buffer.from(JSON.stringify(body)),
  );
const sns = (form: Record<string, string>) =>
  parseRequest(
    { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    Buffer.from(new URLSearchParams(form).toString()),
  );

const reserve = ddb('TransactWriteItems', {
  TransactItems: [
    { Put: { TableName: 'order-pipeline-orders', Item: { orderId: { S: 'o-1' }, total: { N: '12' } } } },
    { Update: { TableName: 'order-pipeline-inventory', Key: { sku: { S: 'SKU-MUG' } } } },
    { Update: { TableName: 'order-pipeline-inventory', Key: { sku: { S: 'SKU-TSHIRT-M' } } } },
    { ConditionCheck: { TableName: 'order-pipeline-idempotency', Key: { id: { S: 'k' } } } },
  ],
});

describe('parseRequest', () => {
  it('reads the operation from X-Amz-Target and the items of a transaction in order', () => {
    expect(reserve).toMatchObject({
      service: 'dynamodb',
      operation: 'TransactWriteItems',
      region: 'eu-west-1',
      tables: ['order-pipeline-orders', 'order-pipeline-inventory', 'order-pipeline-idempotency'],
    });
    expect(reserve.items.map((item) => item.attributes)).toEqual([
      { orderId: 'o-1', total: '12' },
      { sku: 'SKU-MUG' },
      { sku: 'SKU-TSHIRT-M' },
      { id: 'k' },
    ]);
  });

  it('reads single-item operations, batches and table ARNs', () => {
    expect(
      ddb('GetItem', {
        TableName: 'arn:aws:dynamodb:us-east-1:1:table/t-orders',
        Key: { orderId: { S: 'a' } },
      }),
    ).toMatchObject({ tables: ['t-orders'], items: [{ table: 't-orders', attributes: { orderId: 'a' } }] });
    const batch = ddb('BatchWriteItem', {
      RequestItems: {
        a: [{ PutRequest: { Item: { id: { S: '1' } } } }, { DeleteRequest: { Key: { id: { S: '2' } } } }],
      },
    });
    expect(batch.items).toEqual([
      { table: 'a', attributes: { id: '1' } },
      { table: 'a', attributes: { id: '2' } },
    ]);
    expect(ddb('BatchGetItem', { RequestItems: { b: { Keys: [{ id: { N: '3' } }] } } }).items).toEqual([
      { table: 'b', attributes: { id: '3' } },
    ]);
  });

  it('reads SNS Query requests, and leaves SQS and unknown targets as other', () => {
    expect(
      sns({ Action: 'Publish', TopicArn: 'arn:aws:sns:us-east-1:123456789012:p-notifications' }),
    ).toMatchObject({
      service: 'sns',
      operation: 'Publish',
      topicArn: 'arn:aws:sns:us-east-1:123456789012:p-notifications',
    });
    expect(sns({ Action: 'ReceiveMessage', QueueUrl: 'http://x/q' }).service).toBe('other');
    expect(parseRequest({ 'x-amz-target': 'AmazonSQS.ReceiveMessage' }, Buffer.from('{}')).service).toBe(
      'other',
    );
    expect(parseRequest({ 'x-amz-target': 'DynamoDB_20120810.PutItem' }, Buffer.alloc(0)).service).toBe(
      'dynamodb',
    );
    expect(
      parseRequest({ 'x-amz-target': 'DynamoDB_20120810.PutItem' }, Buffer.from('{not json')).operation,
    ).toBe('PutItem');
  });
});

describe('fault profiles', () => {
  it('has the built-in profiles the issue asks for, each valid', () => {
    expect(FAULT_PROFILE_NAMES).toEqual(
      expect.arrayContaining(['contention', 'throttling', 'errors', 'slow', 'sns-throttling', 'mixed']),
    );
    for (const name of FAULT_PROFILE_NAMES)
      expect(builtInFaultProfile(name)?.rules.length).toBeGreaterThan(0);
    const mixed = builtInFaultProfile('mixed');
    const others = FAULT_PROFILE_NAMES.filter((name) => name !== 'mixed').flatMap(
      (name) => builtInFaultProfile(name)?.rules.map((rule) => rule.name) ?? [],
    );
    expect(mixed?.rules.map((rule) => rule.name).sort()).toEqual(others.sort());
    expect(builtInFaultProfile('nope')).toBeUndefined();
    expect(builtInFaultProfile('toString')).toBeUndefined();
  });

  it('applies defaults and refuses what AWS would never answer', () => {
    const profile = parseFaultProfile({
      name: 'p',
      rules: [{ service: 'dynamodb', rate: 1, fault: { kind: 'ThrottlingException' } }],
    });
    expect(profile.seed).toBe(1);
    expect(profile.rules[0]).toMatchObject({
      when: 'before',
      fault: { limit: 'KeyRangeThroughputExceeded' },
    });
    const bad = (rule: unknown) => () => parseFaultProfile({ name: 'p', rules: [rule] });
    expect(
      bad({ service: 'dynamodb', rate: 1, when: 'after', fault: { kind: 'ThrottlingException' } }),
    ).toThrow(/cannot come after/);
    expect(
      bad({
        service: 'dynamodb',
        rate: 1,
        operations: ['TransactWriteItems'],
        fault: { kind: 'TransactionConflictException' },
      }),
    ).toThrow(/only to PutItem, UpdateItem, DeleteItem/);
    expect(bad({ service: 'sns', rate: 1, fault: { kind: 'ThrottlingException' } })).toThrow(
      /DynamoDB error/,
    );
    expect(bad({ service: 'sns', rate: 1, tables: ['x'], fault: { kind: 'Throttling' } })).toThrow(/topics/);
    expect(bad({ service: 'dynamodb', rate: 2, fault: { kind: 'drop' } })).toThrow(/rate/);
    expect(bad({ service: 'dynamodb', rate: 1, fault: { kind: 'drop' }, extra: true })).toThrow(/extra/);
  });
});

describe('matching', () => {
  const rule = (input: Partial<FaultProfileInput['rules'][number]>) =>
    parseFaultProfile({
      name: 'p',
      rules: [{ service: 'dynamodb', rate: 1, fault: { kind: 'InternalServerError' }, ...input }],
    }).rules[0] as Parameters<typeof matchRule>[0];

  it('targets tables by logical or physical name, and items by key', () => {
    expect(matchRule(rule({ tables: ['inventory'] }), reserve)?.targets).toEqual([false, true, true, false]);
    expect(matchRule(rule({ tables: ['order-pipeline-orders'] }), reserve)?.targets).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(matchRule(rule({ keys: { sku: ['SKU-MUG'] } }), reserve)?.targets).toEqual([
      false,
      true,
      false,
      false,
    ]);
    expect(matchRule(rule({ tables: ['notifications'] }), reserve)).toBeUndefined();
    expect(matchRule(rule({ operations: ['PutItem'] }), reserve)).toBeUndefined();
    expect(matchRule(rule({}), sns({ Action: 'Publish' }))).toBeUndefined();
  });

  it('answers a conflict only to the operations that can meet one', () => {
    const conflict = rule({ fault: { kind: 'TransactionConflictException' } });
    expect(matchRule(conflict, reserve)).toBeUndefined();
    expect(matchRule(conflict, ddb('UpdateItem', { TableName: 't', Key: {} }))).toBeDefined();
  });
});

describe('AWS error bodies', () => {
  const json = (response: { body: Buffer }) => JSON.parse(response.body.toString());

  it('TransactionCanceledException: reasons in item order, None for the others, codes in Message', () => {
    const cancel = { kind: 'TransactionCanceledException', reason: 'TransactionConflict' } as const;
    const response = errorResponse(cancel, reserve, [false, true]);
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(response.headers['x-amzn-requestid']).toMatch(/^[A-Z0-9]{52}$/);
    expect(json(response)).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      CancellationReasons: [
        { Code: 'None' },
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item.' },
      ],
      Message:
        'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
    });
  });

  it('the other DynamoDB errors', () => {
    const update = ddb('UpdateItem', { TableName: 't', Key: {} });
    const answer = (fault: Parameters<typeof errorResponse>[0]) => errorResponse(fault, update, [true]);
    expect(json(answer({ kind: 'TransactionConflictException' }))).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionConflictException',
      message: 'Transaction is ongoing for the item.',
    });
    const reason = {
      reason: 'TableWriteKeyRangeThroughputExceeded',
      resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/t',
    };
    const limit = 'KeyRangeThroughputExceeded';
    expect(json(answer({ kind: 'ThrottlingException', limit }))).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
      message: 'Rate of requests exceeds the allowed throughput.',
      throttlingReasons: [reason],
    });
    const exceeded = json(answer({ kind: 'ProvisionedThroughputExceededException', limit }));
    expect(exceeded.ThrottlingReasons).toEqual([reason]);
    expect(exceeded.message).toMatch(/^Throughput exceeds the current capacity of your table or index/);
    const internal = answer({ kind: 'InternalServerError' });
    expect(internal.status).toBe(500);
    expect(json(internal)).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
      message: 'Internal server error',
    });
  });

  it('SNS Query errors in XML', () => {
    const publish = sns({ Action: 'Publish' });
    const throttled = errorResponse({ kind: 'Throttling' }, publish, []);
    expect(throttled.status).toBe(400);
    expect(throttled.headers['content-type']).toBe('text/xml');
    expect(throttled.body.toString()).toContain(
      '<Error>\n    <Type>Sender</Type>\n    <Code>Throttling</Code>\n    <Message>Rate exceeded</Message>\n  </Error>',
    );
    const internal = errorResponse({ kind: 'InternalError' }, publish, []);
    expect(internal.status).toBe(500);
    expect(internal.body.toString()).toContain('<Type>Receiver</Type>\n    <Code>InternalError</Code>');
  });
});

describe('FaultInjector', () => {
  const requests: ParsedRequest[] = Array.from({ length: 200 }, (_, i) =>
    ddb('UpdateItem', { TableName: 'p-inventory', Key: { sku: { S: `SKU-${i % 3}` } } }),
  );
  const profile = (rules: FaultProfileInput['rules'], seed = 7) =>
    parseFaultProfile({ name: 'p', seed, rules });

  it('is reproducible from its seed and keeps to its rate', () => {
    const rules: FaultProfileInput['rules'] = [
      { service: 'dynamodb', rate: 0.25, fault: { kind: 'InternalServerError' } },
    ];
    const run = (seed: number) => {
      const injector = new FaultInjector(profile(rules, seed));
      return requests.map((request) => injector.decide(request).fault !== undefined);
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const hits = run(7).filter(Boolean).length;
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(70);
  });

  it('counts, limits, adds latency to a fault, and leaves unmatched requests untouched', () => {
    const injector = new FaultInjector(
      profile([
        {
          name: 'slow',
          service: 'dynamodb',
          rate: 1,
          when: 'after',
          fault: { kind: 'latency', ms: 5, jitterMs: 0 },
        },
        {
          name: 'mug',
          service: 'dynamodb',
          keys: { sku: ['SKU-0'] },
          rate: 1,
          limit: 2,
          fault: { kind: 'drop' },
        },
        { name: 'never', service: 'dynamodb', rate: 0, fault: { kind: 'InternalServerError' } },
      ]),
    );
    const first = injector.decide(requests[0] as ParsedRequest);
    expect(first).toMatchObject({
      delayBeforeMs: 0,
      delayAfterMs: 5,
      fault: { rule: 'mug', kind: 'drop' },
    });
    for (const request of requests.slice(1, 10)) injector.decide(request);
    injector.decide(sns({ Action: 'Publish' }));
    const counters = injector.counters();
    expect(counters).toMatchObject({
      requests: 11,
      injected: 2,
      injectedAfter: 0,
      delayed: 8,
      untouched: 1,
      byKind: { drop: 2, latency: 10 },
      byOperation: { 'dynamodb:UpdateItem': 2 },
    });
    expect(counters.byRule).toEqual({
      slow: { matched: 10, fired: 10 },
      mug: { matched: 2, fired: 2 },
      never: { matched: 8, fired: 0 },
    });
  });

  it('cancels a transaction with the targeted items in conflict and a throttled write with its table ARN', () => {
    const injector = new FaultInjector(
      profile([
        {
          service: 'dynamodb',
          tables: ['inventory'],
          rate: 1,
          fault: { kind: 'TransactionCanceledException' },
        },
      ]),
    );
    const fault = injector.decide(reserve).fault;
    const body = JSON.parse(fault?.response?.body.toString() ?? '');
    expect(body.CancellationReasons.map((reason: { Code: string }) => reason.Code)).toEqual([
      'None',
      'TransactionConflict',
      'TransactionConflict',
      'None',
    ]);
    const throttler = new FaultInjector(
      profile([
        { service: 'dynamodb', tables: ['inventory'], rate: 1, fault: { kind: 'ThrottlingException' } },
      ]),
    );
    const throttled = throttler.decide(reserve).fault as { response: { body: Buffer } };
    expect(JSON.parse(throttled.response.body.toString()).throttlingReasons).toEqual([
      {
        reason: 'TableWriteKeyRangeThroughputExceeded',
        resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/order-pipeline-inventory',
      },
    ]);
  });
});
