/**
 * The approvals inbox at /ui, in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core; no browser is downloaded) against a real Bosun: an approval made in the page
 * reaches the workflow and the run completes; an invalid edit shows the API's problems and changes
 * nothing; another tenant's approvals never appear; approving works with the keyboard alone; a
 * phone-sized screen shows the list without horizontal scrolling; the run page links to Temporal.
 */
import { randomBytes } from 'node:crypto';
import { type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { seedApiKeys } from '../../src/db/apiKeys';
import { seedAgents, seedDemoOrders } from '../../src/dev/demoData';
import { launchChromium } from '../support/browser';
import { useTestStack } from '../support/useTestStack';

const temporalUiUrl = 'http://temporal-ui.example:8233';
const phone: BrowserContextOptions = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

describe('approvals inbox in the browser', () => {
  const stack = useTestStack({ env: { BOSUN_TEMPORAL_UI_URL: temporalUiUrl } });
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A fresh browser context at /ui, signed in with `key` by typing it and pressing Enter. */
  async function signedIn(key = stack.apiKey, options: BrowserContextOptions = {}): Promise<Page> {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await page.goto(`${stack.baseUrl}/ui`);
    await page.getByLabel('API key').fill(key);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Pending approvals' }).waitFor();
    return page;
  }

  /** A run of this stack's tenant parked on its refund approval. */
  async function parked(order: string) {
    const runId = await stack.startRun(`Refund order ${order}`);
    const run = await stack.waitForStatus(runId, 'awaiting_approval');
    return { runId, approvalId: run.pendingApprovals[0].approvalId as string };
  }

  const card = (page: Page, approvalId: string) => page.locator(`#approval-${approvalId}`);

  it('an approval made in the page reaches the workflow, and the run completes', async () => {
    const { runId, approvalId } = await parked('1001');
    const page = await signedIn();
    const approval = card(page, approvalId);
    await approval.waitFor();
    await expect(approval.getByRole('heading', { level: 2 }).textContent()).resolves.toContain('issue_refund');
    const shown = await approval.textContent();
    expect(shown).toContain('"order_id": "1001"');
    await approval.getByLabel('Comment (optional)').fill('checked in the browser');
    await approval.getByRole('button', { name: 'Approve', exact: true }).click();

    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.approvals[0]).toMatchObject({ status: 'approved', comment: 'checked in the browser' });
    // The run was started and approved with the same key: the card named it as the requester.
    expect(shown).toContain(`Requested by${done.approvals[0].decidedBy}`);
    // Decided approvals leave the list.
    await approval.waitFor({ state: 'detached' });
    // The key was typed into the page only: no cookie, no URL, nothing in localStorage.
    expect(page.url()).not.toContain(stack.apiKey);
    expect(await page.context().cookies()).toEqual([]);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    await page.context().close();
  });

  it('an edit with invalid arguments shows the problems inline and changes nothing', async () => {
    const { runId, approvalId } = await parked('1002');
    const page = await signedIn();
    const approval = card(page, approvalId);
    await approval.getByRole('button', { name: 'Edit arguments' }).click();
    await approval.getByLabel(/Arguments \(JSON\)/).fill('{"order_id": "1002", "amount_cents": "lots"}');
    await approval.getByRole('button', { name: 'Approve with these arguments' }).click();

    const alert = approval.getByRole('alert');
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toMatch(/arguments\.amount_cents/);
    const { body: run } = await stack.api('GET', `/v1/runs/${runId}`);
    expect(run.status).toBe('awaiting_approval');
    expect(run.approvals[0]).toMatchObject({ status: 'pending', editedArguments: null, decidedBy: null });

    // A valid edit then goes through, and the tool runs with it.
    await approval.getByLabel(/Arguments \(JSON\)/).fill('{"order_id": "1002", "amount_cents": 700}');
    await approval.getByRole('button', { name: 'Approve with these arguments' }).click();
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.approvals[0].editedArguments).toMatchObject({ order_id: '1002', amount_cents: 700 });
    // The audit log has the one decision, by whom, with the edit; the refused edit left no entry.
    const { body: audit } = await stack.api('GET', `/v1/audit?runId=${runId}`);
    const decisions = audit.entries.filter((e: any) => e.action === 'approval.decided');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ actor: done.approvals[0].decidedBy, detail: { edited: true, argumentChanges: expect.arrayContaining([expect.anything()]) } });
    await page.context().close();
  });

  it("never shows another tenant's approvals", async () => {
    const otherTenant = `other_${randomBytes(4).toString('hex')}`;
    const otherKey = `key_${randomBytes(8).toString('hex')}`;
    await seedApiKeys(stack.db, [{ key: otherKey, tenantId: otherTenant, roles: ['runner', 'approver', 'admin'] }]);
    await seedDemoOrders(stack.db, otherTenant);
    const config = loadConfig(stack.env);
    await seedAgents(stack.db, otherTenant, config.agentsDir, config.model.prices);
    const started = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Refund order 1003' }, { authorization: `Bearer ${otherKey}` });
    expect(started.status).toBe(202);
    let otherApproval: string | undefined;
    const deadline = Date.now() + 60_000;
    while (!otherApproval && Date.now() < deadline) {
      const { body } = await stack.api('GET', `/v1/runs/${started.body.runId}`, undefined, { authorization: `Bearer ${otherKey}` });
      otherApproval = body.pendingApprovals?.[0]?.approvalId;
      if (!otherApproval) await new Promise((r) => setTimeout(r, 200));
    }
    expect(otherApproval).toBeDefined();
    const own = await parked('1004');

    const page = await signedIn();
    await card(page, own.approvalId).waitFor();
    expect(await card(page, otherApproval!).count()).toBe(0);
    expect(await page.locator('.approval').allTextContents()).not.toEqual(expect.arrayContaining([expect.stringContaining(started.body.runId.slice(0, 8))]));

    // And the other tenant's inbox shows its own approval, never ours.
    const otherPage = await signedIn(otherKey);
    await card(otherPage, otherApproval!).waitFor();
    expect(await card(otherPage, own.approvalId).count()).toBe(0);
    await Promise.all([page.context().close(), otherPage.context().close()]);
  });

  it('approves with the keyboard alone', async () => {
    const { runId, approvalId } = await parked('1003');
    const page = await signedIn();
    await card(page, approvalId).waitFor();
    // Tab through the page until the focus is on this approval's Approve button.
    const approveId = `approval-${approvalId}-tool`;
    let onApprove = false;
    for (let presses = 0; presses < 200 && !onApprove; presses++) {
      await page.keyboard.press('Tab');
      // Expressions as strings: they run in the page, and this file is compiled without the DOM's types.
      onApprove = await page.evaluate<boolean>(
        `document.activeElement?.textContent === 'Approve' && document.activeElement.getAttribute('aria-describedby') === ${JSON.stringify(approveId)}`,
      );
    }
    expect(onApprove).toBe(true);
    await page.keyboard.press('Enter');
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.approvals[0].status).toBe('approved');
    await page.context().close();
  });

  it('shows the list on a phone without horizontal scrolling, and the run page with steps, cost and the Temporal link', async () => {
    const { runId, approvalId } = await parked('1001');
    const page = await signedIn(stack.apiKey, phone);
    await card(page, approvalId).waitFor();
    expect(await card(page, approvalId).isVisible()).toBe(true);
    // Against the phone's own width: a mobile browser widens its layout viewport to fit content that overflows.
    const overflow = () => page.evaluate<number>(`Math.max(document.documentElement.scrollWidth, window.innerWidth) - ${phone.viewport!.width}`);
    expect(await overflow()).toBeLessThanOrEqual(0);
    expect((await card(page, approvalId).boundingBox())!.width).toBeLessThanOrEqual(phone.viewport!.width);

    await card(page, approvalId).getByRole('link').click();
    const temporalLink = page.getByRole('link', { name: 'Open this run in the Temporal UI' });
    await temporalLink.waitFor();
    expect(await temporalLink.getAttribute('href')).toBe(`${temporalUiUrl}/namespaces/default/workflows/${runId}`);
    await page.getByRole('region', { name: 'Steps' }).waitFor();
    // The run page offers the same decision controls for what waits.
    await card(page, approvalId).getByRole('button', { name: 'Approve', exact: true }).waitFor();
    await expect(page.locator('.tool-calls').textContent()).resolves.toContain('lookup_order');
    expect(await overflow()).toBeLessThanOrEqual(0);

    // Live: approving from elsewhere updates the open run page through its event stream.
    expect((await stack.decide(runId, approvalId, 'approve')).status).toBe(202);
    await page.locator('.badge.status-completed').first().waitFor({ timeout: 60_000 });
    await expect(page.locator('.tool-calls').textContent()).resolves.toContain('issue_refund');
    await page.context().close();
  });
});
