/**
 * Provider errors that are not rate limits, Retry-After on any status, and models without a price,
 * on the real stack: the scripted model answers with the statuses, headers and bodies real
 * providers send (docs/provider-errors.md).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { bundleIdOf } from '../../src/bundles/bundleId';
import { saveBundle } from '../../src/bundles/bundleStore';
import { supportDemoScript } from '../../src/dev/demoScript';
import type { ModelScript, ScriptedFault } from '../../src/dev/scriptedModel';
import { bundleContentSchema } from '../../src/shared/bundle';
import { useTestStack } from '../support/useTestStack';

const finished = ['completed', 'failed', 'budget_exceeded', 'step_limit', 'cancelled'];
const support = readBundleDir(path.resolve(__dirname, '../../agents/support')) as Record<string, any>;
const LOOKED_UP = 'Order 1001 is a mechanical keyboard.';

/** An OpenAI-style error answer for the first request of conversations starting with `prefix`. */
const errorFor = (prefix: string, status: number, error: Record<string, unknown>): ScriptedFault => ({
  when: { role: 'user', conversation: `^${prefix}` }, raw: { status, body: { error } },
});
const tooLong = {
  message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens.",
  type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded',
};

const script: ModelScript = {
  rules: [
    { when: { role: 'user', matches: '^Summarise the conversation' }, reply: { content: 'Overflow: the user asked to look up order 1001.' } },
    { when: { role: 'tool', tool: 'lookup_order', seen: '(Wait 5\\d\\d|Overflow|Priced|Free|Gone):' }, reply: { content: LOOKED_UP } },
    ...supportDemoScript.rules,
  ],
  faults: [
    errorFor('Quota', 429, { message: 'You exceeded your current quota', type: 'insufficient_quota', param: null, code: 'insufficient_quota' }),
    errorFor('Bad key', 401, { message: 'Incorrect API key provided: sk-…', type: 'invalid_request_error', param: null, code: 'invalid_api_key' }),
    errorFor('Unknown model', 404, { message: 'The model `gpt-9` does not exist', type: 'invalid_request_error', param: null, code: 'model_not_found' }),
    errorFor('Too long', 400, tooLong),
    // Under a context budget: the second step's prompt is refused once.
    { when: { role: 'tool', seen: 'Overflow:' }, raw: { status: 400, body: { error: tooLong } }, times: 1 },
    // A summary request refused once.
    {
      when: { role: 'user', matches: '^Summarise the conversation.*Refused summary' }, times: 1,
      raw: { body: { id: 'c', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', usage: { prompt_tokens: 90, completion_tokens: 9, total_tokens: 99 },
        choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: 'I cannot summarise this.' }, finish_reason: 'stop' }] } },
    },
    { when: { conversation: '^Wait 503' }, status: 503, retryAfterSeconds: 5, times: 1 },
    { when: { conversation: '^Wait 529' }, raw: { status: 529, headers: { 'retry-after-ms': '4000' }, body: { error: { type: 'overloaded_error', message: 'Overloaded' } } }, times: 1 },
  ],
};

describe('provider errors, Retry-After and model prices', () => {
  const stack = useTestStack({ script });

  const requestsOf = (prefix: string) =>
    stack.model.requests.filter((r) => r.messages.some((m) => m.role === 'user' && m.content?.startsWith(prefix)));
  const start = async (input: string, bundleId?: string) => {
    const res = await stack.api('POST', '/v1/runs', { agent: 'support', input, ...(bundleId ? { bundleId } : {}) });
    expect(res.status).toBe(202);
    return res.body.runId as string;
  };
  // Generous: what matters is that the run ends on its own, where a retried error would keep it running.
  const toTheEnd = async (runId: string) => stack.waitForRun(runId, (r) => finished.includes(r.status), 30_000);
  const publish = async (changes: Record<string, unknown>) => stack.api('POST', '/v1/bundles', { ...support, ...changes });

  describe('errors that are not rate limits end the run at once, with their code', () => {
    it.each([
      ['Quota', 'quota_exceeded', /429: You exceeded your current quota/],
      ['Bad key', 'provider_auth_failed', /401: Incorrect API key/],
      ['Unknown model', 'model_not_found', /404: The model `gpt-9` does not exist/],
      ['Too long', 'context_length_exceeded', /400: This model's maximum context length/],
    ])('%s → failed, %s', async (prefix, code, message) => {
      const run = await toTheEnd(await start(`${prefix}: look up order 1001`));
      expect(run.status).toBe('failed');
      expect(run.error).toEqual({ code, message: expect.stringMatching(message) });
      // Asked once: no retry, as a rate limit or otherwise.
      expect(requestsOf(prefix)).toHaveLength(1);
      expect(Object.values(run.retries).every((n) => n === 0)).toBe(true);
    });

    it('summarises older turns once when a prompt under the context budget is still too long, then carries on', async () => {
      const published = await publish({ context: { maxInputTokens: 100_000 } });
      expect(published.status).toBe(201);
      const run = await toTheEnd(await start('Overflow: look up order 1001', published.body.bundleId));
      expect(run).toMatchObject({ status: 'completed', output: LOOKED_UP });
      expect(run.retries.context_length_exceeded).toBe(1);
      const [first, refused, summary, again] = stack.model.requests.filter((r) => r.messages.some((m) => /Overflow:/.test(m.content ?? '')));
      expect([first, refused, summary, again].map((r) => r?.answeredWith)).toEqual([200, 400, 200, 200]);
      expect(summary!.messages[1]!.content).toMatch(/^Summarise the conversation/);
      // The step asked again sees the summary instead of the turns it replaces.
      expect(again!.messages.some((m) => m.content === 'Overflow: look up order 1001')).toBe(false);
      expect(refused!.messages.some((m) => m.content === 'Overflow: look up order 1001')).toBe(true);
      expect(run.steps.find((s: any) => s.detail.summary)).toMatchObject({ step: 2, kind: 'model' });
    });
  });

  it('asks once more when the summary of older turns is refused, rather than lose those turns', async () => {
    // A budget so small that the second step summarises the first.
    const published = await publish({ context: { maxInputTokens: 256 } });
    expect(published.status).toBe(201);
    const run = await toTheEnd(await start('Refused summary: look up order 1001', published.body.bundleId));
    expect(run).toMatchObject({ status: 'completed', output: LOOKED_UP });
    expect(run.retries.model_refused).toBe(1);
    const step2 = run.steps.filter((s: any) => s.step === 2 && s.kind === 'model');
    expect(step2.map((s: any) => [s.status, s.detail.refusal, s.detail.summary])).toEqual([
      ['model_refused', 'I cannot summarise this.', undefined], ['ok', undefined, true], ['ok', undefined, undefined],
    ]);
    expect(run.usage.costUsd).toBeCloseTo(run.steps.reduce((sum: number, s: any) => sum + s.costUsd, 0), 6);
  });

  describe('Retry-After is honoured on any status, and counted under its reason', () => {
    it.each([
      ['Wait 503', 503, 5000],
      ['Wait 529', 529, 4000],
    ])('%s', async (prefix, status, askedMs) => {
      const run = await toTheEnd(await start(`${prefix}: look up order 1001`));
      expect(run).toMatchObject({ status: 'completed', output: LOOKED_UP });
      const [refused, retried] = requestsOf(prefix);
      expect([refused?.answeredWith, retried?.answeredWith]).toEqual([status, 200]);
      // Arrival times at the provider itself: never sooner than it asked.
      expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(askedMs);
      expect(run.retries['5xx']).toBe(1);
      const { rows } = await stack.db.query('SELECT status, retry_after_ms, delay_ms FROM model_retries WHERE run_id = $1', [run.runId]);
      expect(rows).toEqual([{ status, retry_after_ms: askedMs, delay_ms: expect.any(Number) }]);
      expect(rows[0].delay_ms).toBeGreaterThanOrEqual(askedMs);
    });
  });

  describe('every model a run may call has a price', () => {
    it('refuses to publish a bundle whose model, or routing model, has no price, naming it', async () => {
      const unpriced = await publish({ model: { id: 'acme-large' } });
      expect(unpriced.status).toBe(400);
      expect(unpriced.body.error.problems).toEqual([expect.stringMatching(/^model\.id: model "acme-large" has no price/)]);
      const cheapUnpriced = await publish({ model: { id: 'gpt-4o-mini', routing: { strong: 'gpt-4o-mini', cheap: 'acme-small' } } });
      expect(cheapUnpriced.status).toBe(400);
      expect(cheapUnpriced.body.error.problems).toEqual([expect.stringMatching(/^model\.routing\.cheap: model "acme-small" has no price/)]);
    });

    it("charges a run at the bundle's own price for a model the table lacks", async () => {
      const published = await publish({ model: { id: 'acme-large', prices: { 'acme-large': { input: 3, output: 15 } } } });
      expect(published.status).toBe(201);
      const run = await toTheEnd(await start('Priced: look up order 1001', published.body.bundleId));
      expect(run.status).toBe('completed');
      const steps = run.steps.filter((s: any) => s.kind === 'model');
      expect(steps.map((s: any) => s.name)).toEqual(['acme-large', 'acme-large']);
      for (const s of steps) expect(s.costUsd).toBeCloseTo((s.inputTokens * 3 + s.outputTokens * 15) / 1e6, 6);
      expect(run.usage.costUsd).toBeGreaterThan(0);
    });

    it('runs a model the bundle says is free, with its reason, at $0', async () => {
      const published = await publish({ model: { id: 'acme-free', prices: { 'acme-free': { zero: true, reason: 'self-hosted' } } } });
      expect(published.status).toBe(201);
      const run = await toTheEnd(await start('Free: look up order 1001', published.body.bundleId));
      expect(run).toMatchObject({ status: 'completed', usage: { costUsd: 0 } });
    });

    it('fails a run before the call when its model has lost its price', async () => {
      // Published when the price table still had the model; this worker's table lacks it.
      const content = bundleContentSchema.parse({ ...support, systemPrompt: 'You help customers.', model: { id: 'acme-gone' } });
      const bundle = { ...content, id: bundleIdOf(content) };
      await saveBundle(stack.db, stack.tenantId, bundle, 'test');
      const run = await toTheEnd(await start('Gone: look up order 1001', bundle.id));
      expect(run.status).toBe('failed');
      expect(run.error).toEqual({ code: 'model_unpriced', message: expect.stringMatching(/model "acme-gone" has no price/) });
      expect(requestsOf('Gone')).toHaveLength(0);
      expect(run.usage.costUsd).toBe(0);
    });
  });
});
