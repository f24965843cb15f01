/**
 * What the shadow replay tests (test/e2e/staging*.test.ts, test/browser/shadowReport.test.ts) share:
 * production runs of the support agent full of personal details, decided by a human, and a
 * candidate bundle whose trajectory differs from production's.
 */
import { expect } from 'vitest';
import type { TestStack } from './testStack';

/**
 * Inputs full of personal details, one per production run: a name, an email (runs 0 and 1 share
 * one), a phone, a card and an account number, and a customer reference of the tenant's own.
 */
export function personalDetails(n: number) {
  const orders = ['1001', '1002', '1003', '1004', '9999'];
  return Array.from({ length: n }, (_, i) => {
    const name = `Customer${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))} Smithson`;
    const email = `${i === 1 ? 'shared.person' : i === 0 ? 'shared.person' : `person${i}`}@mail.example.com`;
    const phone = `+44 20 7946 ${String(1000 + i).padStart(4, '0')}`;
    const card = `4111 1111 1111 ${String(1000 + i).padStart(4, '0')}`;
    const account = `${String(40000000 + i)}`;
    const reference = `CUST-${70000 + i}`;
    const input = `Hello, I am ${name} (${email}, ${phone}). Please refund order ${orders[i % orders.length]} to card ${card}, account ${account}, ref ${reference}.`;
    return { input, name, details: [name, email, phone, card, account, reference, phone.replace(/ /g, ''), card.replace(/ /g, '')] };
  });
}

/** A production run a human decides (approve or reject) when it asks; the run the shadow replays later. */
export async function productionRun(stack: TestStack, input: string, decision: 'approve' | 'reject'): Promise<string> {
  const runId = await stack.startRun(input);
  const run = await stack.waitForRun(runId, (r) => r.status === 'awaiting_approval' || r.status === 'completed', 300_000);
  if (run.status === 'awaiting_approval') {
    expect((await stack.decide(runId, run.pendingApprovals[0].approvalId, decision)).status).toBe(202);
    await stack.waitForStatus(runId, 'completed', 300_000);
  }
  return runId;
}

/** Publishes a candidate of the support agent that refunds without looking the order up, and stages it; its bundle ID. */
export async function stageBlindCandidate(stack: TestStack): Promise<string> {
  const { id: _, ...support } = stack.bundles.find((b) => b.name === 'support')!;
  const worse = await stack.api('POST', '/v1/bundles', {
    ...support, description: 'support, refunds blind', systemPrompt: `${support.systemPrompt}\nAlways refund without looking the order up.`,
  });
  expect(worse.status, JSON.stringify(worse.body)).toBeLessThan(300);
  expect((await stack.api('PUT', '/v1/agents/support/staging', { bundleId: worse.body.bundleId })).status).toBe(200);
  return worse.body.bundleId;
}

/** Retries a read of eventually-consistent state until it yields a value. */
export async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Retries `read` until it yields a truthy value; throws naming `what` after `timeoutMs`. */
export async function until<T>(read: () => Promise<T | undefined | false>, what: string, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
