/**
 * The shadow replay's report page (GET /v1/agents/:agent/shadow/:shadowId/report.html) in a real
 * headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) against a real Bosun: its
 * four plots render under its own Content-Security-Policy, its inputs are listed most different
 * first, and a `<script>` a customer typed into an input is shown as text, never run.
 */
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, productionRun, stageBlindCandidate } from '../support/shadowFixtures';
import { launchChromium } from '../support/browser';
import { useTestStack } from '../support/useTestStack';

const injected = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">';

describe('the shadow report page in the browser', () => {
  const stack = useTestStack();
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws its plots, lists the most different input first, and runs no script from an input', async () => {
    // Production: a refund approved, one rejected, and an order question with markup in it.
    await productionRun(stack, 'Refund order 1001', 'approve');
    await productionRun(stack, 'Refund order 1002', 'reject');
    await productionRun(stack, `Refund order 1003 ${injected}`, 'approve');
    await stageBlindCandidate(stack);
    const started = await stack.api('POST', '/v1/agents/support/shadow', { sample: 3 });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const report = await eventually(async () => {
      const { body } = await stack.api('GET', `/v1/agents/support/shadow/${started.body.shadowId}`);
      return body.done ? body : undefined;
    }, 300_000);

    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${stack.apiKey}` } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const answer = await page.goto(`${stack.baseUrl}/v1/agents/support/shadow/${started.body.shadowId}/report.html`);
    expect(answer?.status()).toBe(200);
    await page.locator('body[data-plotted="true"]').waitFor();

    // Each plot drew on its canvas: some pixels are not blank.
    for (const id of ['plot-agreement', 'plot-ranking', 'plot-cost', 'plot-latency']) {
      const painted = await page.evaluate((canvasId) => {
        const canvas = (globalThis as any).document.getElementById(canvasId);
        const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) count++;
        return { count, width: canvas.width, height: canvas.height };
      }, id);
      expect(painted.width, id).toBeGreaterThan(100);
      expect(painted.count, id).toBeGreaterThan(500);
    }

    // The cost axes read in dollars, never in exponent notation (1.05E-9); latency's in milliseconds.
    const ticks = await page.evaluate(() => Object.fromEntries(['plot-cost', 'plot-latency'].map((id) => {
      const chart = (globalThis as any).Chart.getChart(id);
      return [id, ['x', 'y'].flatMap((axis) => chart.scales[axis].ticks.map((t: any) => String(t.label)))];
    })));
    expect(ticks['plot-cost']!.length).toBeGreaterThan(2);
    for (const label of ticks['plot-cost']!) expect(label).toMatch(/^\$\d+(\.\d{1,6})?$/);
    for (const label of ticks['plot-latency']!) expect(label).toMatch(/^\d+ ms$/);

    // The rows: most different first, as the JSON report orders them.
    const rows = page.locator('#items tbody tr');
    expect(await rows.count()).toBe(3);
    const differences = await rows.evaluateAll((trs) => trs.map((tr: any) => Number(tr.dataset.difference)));
    expect(differences).toEqual(report.items.map((i: any) => i.difference));
    expect(differences).toEqual([...differences].sort((a, b) => b - a));
    expect(differences[0]).toBeGreaterThan(0);

    // The input's markup is text on the page: no script of it ran, no element of it exists.
    await expect(page.locator('#items td.input', { hasText: injected }).count()).resolves.toBe(1);
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    expect(await page.locator('#items img').count()).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 600_000);
});
