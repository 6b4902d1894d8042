/**
 * The local dashboard in a real browser (Debian's chromium driven by playwright-core): the page served
 * next to the runtime, fed by the kpis function behind its ESM emulator and by Kafka's group offsets,
 * changes while orders flow through the API.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedDashboard } from '../../local/dashboard/kpi-feed.ts';
import { type RunningDashboard, startDashboard } from '../../local/dashboard/server.ts';
import { applyEnvironment } from '../../local/runtime/environment.ts';
import type { LocalRuntime } from '../../local/runtime/runtime.ts';
import { testInfra } from '../support/env.ts';
import { uniqueName } from '../support/kafka.ts';
import { e2eCatalog, orderBody, postOrder } from '../support/pipeline.ts';
import { prepareTestStack, startTestRuntime, testGroupIds } from '../support/runtime.ts';

const CHROMIUM = '/usr/bin/chromium';
const TIMEOUT_MS = 90_000;

describe('the local dashboard, in chromium', () => {
  const { kafkaBrokers } = testInfra();
  const tablePrefix = uniqueName('dash');
  const groupIdOf = testGroupIds('dash');
  const profile = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'));
  let runtime: LocalRuntime | undefined;
  let dashboard: RunningDashboard | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let restoreEnv: (() => void) | undefined;

  beforeAll(async () => {
    restoreEnv = applyEnvironment({ POWERTOOLS_LOG_LEVEL: 'ERROR' });
    await prepareTestStack({ tablePrefix, catalog: Object.values(e2eCatalog), groupIdOf });
    dashboard = await startDashboard({ kafkaBrokers, groupIdOf, port: 0, log: () => {} });
    runtime = await startTestRuntime({ tablePrefix, groupIdOf, ...feedDashboard(dashboard.aggregator) });
    // A fresh profile, and no background traffic: this machine's network is closed.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
    await dashboard?.close();
    restoreEnv?.();
    rmSync(profile, { recursive: true, force: true });
  });

  const number = async (id: string) => Number(await page.locator(`#${id}`).textContent());

  it('shows the orders sent through the API: counts, rates, latency, lag, charts and their waterfalls', async () => {
    await page.goto(dashboard?.url ?? '');
    // Page-side expressions as text: the project's TypeScript has no DOM types.
    await page.waitForFunction("document.getElementById('status')?.className === 'live'");
    // Kafka's offsets arrive within a poll: one row per Kafka-triggered function.
    await page.waitForSelector('#lag tr[data-function="kpis"]');
    const shipped = await number('count-shipped');
    const confirmed = await number('count-confirmed');

    const orderIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const posted = await postOrder(
        runtime?.apiUrl ?? '',
        orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]),
        randomUUID(),
      );
      expect(posted.status).toBe(202);
      orderIds.push(posted.body.orderId as string);
    }

    // Live: the page itself (server-sent events, no reload) catches up with the three orders.
    await page.waitForFunction(
      `Number(document.getElementById('count-shipped')?.textContent) === ${shipped + 3}`,
      undefined,
      { timeout: TIMEOUT_MS },
    );
    expect(await number('count-confirmed')).toBe(confirmed + 3);
    expect(await number('count-received')).toBeGreaterThanOrEqual(3);
    expect(await number('count-rejected')).toBe(0);
    const ordersText = (await page.locator('#orders').textContent()) ?? '';
    for (const orderId of orderIds) expect(ordersText).toContain(orderId);
    expect(ordersText).toContain('shipper');
    expect(await page.locator('#latency').textContent()).toContain('end to end');
    expect(await page.locator('#rates').textContent()).toContain('shipper');
    // Every consumer's group has committed by now: its lag is a number of records.
    await page.waitForFunction(
      "!document.querySelector('#lag')?.textContent?.includes('no commit yet')",
      undefined,
      { timeout: TIMEOUT_MS },
    );

    // Each order's waterfall: its hops in causal order (the page keeps the server's order), ms offsets.
    for (const orderId of orderIds) {
      const hops = `#orders .waterfall[data-order-id="${orderId}"] .hop`;
      // Complete: the shipper ran, and both notifications (packed, shipped) were published.
      await page.waitForFunction(
        `[...document.querySelectorAll('${hops}')].some((hop) => hop.textContent === 'shipper · process') &&
          [...document.querySelectorAll('${hops}')].filter((hop) => hop.textContent === 'notification · SNS.Publish').length === 2`,
        undefined,
        { timeout: TIMEOUT_MS },
      );
      const labels = await page.locator(hops).allTextContents();
      const at = (label: string) => labels.indexOf(label);
      expect(labels[0]).toBe('order-api · produce OrderReceived');
      expect(at('inventory · queued')).toBeGreaterThan(0);
      expect(at('inventory · process')).toBeGreaterThan(0);
      expect(at('warehouse · process')).toBeGreaterThan(at('inventory · produce OrderConfirmed'));
      expect(at('inventory · produce OrderConfirmed')).toBeGreaterThan(at('inventory · process'));
      expect(at('shipper · process')).toBeGreaterThan(at('warehouse · produce OrderPickedAndPacked'));
      expect(labels.some((label) => label.startsWith('inventory · DynamoDB.'))).toBe(true);
      // Every notification after the step that produced it, its SNS publish after it.
      labels.forEach((label, i) => {
        if (label === 'notification · process')
          expect(labels.slice(0, i).some((before) => before.endsWith('· produce Notification'))).toBe(true);
      });
      expect(at('notification · SNS.Publish')).toBeGreaterThan(at('notification · process'));
      expect(at('notification · process')).toBeGreaterThan(at('warehouse · produce Notification'));
      const offsets = (
        await page.locator(`#orders .waterfall[data-order-id="${orderId}"] .offset`).allTextContents()
      ).map((text) => Number(text.replace(/^\+| ms$/g, '')));
      expect(offsets[0]).toBe(0);
      expect(offsets.every((offset) => Number.isFinite(offset) && offset >= 0)).toBe(true);
      // Causal, not arrival, order: the shipper ran after the warehouse it was caused by.
      expect(offsets[at('shipper · process')]).toBeGreaterThan(
        offsets[at('warehouse · process')] ?? Infinity,
      );
    }
    // The live charts drew the orders: a line per series, the throughput's peak above zero.
    expect(await page.locator('#chart-throughput polyline').count()).toBe(2);
    expect(Number(await page.locator('#peak-throughput').textContent())).toBeGreaterThan(0);
    expect(await page.locator('#chart-latency polyline').count()).toBe(1);

    const shot = join(profile, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    // DASHBOARD_SCREENSHOT=docs/dashboard.png refreshes the README's picture.
    if (process.env.DASHBOARD_SCREENSHOT) copyFileSync(shot, process.env.DASHBOARD_SCREENSHOT);
  });
});
