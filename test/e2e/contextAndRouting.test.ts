import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import type { RecordedRequest } from '../../src/dev/scriptedModel';
import { SUMMARY_HEADING } from '../../src/activities/model/window';
import { bucketsOf, priceBuckets } from '../../src/shared/pricing';
import { CUSTOMER_CODE, chainInput, chainRules, seedOrderChain } from '../support/longConversation';
import { activitySummaries } from '../support/historyShape';
import { startTestStack, type TestStack } from '../support/testStack';

const finished = ['completed', 'failed', 'budget_exceeded', 'step_limit', 'cancelled'];
// The built-in prices (src/config.ts), USD per million tokens.
const prices: Record<string, { input: number; cachedInput: number; output: number }> = {
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
};
const priceOf = (s: any) =>
  priceBuckets(
    bucketsOf({ prompt_tokens: s.inputTokens, completion_tokens: s.outputTokens, prompt_tokens_details: { cached_tokens: s.cachedInputTokens } }),
    prices[s.name],
  ).costUsd;

const CHAIN_START = 3001;
const CHAIN_LENGTH = 14;
const PAD_CHARS = 3000;
const BUDGET = 1600;
const MAX_TOOL_RESULT_CHARS = 400;

const isSummaryRequest = (r: RecordedRequest) => r.messages[1]?.role === 'user' && /^Summarise the conversation/.test(r.messages[1]?.content ?? '');

/** Every tool message follows, in the same request, the assistant message whose tool_calls asked for it. */
function unpairedToolMessages(r: RecordedRequest): number {
  const asked = new Set<string>();
  let unpaired = 0;
  for (const m of r.messages) {
    for (const c of m.tool_calls ?? []) asked.add(c.id);
    if (m.role === 'tool' && !asked.has(m.tool_call_id ?? '')) unpaired += 1;
  }
  return unpaired;
}

describe('context budgets and model routing', () => {
  let stack: TestStack;
  const base = readBundleDir('agents/support') as Record<string, any>;

  beforeAll(async () => {
    stack = await startTestStack({
      script: {
        rules: [
          ...chainRules,
          // Routing: an ok lookup, a failed one, an invalid call, an ok one, the answer.
          { when: { role: 'user', matches: 'Route check' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1001"}' }] } },
          { when: { role: 'tool', matches: '"order_id":"1001"' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"9999"}' }] } },
          { when: { role: 'tool', matches: 'order 9999 not found' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":12}' }] } },
          { when: { role: 'tool', matches: 'invalid tool call' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1002"}' }] } },
          { when: { role: 'tool', matches: '"order_id":"1002"' }, reply: { content: 'Route done.' } },
        ],
        // The first call that sends a summary fails once: its retry must reuse the summary, not make another.
        faults: [{ when: { role: 'tool', seen: 'Summary of the earlier part' }, status: 500, times: 1 }],
      },
    });
    await seedOrderChain(stack.db, stack.tenantId, CHAIN_START, CHAIN_LENGTH, PAD_CHARS);
    // A soft ceiling: every call is reserved and settled, none refused.
    expect((await stack.api('PUT', '/v1/budgets/day', { limitUsd: 1000, mode: 'soft' })).status).toBe(200);
  });
  afterAll(() => stack?.close());

  async function publish(changes: Record<string, unknown>): Promise<string> {
    const published = await stack.api('POST', '/v1/bundles', { ...base, limits: { maxSteps: 40 }, ...changes });
    expect(published.status, JSON.stringify(published.body)).toBeLessThan(300);
    return published.body.bundleId;
  }

  /** Runs to the end; the scripted model's requests of this run (runs here go one at a time). */
  async function run(bundleId: string, input: string) {
    const first = stack.model.requests.length;
    const start = await stack.api('POST', '/v1/runs', { agent: 'support', input, bundleId });
    expect(start.status).toBe(202);
    const view = await stack.waitForRun(start.body.runId, (r) => finished.includes(r.status), 120_000);
    const requests = stack.model.requests.slice(first);
    return { view, runId: start.body.runId as string, requests, main: requests.filter((r) => !isSummaryRequest(r)), summaries: requests.filter(isSummaryRequest) };
  }

  describe('a 15-step conversation under a context budget', () => {
    let trimmed: Awaited<ReturnType<typeof run>>;
    let bundleId: string;
    beforeAll(async () => {
      bundleId = await publish({ context: { maxInputTokens: BUDGET, keepRecentMessages: 3, maxToolResultChars: MAX_TOOL_RESULT_CHARS } });
      trimmed = await run(bundleId, chainInput(CHAIN_START));
    });

    it('keeps every prompt under its budget, and still knows the fact from turn 1 at the end', async () => {
      const { view, main } = trimmed;
      expect(view.status).toBe('completed');
      expect(view.output).toContain(CUSTOMER_CODE);
      const modelSteps = view.steps.filter((s: any) => s.kind === 'model' && s.ordinal === 0);
      expect(modelSteps).toHaveLength(CHAIN_LENGTH + 1);
      expect(main.filter((r) => r.answeredWith === 200)).toHaveLength(CHAIN_LENGTH + 1);
      // The provider's own count of each prompt (system prompt and tools included).
      for (const s of modelSteps) expect(s.inputTokens, `step ${s.step}`).toBeLessThanOrEqual(BUDGET);
      // Without trimming the last prompt would be several times the budget.
      const { rows } = await stack.db.query('SELECT sum(length(content))::int AS chars FROM run_messages WHERE run_id = $1 AND ordinal >= 0', [trimmed.runId]);
      expect(rows[0].chars / 4).toBeGreaterThan(BUDGET * 5);
      // The system prompt always first, then the summary, then the recent turns.
      for (const r of main) expect(r.messages[0]).toMatchObject({ role: 'system', content: expect.stringContaining('customer support agent') });
      const last = main.at(-1)!;
      expect(last.messages[1]).toMatchObject({ role: 'user', content: expect.stringContaining(SUMMARY_HEADING) });
      expect(last.messages[1]!.content).toContain(CUSTOMER_CODE);
      expect(last.messages.length).toBeLessThan(12);
    });

    it('records each summary as a costed model step, reuses it, and keeps the transcript whole', async () => {
      const { view, summaries, main, runId } = trimmed;
      const summarySteps = view.steps.filter((s: any) => s.ordinal === -1);
      expect(summarySteps.length).toBeGreaterThanOrEqual(2);
      expect(summarySteps).toHaveLength(summaries.length);
      for (const s of summarySteps) {
        expect(s).toMatchObject({ kind: 'model', name: 'gpt-4o-mini', status: 'ok', detail: { summary: true } });
        expect(s.inputTokens).toBeGreaterThan(0);
        expect(s.costUsd).toBeGreaterThan(0);
        expect(s.costUsd).toBeCloseTo(priceOf(s), 6);
      }
      // The call that failed after the first summary was retried with that same summary.
      const failed = main.filter((r) => r.answeredWith === 500);
      expect(failed).toHaveLength(1);
      expect(main[main.indexOf(failed[0]!) + 1]!.messages).toEqual(failed[0]!.messages);
      // Reused: most steps after the first summary send a stored one instead of making a new one.
      const withSummary = main.filter((r) => r.messages[1]?.content?.startsWith(SUMMARY_HEADING));
      expect(withSummary.length).toBeGreaterThan(summaries.length);
      // The second summary folds in the first: the fact survives both.
      expect(summaries[1]!.messages[1]!.content).toContain('SUMMARY SO FAR:');
      // Attributed like any model call: the run's usage, the usage API and the budget all count it.
      const total = view.steps.reduce((sum: number, s: any) => sum + s.costUsd, 0);
      expect(view.usage.costUsd).toBeCloseTo(total, 6);
      expect(view.usage.inputTokens).toBe(view.steps.reduce((sum: number, s: any) => sum + s.inputTokens, 0));
      // The workflow counts summaries with their step too (its caps see them), the retried one included.
      const outcome = await stack.temporal.workflow.getHandle(runId).result();
      expect(outcome.usage.inputTokens).toBe(view.usage.inputTokens);
      expect(outcome.usage.costUsd).toBeCloseTo(view.usage.costUsd, 6);
      const usage = await stack.api('GET', '/v1/usage?groupBy=bundle');
      const forBundle = usage.body.totals.find((t: any) => t.key === bundleId);
      expect(forBundle.costUsd).toBeCloseTo(total, 6);
      expect(forBundle.modelCalls).toBe(CHAIN_LENGTH + 1 + summarySteps.length);
      const reservations = await stack.db.query(
        'SELECT amount_usd, settled_at FROM budget_reservations WHERE reservation_id LIKE $1',
        [`${runId}:%:summary`],
      );
      expect(reservations.rows).toHaveLength(summarySteps.length);
      expect(reservations.rows.every((r) => r.settled_at !== null)).toBe(true);
      const day = (await stack.api('GET', '/v1/budgets')).body.budgets.find((b: any) => b.period === 'day');
      expect(day.reservedUsd).toBe(0);
      // Nothing of the transcript is deleted: one user message, and a reply and a result per lookup.
      const kept = await stack.db.query('SELECT count(*)::int AS n FROM run_messages WHERE run_id = $1 AND ordinal >= 0', [runId]);
      expect(kept.rows[0].n).toBe(1 + CHAIN_LENGTH * 2 + 1);
    });

    it('never sends a tool result without the assistant message that asked for it', () => {
      for (const r of trimmed.requests) expect(unpairedToolMessages(r)).toBe(0);
      // And the recent turns after a summary start with an assistant message, not a tool result.
      for (const r of trimmed.main) if (r.messages[1]?.content?.startsWith(SUMMARY_HEADING)) expect(r.messages[2]?.role).toBe('assistant');
    });

    it('cuts long tool results, with a note, in what the model sees and only there', async () => {
      const toolMessages = trimmed.main.flatMap((r) => r.messages.filter((m) => m.role === 'tool'));
      expect(toolMessages.length).toBeGreaterThan(CHAIN_LENGTH);
      for (const m of toolMessages) {
        expect(m.content).toMatch(/\[Truncated by Bosun: the first 400 of \d+ characters of this tool result are shown\.\]$/);
        expect(m.content!.length).toBeLessThan(MAX_TOOL_RESULT_CHARS + 120);
      }
      const stored = await stack.db.query(`SELECT min(length(content))::int AS shortest FROM run_messages WHERE run_id = $1 AND role = 'tool'`, [trimmed.runId]);
      expect(stored.rows[0].shortest).toBeGreaterThan(PAD_CHARS);
    });
  });

  it('sends each step to the model its routing rule names, and prices it at that model', async () => {
    const bundleId = await publish({ model: { id: 'gpt-4o', routing: { strong: 'gpt-4o', cheap: 'gpt-4o-mini' } } });
    const { view, requests, runId } = await run(bundleId, 'Route check, please');
    expect(view.status).toBe('completed');
    expect(view.output).toBe('Route done.');
    const modelSteps = view.steps.filter((s: any) => s.kind === 'model');
    const expected = ['gpt-4o', 'gpt-4o-mini', 'gpt-4o', 'gpt-4o', 'gpt-4o-mini'];
    expect(modelSteps.map((s: any) => s.name)).toEqual(expected);
    expect(modelSteps.map((s: any) => s.detail.routing.rule)).toEqual(['firstStep', 'default', 'afterToolError', 'afterInvalidToolCall', 'default']);
    expect(requests.map((r) => r.model)).toEqual(expected);
    // The tool rows that caused the escalations.
    expect(view.steps.filter((s: any) => s.kind === 'tool').map((s: any) => s.status)).toEqual(['ok', 'error', 'invalid_arguments', 'ok']);
    for (const s of modelSteps) expect(s.costUsd, `step ${s.step} (${s.name})`).toBeCloseTo(priceOf(s), 6);
    // The same prompt costs about 16 times as much on the strong model: routing shows in the bill.
    const perToken = (s: any) => s.costUsd / (s.inputTokens + s.outputTokens);
    expect(perToken(modelSteps[2])).toBeGreaterThan(perToken(modelSteps[1]) * 10);
    // The live events name the model of each step too.
    const events = await stack.db.query(
      `SELECT data->>'model' AS model FROM run_events WHERE run_id = $1 AND type = 'step.started' ORDER BY seq`,
      [runId],
    );
    expect(events.rows.map((r) => r.model)).toEqual(expected);
    // The Temporal UI names each model step's activity by the model the workflow routed it to: the same.
    const history = await stack.temporal.workflow.getHandle(runId).fetchHistory();
    const modelSummaries = activitySummaries(history.events ?? []).filter((s) => s.startsWith('callModel: '));
    expect(modelSummaries).toEqual(expected.map((model, i) => `callModel: model step ${i + 1} · ${model}`));
  });

  it('sends the whole history, uncut and unsummarised, to a bundle without a context budget', async () => {
    const bundleId = await publish({ limits: { maxSteps: 40 } });
    const { view, main, summaries } = await run(bundleId, chainInput(CHAIN_START));
    expect(view.status).toBe('completed');
    expect(view.output).toContain(CUSTOMER_CODE);
    expect(summaries).toHaveLength(0);
    expect(main.at(-1)!.messages).toHaveLength(1 + 1 + CHAIN_LENGTH * 2);
    expect(main.at(-1)!.messages.some((m) => m.content?.includes('[Truncated by Bosun'))).toBe(false);
    expect(view.steps.at(-1).inputTokens).toBeGreaterThan(BUDGET * 5);
    expect(view.steps.every((s: any) => s.ordinal >= 0)).toBe(true);
  });
});
