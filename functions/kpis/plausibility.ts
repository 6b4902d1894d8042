import type { StepName } from '../../events/envelope.ts';
import { KpiName, type KpiRecorded } from '../../events/schemas/events.ts';
import { type FunctionName, manifest } from '../../topology/manifest.ts';

/**
 * The steps that may report each metric. A count has exactly one owner, so that nothing is counted
 * twice (a cancellation is counted where it is applied, by order-api; inventory-release reports the stock
 * it gave back). A latency is measured by each step that reports it, and charted per step.
 */
export const METRIC_OWNERS: Readonly<Record<KpiName, readonly StepName[]>> = {
  OrdersReceived: ['order-api'],
  OrdersCancelled: ['order-api'],
  OrdersConfirmed: ['inventory'],
  OrdersRejected: ['inventory'],
  StockReleased: ['inventory-release'],
  OrdersPacked: ['warehouse'],
  OrdersShipped: ['shipper'],
  NotificationsDelivered: ['notification'],
  // Every Kafka-triggered step that reports KPIs dead-letters through the shared consumer.
  RecordsDeadLettered: ['inventory', 'inventory-release', 'warehouse', 'shipper', 'notification'],
  // What a step measured that was no measurement (functions/shared/kpis.ts drops and counts it).
  KpiValuesDropped: ['order-api', 'inventory', 'inventory-release', 'warehouse', 'shipper', 'notification'],
  StepLatency: ['order-api', 'inventory', 'inventory-release', 'warehouse', 'shipper', 'notification'],
  // When an order's journey ends: shipped (shipper), and the customer told it ended (notification).
  EndToEndLatency: ['shipper', 'notification'],
};

/** An order has at most 100 lines of at most 1,000 units (events/schemas/order.ts). */
const MAX_UNITS_PER_ORDER = 100 * 1_000;

const unitOf = (name: KpiName) =>
  name === 'StepLatency' || name === 'EndToEndLatency' ? 'Milliseconds' : 'Count';

/**
 * The most one value of the metric can add, in an invocation of `records` records: an order count is 1
 * per record, released stock an order's units, dropped values at most every metric of every record.
 */
function maxIncrement(name: KpiName, records: number): number {
  if (name === 'StockReleased') return MAX_UNITS_PER_ORDER;
  if (name === 'KpiValuesDropped') return records * KpiName.options.length;
  return 1;
}

/** The most values of the metric one invocation has: one per record (the drops may add one of their own). */
const maxValues = (name: KpiName, records: number) => (name === 'KpiValuesDropped' ? records + 1 : records);

/**
 * How many records one invocation of the step handles, from the manifest: a request for the API, a batch
 * for a Kafka consumer. Undefined for a step that reports no KPIs (it produces none, or is no function).
 */
export function recordsPerInvocation(step: StepName): number | undefined {
  if (!Object.hasOwn(manifest.functions, step)) return undefined;
  const fn = manifest.functions[step as FunctionName];
  if (!(fn.produces as readonly string[]).includes('KPIs')) return undefined;
  if (fn.trigger.kind === 'http') return 1;
  return fn.trigger.kind === 'kafka' ? fn.trigger.batchSize : undefined;
}

function metricProblem(
  step: StepName,
  metric: KpiRecorded['data']['metrics'][number],
  bound: number,
): string | undefined {
  const { name, unit, values } = metric;
  if (!METRIC_OWNERS[name].includes(step)) return `${step} does not report ${name}`;
  if (unit !== unitOf(name)) return `${name} is in ${unitOf(name)}, not ${unit}`;
  if (values.length > maxValues(name, bound))
    return `${name} has ${values.length} values, more than ${maxValues(name, bound)} for the ${bound} record(s) of one ${step} invocation`;
  const most = maxIncrement(name, bound);
  if (unit === 'Count' && values.some((v) => !Number.isInteger(v) || v < 1 || v > most))
    return `${name} counts must be whole numbers 1..${most} per value`;
  return undefined;
}

/**
 * Why a schema-valid KPIs record cannot be what its step measured in one invocation; undefined when it
 * can. The schema bounds each value; this bounds what a record may claim against the step that claims
 * it: its `source` is its step, the step owns each metric, no metric has more values (and no count a
 * larger increment) than the step's invocation had records, its orders are distinct and as few.
 */
export function implausibility(record: KpiRecorded): string | undefined {
  const { step, metrics, orderIds } = record.data;
  if (record.source !== step) return `source ${record.source} is not the reporting step ${step}`;
  const bound = recordsPerInvocation(step);
  if (bound === undefined) return `${step} reports no KPIs`;
  if (new Set(metrics.map((m) => m.name)).size !== metrics.length) return 'a metric is listed twice';
  for (const metric of metrics) {
    const problem = metricProblem(step, metric, bound);
    if (problem) return problem;
  }
  if (new Set(orderIds).size !== orderIds.length) return 'an order is listed twice';
  if (orderIds.length > bound)
    return `${orderIds.length} orders, more than the ${bound} record(s) of one ${step} invocation`;
  return undefined;
}
