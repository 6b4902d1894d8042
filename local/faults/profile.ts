/**
 * Fault profiles: which requests to the local DynamoDB and SNS endpoints fail, how, how often, and whether
 * before the endpoint saw them or after it carried them out. A profile is data (zod-validated), so a chaos
 * run or a test can write its own; `npm start -- --faults <name>` picks one of `FAULT_PROFILES`.
 *
 * Each request meets the rules in order. Every `latency` rule that matches and draws under its rate adds its
 * delay; the first other rule (an error or a dropped connection) that matches and draws under its rate is the
 * request's fault, and the later ones are not drawn. A request no rule fires on is forwarded untouched. The
 * draws come from one seeded generator: the same requests in the same order meet the same faults.
 */
import * as z from 'zod';
import {
  CANCELLATION_CODES,
  type CancellationCode,
  dynamoDbError,
  type FaultResponse,
  snsError,
  THROTTLING_LIMITS,
  throttlingReason,
} from './aws-errors.ts';
import { type ParsedRequest, type TouchedItem, tableNameOf } from './request.ts';

/** The operations a single-item write conflicts on (TransactionConflictException). */
export const SINGLE_ITEM_WRITES = ['PutItem', 'UpdateItem', 'DeleteItem'] as const;
/** The operations that cancel (TransactionCanceledException). */
export const TRANSACTIONS = ['TransactWriteItems', 'TransactGetItems'] as const;
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

const FaultSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('TransactionConflictException') }).strict(),
  z
    .object({
      kind: z.literal('TransactionCanceledException'),
      /** The code of the targeted items' reasons; the others are `None`. */
      reason: z.enum(CANCELLATION_CODES).default('TransactionConflict'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('ThrottlingException'),
      limit: z.enum(THROTTLING_LIMITS).default('KeyRangeThroughputExceeded'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('ProvisionedThroughputExceededException'),
      limit: z.enum(THROTTLING_LIMITS).default('KeyRangeThroughputExceeded'),
    })
    .strict(),
  z.object({ kind: z.literal('InternalServerError') }).strict(),
  /** SNS's `Throttling` (400). */
  z.object({ kind: z.literal('Throttling') }).strict(),
  /** SNS's `InternalError` (500). */
  z.object({ kind: z.literal('InternalError') }).strict(),
  /** Added latency: `ms` plus up to `jitterMs` more, before forwarding (`before`) or before answering (`after`). */
  z
    .object({
      kind: z.literal('latency'),
      ms: z.number().int().min(0).max(60_000),
      jitterMs: z.number().int().min(0).max(60_000).default(0),
    })
    .strict(),
  /** The connection is closed without an answer (the SDK sees a network error). */
  z.object({ kind: z.literal('drop') }).strict(),
]);
export type FaultSpec = z.infer<typeof FaultSpec>;
export type FaultKind = FaultSpec['kind'];
type FaultSpecInput = z.input<typeof FaultSpec>;

const DYNAMODB_KINDS = new Set<FaultKind>([
  'TransactionConflictException',
  'TransactionCanceledException',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'InternalServerError',
]);
const SNS_KINDS = new Set<FaultKind>(['Throttling', 'InternalError']);
/** What may come after the endpoint carried the request out: AWS's 4xx errors mean nothing happened. */
const AFTER_KINDS = new Set<FaultKind>(['InternalServerError', 'InternalError', 'drop', 'latency']);

const Rule = z
  .object({
    /** Its name in the counters; defaults to `<service>:<kind>#<index>`. */
    name: z.string().min(1).optional(),
    service: z.enum(['dynamodb', 'sns']),
    /** Operations (`TransactWriteItems`, `Publish`); all of them when absent. */
    operations: z.array(z.string().min(1)).min(1).optional(),
    /** DynamoDB: logical (`inventory`) or physical (`order-pipeline-inventory`) table names. */
    tables: z.array(z.string().min(1)).min(1).optional(),
    /** DynamoDB: only items whose attribute has one of these values (`{ sku: ['SKU-MUG'] }`). */
    keys: z.record(z.string(), z.array(z.string()).min(1)).optional(),
    /** SNS: topic names (logical `notifications` or physical) or ARNs. */
    topics: z.array(z.string().min(1)).min(1).optional(),
    /** Probability, per matching request, that the fault fires. */
    rate: z.number().min(0).max(1),
    /** `before`: the endpoint never sees the request. `after`: it carried it out, and the answer is lost. */
    when: z.enum(['before', 'after']).default('before'),
    /** At most this many injections by this rule (tests). */
    limit: z.number().int().positive().optional(),
    fault: FaultSpec,
  })
  .strict()
  .superRefine((rule, ctx) => {
    const kind = rule.fault.kind;
    if (rule.service === 'sns' && DYNAMODB_KINDS.has(kind))
      ctx.addIssue({ code: 'custom', message: `${kind} is a DynamoDB error, not SNS's` });
    if (rule.service === 'dynamodb' && SNS_KINDS.has(kind))
      ctx.addIssue({ code: 'custom', message: `${kind} is an SNS error, not DynamoDB's` });
    if (rule.service === 'sns' && (rule.tables || rule.keys))
      ctx.addIssue({ code: 'custom', message: 'tables and keys are DynamoDB targets; SNS rules use topics' });
    if (rule.service === 'dynamodb' && rule.topics)
      ctx.addIssue({ code: 'custom', message: 'topics are SNS targets; DynamoDB rules use tables and keys' });
    if (rule.when === 'after' && !AFTER_KINDS.has(kind))
      ctx.addIssue({
        code: 'custom',
        message: `${kind} cannot come after the request took effect: AWS answers it only for requests it did not carry out (after: 500s, drop, latency)`,
      });
    const allowed = operationsOf(kind);
    const outside = allowed
      ? (rule.operations ?? []).filter((operation) => !allowed.includes(operation))
      : [];
    if (allowed && outside.length)
      ctx.addIssue({
        code: 'custom',
        message: `${kind} is answered only to ${allowed.join(', ')}, not ${outside.join(', ')}`,
      });
  });
export type FaultRule = z.infer<typeof Rule>;
export type FaultRuleInput = z.input<typeof Rule>;

export const FaultProfile = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** Seed of the draws (the same seed and the same requests give the same faults). */
    seed: z.number().int().default(1),
    rules: z.array(Rule),
  })
  .strict();
export type FaultProfile = z.infer<typeof FaultProfile>;
export type FaultProfileInput = z.input<typeof FaultProfile>;

/** The operations a fault kind is answered to, when AWS answers it to some only. */
function operationsOf(kind: FaultKind): readonly string[] | undefined {
  if (kind === 'TransactionConflictException') return SINGLE_ITEM_WRITES;
  if (kind === 'TransactionCanceledException') return TRANSACTIONS;
  return undefined;
}

/** Parses a profile, with zod's messages joined into one line per problem. */
export function parseFaultProfile(input: unknown): FaultProfile {
  const result = FaultProfile.safeParse(input);
  if (result.success) return result.data;
  throw new Error(
    `invalid fault profile: ${result.error.issues.map((issue) => `${issue.path.join('.') || '(profile)'}: ${issue.message}`).join('; ')}`,
  );
}

/** A DynamoDB rule on the tables named (every table when none), before the endpoint saw the request or after. */
const dynamoDbFault = (
  name: string,
  rate: number,
  fault: FaultSpecInput,
  { tables, when = 'before' }: { tables?: string[]; when?: 'before' | 'after' } = {},
): FaultRuleInput => ({ name, service: 'dynamodb', ...(tables ? { tables } : {}), rate, when, fault });

/** The inventory's transactions cancelled, their inventory items with `reason` and the others `None`. */
const inventoryTransactionCancelled = (
  name: string,
  rate: number,
  reason: CancellationCode,
): FaultRuleInput => ({
  ...dynamoDbFault(name, rate, { kind: 'TransactionCanceledException', reason }, { tables: ['inventory'] }),
  operations: ['TransactWriteItems'],
});

/** SNS's Publish failing, before moto took the message or after (the message went out, the answer is lost). */
const publishFault = (
  name: string,
  rate: number,
  fault: FaultSpecInput,
  when: 'before' | 'after' = 'before',
): FaultRuleInput => ({ name, service: 'sns', operations: ['Publish'], rate, when, fault });

const contention: FaultRuleInput[] = [
  // Concurrent reservations of one SKU: the transaction that loses is cancelled.
  inventoryTransactionCancelled('inventory-transaction-conflict', 0.2, 'TransactionConflict'),
  // A single-item write meeting an item inside a running transaction.
  dynamoDbFault(
    'single-write-conflict',
    0.05,
    { kind: 'TransactionConflictException' },
    { tables: ['inventory', 'orders'] },
  ),
];

const throttling: FaultRuleInput[] = [
  // A hot partition of an on-demand table: ThrottlingException or ProvisionedThroughputExceededException
  // with a KeyRangeThroughputExceeded reason, and throttled items in a transaction cancel it.
  inventoryTransactionCancelled('inventory-transaction-throttled', 0.05, 'ThrottlingError'),
  dynamoDbFault('inventory-throttling', 0.1, { kind: 'ThrottlingException' }, { tables: ['inventory'] }),
  dynamoDbFault(
    'orders-throughput-exceeded',
    0.05,
    { kind: 'ProvisionedThroughputExceededException' },
    {
      tables: ['orders', 'idempotency'],
    },
  ),
];

const errors: FaultRuleInput[] = [
  dynamoDbFault('dynamodb-500-before', 0.02, { kind: 'InternalServerError' }),
  // The case AWS warns about: the write happened, the answer says 500.
  dynamoDbFault('dynamodb-500-after', 0.02, { kind: 'InternalServerError' }, { when: 'after' }),
  dynamoDbFault('dynamodb-drop-before', 0.01, { kind: 'drop' }),
  dynamoDbFault('dynamodb-drop-after', 0.01, { kind: 'drop' }, { when: 'after' }),
  publishFault('sns-500-before', 0.03, { kind: 'InternalError' }),
  publishFault('sns-500-after', 0.03, { kind: 'InternalError' }, 'after'),
  publishFault('sns-drop-after', 0.01, { kind: 'drop' }, 'after'),
];

const slow: FaultRuleInput[] = [
  dynamoDbFault('dynamodb-latency', 0.5, { kind: 'latency', ms: 20, jitterMs: 80 }),
  dynamoDbFault(
    'dynamodb-latency-spike',
    0.02,
    { kind: 'latency', ms: 500, jitterMs: 500 },
    { when: 'after' },
  ),
  {
    name: 'sns-latency',
    service: 'sns',
    rate: 0.5,
    fault: { kind: 'latency', ms: 50, jitterMs: 150 },
  },
];

const snsThrottling: FaultRuleInput[] = [publishFault('sns-throttling', 0.3, { kind: 'Throttling' })];

const builtIn = {
  contention: {
    description: 'DynamoDB transaction conflicts on the inventory (and single-item writes)',
    rules: contention,
  },
  throttling: {
    description: 'DynamoDB throttling of a hot partition (inventory, orders, idempotency)',
    rules: throttling,
  },
  errors: {
    description: 'DynamoDB 500s and dropped connections, before and after the write; SNS 500s',
    rules: errors,
  },
  slow: { description: 'added latency on DynamoDB and SNS', rules: slow },
  'sns-throttling': { description: "SNS Publish throttled ('Throttling', 400)", rules: snsThrottling },
  mixed: {
    description: 'all of the above at once',
    rules: [...slow, ...contention, ...throttling, ...errors, ...snsThrottling],
  },
} satisfies Record<string, { description: string; rules: FaultRuleInput[] }>;

export type FaultProfileName = keyof typeof builtIn;
export const FAULT_PROFILE_NAMES = Object.keys(builtIn) as FaultProfileName[];

/** A built-in profile by name, or `undefined`. */
export function builtInFaultProfile(name: string, seed?: number): FaultProfile | undefined {
  if (!Object.hasOwn(builtIn, name)) return undefined;
  const { description, rules } = builtIn[name as FaultProfileName];
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

/** `inventory` names `order-pipeline-inventory` (and `dev-inventory`); a physical name names itself. */
export function namesTable(ruleTable: string, table: string): boolean {
  const name = tableNameOf(table);
  return name === ruleTable || name.endsWith(`-${ruleTable}`);
}

function namesTopic(ruleTopic: string, topicArn: string | undefined): boolean {
  if (!topicArn) return false;
  if (ruleTopic === topicArn) return true;
  const name = topicArn.slice(topicArn.lastIndexOf(':') + 1);
  return name === ruleTopic || name.endsWith(`-${ruleTopic}`);
}

function targetsItem(rule: FaultRule, item: TouchedItem): boolean {
  if (rule.tables && !rule.tables.some((table) => namesTable(table, item.table))) return false;
  for (const [attribute, values] of Object.entries(rule.keys ?? {})) {
    const value = item.attributes[attribute];
    if (value === undefined || !values.includes(value)) return false;
  }
  return true;
}

/** Whether `rule` applies to `request` at all, and which of its items it targets. */
export function matchRule(rule: FaultRule, request: ParsedRequest): { targets: boolean[] } | undefined {
  if (request.service !== rule.service) return undefined;
  const operations = rule.operations ?? operationsOf(rule.fault.kind);
  if (operations && !operations.includes(request.operation)) return undefined;
  if (rule.service === 'sns') {
    if (rule.topics && !rule.topics.some((topic) => namesTopic(topic, request.topicArn))) return undefined;
    return { targets: [] };
  }
  const targets = request.items.map((item) => targetsItem(rule, item));
  if ((rule.tables || rule.keys) && !targets.includes(true)) return undefined;
  return { targets };
}

export type TerminalFault =
  | { rule: string; kind: FaultKind; when: 'before' | 'after'; action: 'drop' }
  | { rule: string; kind: FaultKind; when: 'before' | 'after'; action: 'respond'; response: FaultResponse };

export interface FaultDecision {
  /** Delay before forwarding. */
  delayBeforeMs: number;
  /** Delay between the endpoint's answer and the client's. */
  delayAfterMs: number;
  fault?: TerminalFault;
}

export interface FaultCounters {
  profile: string;
  /** Requests the layer saw. */
  requests: number;
  /** Forwarded and answered with the endpoint's own answer, without added latency. */
  untouched: number;
  /** Requests with added latency (and no other fault). */
  delayed: number;
  /** Errors and dropped connections, all rules together. */
  injected: number;
  /** Of `injected`, those after the endpoint carried the request out. */
  injectedAfter: number;
  /** Requests the endpoint could not be reached for (closed like a dropped connection). */
  upstreamFailures: number;
  /** Per rule: requests it applied to, times it fired (latency included). */
  byRule: Record<string, { matched: number; fired: number }>;
  /** Injections per fault kind (`ThrottlingException`, `drop`, `latency`...). */
  byKind: Record<string, number>;
  /** Injections per `<service>:<operation>`. */
  byOperation: Record<string, number>;
}

/** The decisions of one profile, with its counters. */
export class FaultInjector {
  readonly profile: FaultProfile;
  private readonly random: () => number;
  private readonly names: string[];
  private readonly fired: number[];
  private stats: FaultCounters;

  constructor(
    profile: FaultProfile,
    private readonly options: { account?: string; defaultRegion?: string } = {},
  ) {
    this.profile = profile;
    this.random = seededRandom(profile.seed);
    this.names = profile.rules.map(
      (rule, index) => rule.name ?? `${rule.service}:${rule.fault.kind}#${index}`,
    );
    this.fired = profile.rules.map(() => 0);
    this.stats = this.emptyCounters();
  }

  private emptyCounters(): FaultCounters {
    return {
      profile: this.profile.name,
      requests: 0,
      untouched: 0,
      delayed: 0,
      injected: 0,
      injectedAfter: 0,
      upstreamFailures: 0,
      byRule: Object.fromEntries(this.names.map((name) => [name, { matched: 0, fired: 0 }])),
      byKind: {},
      byOperation: {},
    };
  }

  decide(request: ParsedRequest): FaultDecision {
    this.stats.requests++;
    const decision: FaultDecision = { delayBeforeMs: 0, delayAfterMs: 0 };
    for (const [index, rule] of this.profile.rules.entries()) {
      const isLatency = rule.fault.kind === 'latency';
      if (!isLatency && decision.fault) continue;
      if (rule.limit !== undefined && (this.fired[index] ?? 0) >= rule.limit) continue;
      const match = matchRule(rule, request);
      if (!match) continue;
      const name = this.names[index] as string;
      const counter = this.stats.byRule[name] as { matched: number; fired: number };
      counter.matched++;
      if (!(this.random() < rule.rate)) continue;
      this.fired[index] = (this.fired[index] ?? 0) + 1;
      counter.fired++;
      if (rule.fault.kind === 'latency') {
        const ms = rule.fault.ms + Math.floor(this.random() * (rule.fault.jitterMs + 1));
        if (rule.when === 'before') decision.delayBeforeMs += ms;
        else decision.delayAfterMs += ms;
        continue;
      }
      decision.fault =
        rule.fault.kind === 'drop'
          ? { rule: name, kind: 'drop', when: rule.when, action: 'drop' }
          : {
              rule: name,
              kind: rule.fault.kind,
              when: rule.when,
              action: 'respond',
              response: this.responseOf(rule, request, match.targets),
            };
    }
    this.count(request, decision);
    return decision;
  }

  private count(request: ParsedRequest, decision: FaultDecision): void {
    const { fault } = decision;
    const bump = (record: Record<string, number>, key: string) => {
      record[key] = (record[key] ?? 0) + 1;
    };
    if (decision.delayBeforeMs + decision.delayAfterMs > 0) bump(this.stats.byKind, 'latency');
    if (fault) {
      this.stats.injected++;
      if (fault.when === 'after') this.stats.injectedAfter++;
      bump(this.stats.byKind, fault.kind);
      bump(this.stats.byOperation, `${request.service}:${request.operation}`);
    } else if (decision.delayBeforeMs + decision.delayAfterMs > 0) this.stats.delayed++;
    else this.stats.untouched++;
  }

  /** The endpoint could not be reached: not untouched after all. */
  upstreamFailed(): void {
    this.stats.upstreamFailures++;
    this.stats.untouched--;
  }

  private responseOf(rule: FaultRule, request: ParsedRequest, targets: boolean[]): FaultResponse {
    const fault = rule.fault;
    switch (fault.kind) {
      case 'Throttling':
      case 'InternalError':
        return snsError(fault.kind);
      case 'TransactionCanceledException': {
        // Without a table or key, the first item is the one in conflict.
        const hit = rule.tables || rule.keys ? targets : targets.map((_, index) => index === 0);
        return dynamoDbError({
          name: fault.kind,
          reasons: hit.map((targeted): CancellationCode | undefined => (targeted ? fault.reason : undefined)),
        });
      }
      case 'ThrottlingException':
      case 'ProvisionedThroughputExceededException': {
        const table =
          request.items.find((_, index) => targets[index])?.table ?? request.tables[0] ?? 'unknown';
        const reason = throttlingReason(
          table,
          READS.has(request.operation) ? 'Read' : 'Write',
          fault.limit,
          request.region ?? this.options.defaultRegion ?? 'us-east-1',
          this.options.account ?? '123456789012',
        );
        return dynamoDbError({ name: fault.kind, throttlingReasons: [reason] });
      }
      case 'TransactionConflictException':
      case 'InternalServerError':
        return dynamoDbError({ name: fault.kind });
      default:
        throw new Error(`no response for ${fault.kind}`);
    }
  }

  counters(): FaultCounters {
    return structuredClone(this.stats);
  }

  resetCounters(): void {
    this.stats = this.emptyCounters();
  }
}
