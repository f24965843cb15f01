/**
 * Long-term memory in staging (issue 15, docs/staging.md), on the real stack (worker process,
 * Temporal, PostgreSQL, scripted model): a staging run's memory tools never see production memory.
 * With a sandbox tenant they search that tenant's memory; without one, the tenant's own staging
 * memory (`<tenant>:sandbox`); a staging save never lands in production memory.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { makeAgentsDir } from '../support/agentsDir';
import { useTestStack } from '../support/useTestStack';

const agents = makeAgentsDir({
  concierge: {
    prompt: 'You remember what guests tell you.',
    bundle: {
      model: { id: 'gpt-4o-mini' },
      tools: [{ name: 'memory_search', version: 1 }, { name: 'memory_save', version: 1, approval: 'never' }],
      limits: { maxSteps: 6 },
      memory: { namespaces: [{ name: 'guests' }] },
    },
  },
});

const script = {
  rules: [
    { when: { role: 'user' as const, matches: '^remember that (.+)$' }, reply: { toolCalls: [{ name: 'memory_save', arguments: '{"text":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'memory_save', matches: '"action":"(\\w+)"' }, reply: { content: 'Saved ($1).' } },
    { when: { role: 'user' as const, matches: '^what do you know about (.+)$' }, reply: { toolCalls: [{ name: 'memory_search', arguments: '{"query":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'memory_search', matches: '"records":\\[\\]' }, reply: { content: 'I remember nothing about that.' } },
    { when: { role: 'tool' as const, tool: 'memory_search', matches: '"text":"([^"]*)"' }, reply: { content: 'I remember: $1' } },
    { when: { role: 'tool' as const, matches: '"error":"([^"]*)"' }, reply: { content: 'Memory failed: $1' } },
  ],
};

const terminal = ['completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded'];

describe('long-term memory in staging', () => {
  const stack = useTestStack({ agentsDir: agents.dir, script });
  afterAll(() => agents.remove());

  async function finishedRun(input: string, environment: 'production' | 'staging') {
    const res = await stack.api('POST', '/v1/runs', { agent: 'concierge', input, environment });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const view = await stack.waitForRun(res.body.runId, (r) => terminal.includes(r.status), 300_000);
    expect(view.status, JSON.stringify(view)).toBe('completed');
    return view;
  }
  /** The texts of the records memory_search handed the model in the run whose input was `input` (each input is used once). */
  const recalledTexts = (input: string): string[] => {
    const request = stack.model.requests.find((r) => r.messages.some((m) => m.role === 'user' && m.content === input) && r.messages.at(-1)?.role === 'tool');
    return JSON.parse(request!.messages.at(-1)!.content!).records.map((r: { text: string }) => r.text);
  };
  const memoryTexts = async (tenant: string) =>
    (await stack.db.query('SELECT text FROM memories WHERE tenant_id = $1 ORDER BY text', [tenant])).rows.map((r) => r.text);

  it("searches the sandbox tenant's memory, or the tenant's staging memory, never production's; saves none there", async () => {
    const saved = await finishedRun('remember that Grace Hopper lives at 12 Navy Road', 'production');
    expect(saved.output).toBe('Saved (created).');
    // Production finds it.
    const asked = 'what do you know about Grace Hopper';
    expect((await finishedRun(asked, 'production')).output).toBe('I remember: Grace Hopper lives at 12 Navy Road');
    expect(recalledTexts(asked)).toEqual(['Grace Hopper lives at 12 Navy Road']);

    // A sandbox tenant with a record of its own.
    const sandboxTenant = `${stack.tenantId}:sandbox:memory`;
    await stack.db.query(
      `INSERT INTO memories (memory_id, tenant_id, namespace, text, trust, source)
       VALUES (gen_random_uuid(), $1, 'guests', 'Grace Hopper is a test guest at 1 Sandbox Lane', 'operator', '{"kind":"operator"}')`,
      [sandboxTenant],
    );
    const staged = await stack.api('PUT', '/v1/agents/concierge/staging', { bundleId: saved.bundleId, sandboxTenant });
    expect(staged.status, JSON.stringify(staged.body)).toBe(200);
    const inSandbox = 'what do you know about grace hopper';
    const sandboxRecall = await finishedRun(inSandbox, 'staging');
    expect(sandboxRecall.environment).toBe('staging');
    expect(recalledTexts(inSandbox)).toEqual(['Grace Hopper is a test guest at 1 Sandbox Lane']);
    expect(sandboxRecall.output).not.toContain('Navy Road');

    // No sandbox tenant: the tenant's own staging memory, empty here; production's stays out.
    expect((await stack.api('PUT', '/v1/agents/concierge/staging', { bundleId: saved.bundleId, sandboxTenant: null })).status).toBe(200);
    const unsandboxed = 'what do you know about GRACE HOPPER';
    expect((await finishedRun(unsandboxed, 'staging')).output).toBe('I remember nothing about that.');
    expect(recalledTexts(unsandboxed)).toEqual([]);

    // A staging save (memory_save has no sandbox implementation) is refused; production memory is as it was.
    const stagingSave = await finishedRun('remember that Grace Hopper moved to 3 Staging Street', 'staging');
    expect(stagingSave.output).toMatch(/^Memory failed: .*sandbox/);
    expect(await memoryTexts(stack.tenantId)).toEqual(['Grace Hopper lives at 12 Navy Road']);
    expect(await memoryTexts(`${stack.tenantId}:sandbox`)).toEqual([]);
  }, 600_000);
});
