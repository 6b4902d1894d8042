/**
 * Short runs of the injected-AWS-error chaos scenarios (`npm run chaos -- --scenario ddb-contention` and
 * `--scenario flash-sale`) on the integration run's broker and endpoints, the runtime child with the fault
 * layer on: conflicts are injected, and every order still ends once (shipped, or in the flash sale exactly
 * the stock shipped and every other order rejected and told once). The full sizes and their figures are
 * `npm run chaos`'s (bench/README.md); nothing here is timed.
 */
import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from '../../bench/chaos.ts';
import { chaosInvariants, runBenchScript } from '../support/bench.ts';

/** Runs `npm run chaos` with `args` on the integration run's stack; resolves with its one scenario. */
async function chaos(name: string, args: string[]): Promise<ScenarioResult> {
  const { result } = await runBenchScript<{ scenarios: ScenarioResult[] }>(
    'bench/chaos.ts',
    ['--scenario', name, ...args],
    { timeoutMs: 200_000 },
  );
  const [scenario] = result.scenarios;
  if (!scenario) throw new Error(`no result for ${name}`);
  return scenario;
}

const invariants = { ...chaosInvariants, failures: [], notAccepted: 0 };

describe('npm run chaos -- --scenario ddb-contention (smoke: 30 orders)', () => {
  it('ships every order once while transactions and single-item writes meet conflicts', async () => {
    const scenario = await chaos('ddb-contention', ['--orders', '30', '--rate', '5']);
    expect(scenario).toMatchObject({ ...invariants, accepted: 30, orderStatuses: { SHIPPED: 30 } });
    expect(scenario.faultProfile).toBe('contention');
    // Conflicts were injected, and the attempts show them: more inventory transactions than orders.
    expect(scenario.attempts?.injectedByKind.TransactionCanceledException).toBeGreaterThan(0);
    expect(scenario.attempts?.injectedByKind.TransactionConflictException).toBeGreaterThan(0);
    expect(scenario.attempts?.transactionsPerOrder).toBeGreaterThan(1);
  }, 210_000);
});

describe('npm run chaos -- --scenario flash-sale (smoke: 60 orders, 15 in stock)', () => {
  it('ships exactly the stock and rejects and tells every other order once, through conflicts', async () => {
    const scenario = await chaos('flash-sale', ['--orders', '60', '--rate', '30']);
    expect(scenario).toMatchObject({
      ...invariants,
      accepted: 60,
      orderStatuses: { SHIPPED: 15, REJECTED: 45 },
    });
    expect(scenario.flashSale).toMatchObject({ stock: 15, reserved: 15, rejected: 45 });
    expect(scenario.attempts?.injectedByKind.TransactionCanceledException).toBeGreaterThan(0);
    expect(scenario.flashSale?.transactionsPerReservation).toBeGreaterThan(1);
  }, 210_000);
});
