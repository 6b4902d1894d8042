/**
 * Fault profiles: which requests to the local DynamoDB and SNS endpoints fail, how, how often, and whether
 * before the endpoint saw them or after it carried them out. A profile is data (zod-validated), so a chaos
 * run or a test can write its own. How the rules combine and draw (in order, latency adding up, the first
 * error or drop winning, one seeded generator): local/README.md, "Injected AWS errors".
 */
import * as z from 'zod';
import { CANCELLATION_CODES, errorResponse, type FaultResponse, THROTTLING_LIMITS } from './aws-errors.ts';
import { type ParsedRequest, type TouchedItem, tableNameOf } from './request.ts';

const Ms = z.number().int().min(0).max(60_000);

const FaultSpec = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.enum(['TransactionConflictException', 'InternalServerError', 'Throttling', 'InternalError']),
  }),
  z.strictObject({ kind: z.literal('drop') }),
  z.strictObject({
    kind: z.literal('TransactionCanceledException'),
    /** The code of the targeted items' reasons; the others are `None`. */
    reason: z.enum(CANCELLATION_CODES).default('TransactionConflict'),
  }),
  z.strictObject({
    kind: z.enum(['ThrottlingException', 'ProvisionedThroughputExceededException']),
    limit: z.enum(THROTTLING_LIMITS).default('KeyRangeThroughputExceeded'),
  }),
  /** Added latency: `ms` plus up to `jitterMs` more, before forwarding (`before`) or before answering (`after`). */
  z.strictObject({ kind: z.literal('latency'), ms: Ms, jitterMs: Ms.default(0) }),
]);
type FaultSpecInput = z.input<typeof FaultSpec>;
export type FaultKind = z.infer<typeof FaultSpec>['kind'];

/**
 * Per kind: its service (`drop`: a closed connection, `latency`: either), whether it may come after the
 * endpoint carried the request out (AWS's 4xx errors mean nothing happened), and the operations AWS answers
 * it to, when only some.
 */
const KINDS: Record<FaultKind, { service?: 'dynamodb' | 'sns'; after?: true; operations?: string[] }> = {
  TransactionConflictException: { service: 'dynamodb', operations: ['PutItem', 'UpdateItem', 'DeleteItem'] },
  TransactionCanceledException: {
    service: 'dynamodb',
    operations: ['TransactWriteItems', 'TransactGetItems'],
  },
  ThrottlingException: { service: 'dynamodb' },
  ProvisionedThroughputExceededException: { service: 'dynamodb' },
  InternalServerError: { service: 'dynamodb', after: true },
  Throttling: { service: 'sns' },
  InternalError: { service: 'sns', after: true },
  drop: { after: true },
  latency: { after: true },
};
const AN = { dynamodb: 'a DynamoDB', sns: 'an SNS' };

/** A rule's fields: local/README.md, "Injected AWS errors"; its name defaults to `<service>:<kind>#<index>`. */
const Rule = z
  .strictObject({
    name: z.string().min(1).optional(),
    service: z.enum(['dynamodb', 'sns']),
    operations: z.array(z.string().min(1)).min(1).optional(),
    /** DynamoDB: logical (`inventory`) or physical (`order-pipeline-inventory`) table names. */
    tables: z.array(z.string().min(1)).min(1).optional(),
    /** DynamoDB: only items whose attribute has one of these values (`{ sku: ['SKU-MUG'] }`). */
    keys: z.record(z.string(), z.array(z.string()).min(1)).optional(),
    topics: z.array(z.string().min(1)).min(1).optional(),
    rate: z.number().min(0).max(1),
    /** `before`: the endpoint never sees the request. `after`: it carried it out, and the answer is lost. */
    when: z.enum(['before', 'after']).default('before'),
    limit: z.number().int().positive().optional(),
    fault: FaultSpec,
  })
  .superRefine((rule, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    const { kind } = rule.fault;
    const { service, after, operations } = KINDS[kind];
    if (service && service !== rule.service)
      issue(`${kind} is ${AN[service]} error, not ${AN[rule.service]} one`);
    if (rule.service === 'sns' && (rule.tables || rule.keys))
      issue('tables and keys are DynamoDB targets; SNS rules use topics');
    if (rule.service === 'dynamodb' && rule.topics)
      issue('topics are SNS targets; DynamoDB rules use tables and keys');
    if (rule.when === 'after' && !after)
      issue(
        `${kind} cannot come after the request took effect: AWS answers it only for requests it did not carry out (after: 500s, drop, latency)`,
      );
    const outside = (rule.operations ?? []).filter(
      (operation) => operations && !operations.includes(operation),
    );
    if (operations && outside.length)
      issue(`${kind} is answered only to ${operations.join(', ')}, not ${outside.join(', ')}`);
  });
export type FaultRule = z.infer<typeof Rule>;
export type FaultRuleInput = z.input<typeof Rule>;

export const FaultProfile = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  seed: z.number().int().default(1),
  rules: z.array(Rule),
});
export type FaultProfile = z.infer<typeof FaultProfile>;
export type FaultProfileInput = z.input<typeof FaultProfile>;

/** Parses a profile, with zod's messages joined into one line per problem. */
export function parseFaultProfile(input: unknown): FaultProfile {
  const result = FaultProfile.safeParse(input);
  if (result.success) return result.data;
  throw new Error(
    `invalid fault profile: ${result.error.issues.map((issue) => `${issue.path.join('.') || '(profile)'}: ${issue.message}`).join('; ')}`,
  );
}

/** A rule of the built-in profiles: a kind alone (`'drop'`) or a fault with its parameters. */
const rule =
  (service: 'dynamodb' | 'sns') =>
  (name: string, rate: number, fault: FaultKind | FaultSpecInput, more: Partial<FaultRuleInput> = {}) =>
    ({
      name,
      service,
      rate,
      fault: typeof fault === 'string' ? { kind: fault } : fault,
      ...more,
    }) as FaultRuleInput;
const ddb = rule('dynamodb');
const sns = rule('sns');
const on = (...tables: string[]) => ({ tables });
const after = { when: 'after' } as const;
const publish = { operations: ['Publish'] };
/** The inventory's transactions cancelled, their inventory items with `reason` and the others `None`. */
const cancelInventory = (name: string, rate: number, reason: (typeof CANCELLATION_CODES)[number]) =>
  ddb(
    name,
    rate,
    { kind: 'TransactionCanceledException', reason },
    { ...on('inventory'), operations: ['TransactWriteItems'] },
  );

const contention = [
  // Concurrent reservations of one SKU: the transaction that loses is cancelled.
  cancelInventory('inventory-transaction-conflict', 0.2, 'TransactionConflict'),
  // A single-item write meeting an item inside a running transaction.
  ddb('single-write-conflict', 0.05, 'TransactionConflictException', on('inventory', 'orders')),
];
// A hot partition of an on-demand table: ThrottlingException or ProvisionedThroughputExceededException
// with a KeyRangeThroughputExceeded reason, and throttled items in a transaction cancel it.
const throttling = [
  cancelInventory('inventory-transaction-throttled', 0.05, 'ThrottlingError'),
  ddb('inventory-throttling', 0.1, 'ThrottlingException', on('inventory')),
  ddb(
    'orders-throughput-exceeded',
    0.05,
    'ProvisionedThroughputExceededException',
    on('orders', 'idempotency'),
  ),
];
const errors = [
  ddb('dynamodb-500-before', 0.02, 'InternalServerError'),
  // The case AWS warns about: the write happened, the answer says 500.
  ddb('dynamodb-500-after', 0.02, 'InternalServerError', after),
  ddb('dynamodb-drop-before', 0.01, 'drop'),
  ddb('dynamodb-drop-after', 0.01, 'drop', after),
  sns('sns-500-before', 0.03, 'InternalError', publish),
  sns('sns-500-after', 0.03, 'InternalError', { ...publish, ...after }),
  sns('sns-drop-after', 0.01, 'drop', { ...publish, ...after }),
];
const slow = [
  ddb('dynamodb-latency', 0.5, { kind: 'latency', ms: 20, jitterMs: 80 }),
  ddb('dynamodb-latency-spike', 0.02, { kind: 'latency', ms: 500, jitterMs: 500 }, after),
  sns('sns-latency', 0.5, { kind: 'latency', ms: 50, jitterMs: 150 }),
];
const snsThrottling = [sns('sns-throttling', 0.3, 'Throttling', publish)];

const builtIn = {
  contention: ['DynamoDB transaction conflicts on the inventory (and single-item writes)', contention],
  throttling: ['DynamoDB throttling of a hot partition (inventory, orders, idempotency)', throttling],
  errors: ['DynamoDB 500s and dropped connections, before and after the write; SNS 500s', errors],
  slow: ['added latency on DynamoDB and SNS', slow],
  'sns-throttling': ["SNS Publish throttled ('Throttling', 400)", snsThrottling],
  mixed: ['all of the above at once', [...slow, ...contention, ...throttling, ...errors, ...snsThrottling]],
} satisfies Record<string, [string, FaultRuleInput[]]>;

export const FAULT_PROFILE_NAMES = Object.keys(builtIn) as (keyof typeof builtIn)[];

/** A built-in profile by name, or `undefined`. */
export function builtInFaultProfile(name: string, seed?: number): FaultProfile | undefined {
  if (!Object.hasOwn(builtIn, name)) return undefined;
  const [description, rules] = builtIn[name as keyof typeof builtIn];
  return parseFaultProfile({ name, description, rules, ...(seed === undefined ? {} : { seed }) });
}

/** mulberry32: a small, fast, seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `inventory` names `order-pipeline-inventory` (and `dev-inventory`, or an ARN's topic); a physical name itself. */
const names = (ruleName: string, name: string) => name === ruleName || name.endsWith(`-${ruleName}`);

function targetsItem(rule: FaultRule, item: TouchedItem): boolean {
  if (rule.tables && !rule.tables.some((table) => names(table, tableNameOf(item.table)))) return false;
  return Object.entries(rule.keys ?? {}).every(([attribute, values]) =>
    values.includes(item.attributes[attribute] as string),
  );
}

/** Whether `rule` applies to `request` at all, and which of its items it targets. */
export function matchRule(rule: FaultRule, request: ParsedRequest): { targets: boolean[] } | undefined {
  if (request.service !== rule.service) return undefined;
  const operations = rule.operations ?? KINDS[rule.fault.kind].operations;
  if (operations && !operations.includes(request.operation)) return undefined;
  if (rule.service === 'sns') {
    const arn = request.topicArn ?? '';
    const topic = arn.slice(arn.lastIndexOf(':') + 1);
    if (rule.topics && !rule.topics.some((name) => arn && (name === arn || names(name, topic))))
      return undefined;
    return { targets: [] };
  }
  const targets = request.items.map((item) => targetsItem(rule, item));
  if ((rule.tables || rule.keys) && !targets.includes(true)) return undefined;
  return { targets };
}

export interface FaultDecision {
  delayBeforeMs: number;
  /** Between the endpoint's answer and the client's. */
  delayAfterMs: number;
  /** Without a response: a dropped connection. */
  fault?: { rule: string; kind: FaultKind; when: 'before' | 'after'; response?: FaultResponse };
}

function emptyCounters(profile: string, rules: string[]) {
  return {
    profile,
    requests: 0,
    /** Forwarded and answered with the endpoint's own answer, without added latency. */
    untouched: 0,
    /** With added latency and no other fault. */
    delayed: 0,
    /** Errors and dropped connections; `injectedAfter` of them after the endpoint carried the request out. */
    injected: 0,
    injectedAfter: 0,
    /** Requests the endpoint could not be reached for (closed like a dropped connection). */
    upstreamFailures: 0,
    /** Per rule: requests it applied to, times it fired (latency included). */
    byRule: Object.fromEntries(rules.map((name) => [name, { matched: 0, fired: 0 }])),
    byKind: {} as Record<string, number>,
    /** Per `<service>:<operation>`. */
    byOperation: {} as Record<string, number>,
  };
}
export type FaultCounters = ReturnType<typeof emptyCounters>;

/** The decisions of one profile, with its counters. */
export class FaultInjector {
  private readonly random: () => number;
  private readonly names: string[];
  private readonly stats: FaultCounters;

  constructor(readonly profile: FaultProfile) {
    this.random = seededRandom(profile.seed);
    this.names = profile.rules.map(
      (rule, index) => rule.name ?? `${rule.service}:${rule.fault.kind}#${index}`,
    );
    this.stats = emptyCounters(profile.name, this.names);
  }

  decide(request: ParsedRequest): FaultDecision {
    const decision: FaultDecision = { delayBeforeMs: 0, delayAfterMs: 0 };
    for (const [index, rule] of this.profile.rules.entries()) {
      const { fault } = rule;
      if (fault.kind !== 'latency' && decision.fault) continue;
      const name = this.names[index] as string;
      const counter = this.stats.byRule[name] as { matched: number; fired: number };
      if (rule.limit !== undefined && counter.fired >= rule.limit) continue;
      const match = matchRule(rule, request);
      if (!match) continue;
      counter.matched++;
      if (!(this.random() < rule.rate)) continue;
      counter.fired++;
      if (fault.kind === 'latency') {
        const ms = fault.ms + Math.floor(this.random() * (fault.jitterMs + 1));
        if (rule.when === 'before') decision.delayBeforeMs += ms;
        else decision.delayAfterMs += ms;
      } else {
        decision.fault = { rule: name, kind: fault.kind, when: rule.when };
        // Without a table or key, the first item is the one in conflict.
        const targets = rule.tables || rule.keys ? match.targets : match.targets.map((_, i) => i === 0);
        if (fault.kind !== 'drop') decision.fault.response = errorResponse(fault, request, targets);
      }
    }
    this.count(request, decision);
    return decision;
  }

  private count(request: ParsedRequest, { fault, delayBeforeMs, delayAfterMs }: FaultDecision): void {
    const bump = (record: Record<string, number>, key: string) => {
      record[key] = (record[key] ?? 0) + 1;
    };
    const stats = this.stats;
    stats.requests++;
    if (delayBeforeMs + delayAfterMs > 0) bump(stats.byKind, 'latency');
    if (fault) {
      stats.injected++;
      if (fault.when === 'after') stats.injectedAfter++;
      bump(stats.byKind, fault.kind);
      bump(stats.byOperation, `${request.service}:${request.operation}`);
    } else if (delayBeforeMs + delayAfterMs > 0) stats.delayed++;
    else stats.untouched++;
  }

  /** The endpoint could not be reached: not untouched after all. */
  upstreamFailed(): void {
    this.stats.upstreamFailures++;
    this.stats.untouched--;
  }

  counters(): FaultCounters {
    return structuredClone(this.stats);
  }
}
