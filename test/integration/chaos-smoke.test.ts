/**
 * A short fault run (`npm run chaos -- --scenario runtime-join,dynamodb-kill`) on the integration run's
 * broker and a DynamoDB endpoint of the run's own (the only kind it may kill): a second runtime joins the
 * consumer groups and leaves again while orders flow, then the DynamoDB endpoint is killed and started
 * again. Every order must ship, with its stock reserved once and each notification recorded and sent
 * once. The other scenarios, and the load, are `npm run chaos`'s (bench/README.md); nothing here is timed.
 */
import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from '../../bench/chaos.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { chaosInvariants, runBenchScript } from '../support/bench.ts';

const ORDERS = 30;

/** Runs `npm run chaos` with `args` on the integration run's broker; resolves with its results JSON. */
async function chaos(args: string[]) {
  // DynamoDB endpoint empty: the run starts one of its own, which dynamodb-kill may kill.
  const { result } = await runBenchScript<{ pass: boolean; scenarios: ScenarioResult[] }>(
    'bench/chaos.ts',
    args,
    {
      timeoutMs: 400_000,
      env: { [RuntimeEnv.dynamodbEndpoint]: '' },
    },
  );
  return result;
}

describe(`npm run chaos -- --scenario runtime-join,dynamodb-kill (smoke: ${ORDERS} orders each)`, () => {
  it('loses, duplicates and double-reserves nothing through a rebalance and a DynamoDB kill', async () => {
    const args = ['--scenario', 'runtime-join,dynamodb-kill', '--orders', String(ORDERS), '--rate', '3'];
    const result = await chaos(args);
    expect(result.scenarios.map((s) => [s.scenario, s.skipped, s.failures])).toEqual([
      ['runtime-join', undefined, []],
      ['dynamodb-kill', undefined, []],
    ]);
    for (const scenario of result.scenarios) {
      expect(scenario).toMatchObject({
        ...chaosInvariants,
        sent: ORDERS,
        accepted: ORDERS,
        completed: ORDERS,
        orderStatuses: { SHIPPED: ORDERS },
      });
      // Two notifications per shipped order (packed, shipped), each sent: the sends were seen. A kill in
      // the few ms between a publish and its idempotency record's completion repeats that publish once,
      // with the same notification id (a repeated send, which subscribers drop); only then is there more.
      expect(scenario.deliveries).toBeGreaterThanOrEqual(2 * ORDERS + scenario.repeatedSends);
      if (scenario.repeatedSends === 0) expect(scenario.deliveries).toBe(2 * ORDERS);
    }
    const [join_, kill] = result.scenarios;
    // The fault happened: a second runtime's log, a restart noted.
    expect(join_?.logFiles).toHaveLength(2);
    expect(kill?.events.some((e) => /DynamoDB endpoint .* killed with SIGKILL/.test(e))).toBe(true);
    expect(kill?.events.some((e) => /restarted on the same port and data dir/.test(e))).toBe(true);
  }, 420_000);
});

const CANCEL_ORDERS = 20;

describe(`npm run chaos -- --scenario runtime-kill-cancel (smoke: ${CANCEL_ORDERS} orders, half cancelled)`, () => {
  it('ends every order shipped or cancelled, stock and notices exact, through a runtime kill', async () => {
    const args = ['--scenario', 'runtime-kill-cancel', '--orders', String(CANCEL_ORDERS), '--rate', '3'];
    const result = await chaos([...args, '--cancel-share', '0.5']);
    const [scenario] = result.scenarios;
    expect(result.scenarios.map((s) => [s.scenario, s.skipped, s.failures])).toEqual([
      ['runtime-kill-cancel', undefined, []],
    ]);
    expect(scenario).toMatchObject({ ...chaosInvariants, accepted: CANCEL_ORDERS });
    const cancellations = scenario?.cancellations;
    const statuses = scenario?.orderStatuses ?? {};
    // Every cancel got its final answer, and none contradicts how its order ended.
    expect(cancellations?.sent).toBeGreaterThan(0);
    expect((cancellations?.accepted ?? 0) + (cancellations?.refused ?? 0)).toBe(cancellations?.sent);
    expect(cancellations?.contradictions).toBe(0);
    // Every order in one final state (stock plentiful: none rejected); only a 202 made one CANCELLED.
    expect((statuses.SHIPPED ?? 0) + (statuses.CANCELLED ?? 0)).toBe(CANCEL_ORDERS);
    expect(statuses.CANCELLED ?? 0).toBe(cancellations?.accepted);
    expect(scenario?.completed).toBe(statuses.SHIPPED ?? 0);
    expect(scenario?.events.some((e) => /runtime child .* killed with SIGKILL/.test(e))).toBe(true);
  }, 420_000);
});
