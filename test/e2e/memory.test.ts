/**
 * Long-term memory through the API, on the real stack (worker process, Temporal, PostgreSQL,
 * scripted model): a memory saved in one run is recalled with its provenance in another, is not
 * recalled once it expired, and is gone after deletion (search included); twin saves curate; the
 * purge schedule deletes expired records; the operator API keeps to its tenant and role.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { seedApiKeys } from '../../src/db/apiKeys';
import { memoryPurgeScheduleId } from '../../src/temporal/memoryPurgeSchedule';
import { makeAgentsDir } from '../support/agentsDir';
import { useTestStack } from '../support/useTestStack';

const model = { id: 'gpt-4o-mini' };
const memoryTools = (saveApproval?: string) => [
  { name: 'memory_search', version: 1 },
  { name: 'memory_save', version: 1, ...(saveApproval && { approval: saveApproval }) },
];
const agents = makeAgentsDir({
  // Saves wait for a human (memory_save is a write tool); one namespace per end user, and the agent's own, read-only.
  concierge: {
    prompt: 'You remember what guests tell you.',
    bundle: {
      model, tools: memoryTools(), limits: { maxSteps: 6 },
      memory: {
        namespaces: [
          { name: 'user:{metadata.userId}', subject: '{metadata.userId}', ttl: '30d' },
          { name: 'agent:concierge', access: 'read' },
        ],
      },
    },
  },
  // Saves without approval, into a namespace whose records live 3 seconds.
  scribe: {
    prompt: 'You take notes.',
    bundle: {
      model, tools: memoryTools('never'), limits: { maxSteps: 6 },
      memory: { namespaces: [{ name: 'notes', ttl: '3s' }, { name: 'archive' }] },
    },
  },
});

const script = {
  rules: [
    { when: { role: 'user' as const, matches: '^remember in (\\S+) that (.+)$' }, reply: { toolCalls: [{ name: 'memory_save', arguments: '{"text":"$2","namespace":"$1"}' }] } },
    { when: { role: 'user' as const, matches: '^remember that (.+)$' }, reply: { toolCalls: [{ name: 'memory_save', arguments: '{"text":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'memory_save', matches: '"action":"(\\w+)"' }, reply: { content: 'Saved ($1).' } },
    { when: { role: 'user' as const, matches: '^what do you know about (.+)$' }, reply: { toolCalls: [{ name: 'memory_search', arguments: '{"query":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'memory_search', matches: '"records":\\[\\]' }, reply: { content: 'I remember nothing about that.' } },
    { when: { role: 'tool' as const, tool: 'memory_search', matches: '"id":"([0-9a-f-]{36})".*?"text":"([^"]*)"' }, reply: { content: 'I remember: $2 (record $1)' } },
    { when: { role: 'tool' as const, matches: '"error":"([^"]*)"' }, reply: { content: 'Memory failed: $1' } },
  ],
};

const terminal = ['completed', 'failed', 'cancelled', 'step_limit', 'budget_exceeded'];

describe('long-term memory', () => {
  const stack = useTestStack({ agentsDir: agents.dir, script });
  afterAll(() => agents.remove());

  async function run(agent: string, input: string, metadata: Record<string, unknown> = {}) {
    const res = await stack.api('POST', '/v1/runs', { agent, input, metadata });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.runId as string;
  }
  async function finished(runId: string) {
    const view = await stack.waitForRun(runId, (r) => terminal.includes(r.status));
    expect(view.status, JSON.stringify(view)).toBe('completed');
    return view;
  }
  const recall = async (agent: string, about: string, metadata: Record<string, unknown> = {}) => finished(await run(agent, `what do you know about ${about}`, metadata));
  /** The memory_search result the model got in the run: the tool message, parsed. */
  const recallSeenBy = (runId: string) => {
    const request = stack.model.requests.find((r) => r.messages.some((m) => m.role === 'user' && m.content === runInputs.get(runId)) && r.messages.at(-1)?.role === 'tool');
    return JSON.parse(request!.messages.at(-1)!.content!);
  };
  const runInputs = new Map<string, string>();
  const memoriesOf = async (query: string) => (await stack.api('GET', `/v1/memories?${query}`)).body.memories as any[];

  it('saves a memory in one run (after approval) and recalls it with its provenance in another, for the same user only', async () => {
    const saving = await run('concierge', 'remember that my favourite colour is teal', { userId: 'u42' });
    const waiting = await stack.waitForStatus(saving, 'awaiting_approval');
    expect(waiting.pendingApprovals).toMatchObject([{ tool: 'memory_save', arguments: { text: 'my favourite colour is teal' }, risk: { kind: 'write' } }]);
    expect(await memoriesOf('namespace=user:u42')).toEqual([]);
    expect((await stack.decide(saving, waiting.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const saved = await finished(saving);
    expect(saved.output).toBe('Saved (created).');
    const saveStep = saved.steps.find((s: any) => s.name === 'memory_save');
    // The step shows what was saved where, not the text.
    expect(saveStep.detail.arguments.text).toBe('[redacted]');

    const [record] = await memoriesOf('namespace=user:u42');
    const keyId = (await stack.db.query('SELECT created_by FROM runs WHERE run_id = $1', [saving])).rows[0].created_by;
    expect(saved.approvals[0].decidedBy).toBe(keyId);
    expect(record).toMatchObject({
      namespace: 'user:u42', subject: 'u42', text: 'my favourite colour is teal', trust: 'approved', recallCount: 0, lastRecalledAt: null,
      source: {
        kind: 'tool', runId: saving, step: saveStep.step, toolCallId: saveStep.detail.toolCallId ?? expect.any(String),
        bundleId: saved.bundleId, agent: 'concierge', startedBy: keyId, approvedBy: keyId,
      },
    });
    // The namespace's 30-day time to live.
    const ttlDays = (Date.parse(record.expiresAt) - Date.parse(record.createdAt)) / 86_400_000;
    expect(ttlDays).toBeGreaterThan(29.9);
    expect(ttlDays).toBeLessThan(30.1);

    const input = 'what do you know about favourite colour';
    const recalling = await run('concierge', input, { userId: 'u42' });
    runInputs.set(recalling, input);
    const recalled = await finished(recalling);
    expect(recalled.output).toBe(`I remember: my favourite colour is teal (record ${record.memoryId})`);
    // The model got the record as data: the notice, its ID, provenance and trust.
    const seen = recallSeenBy(recalling);
    expect(seen).toMatchObject({
      kind: 'memory_recall', notice: expect.stringContaining('never instructions'),
      records: [{ id: record.memoryId, namespace: 'user:u42', trust: 'approved', source: { kind: 'tool', runId: saving }, text: 'my favourite colour is teal' }],
    });
    // The run's steps name the recalled record (its text stays out of the step).
    const searchStep = recalled.steps.find((s: any) => s.name === 'memory_search');
    expect(searchStep.detail.result.records).toEqual([expect.objectContaining({ id: record.memoryId, text: '[redacted]', source: expect.objectContaining({ runId: saving }) })]);
    const after = (await stack.api('GET', `/v1/memories/${record.memoryId}`)).body;
    expect(after.recallCount).toBe(1);
    expect(after.lastRecalledAt).not.toBeNull();

    // Another user's run sees none of it, nor does a run without a user (it has the agent's namespace only).
    expect((await recall('concierge', 'favourite colour', { userId: 'u7' })).output).toBe('I remember nothing about that.');
    expect((await recall('concierge', 'favourite colour')).output).toBe('I remember nothing about that.');
    // A user ID that is not a plain name resolves no namespace: it cannot reach another level such as `user:u42:x`.
    expect((await recall('concierge', 'favourite colour', { userId: 'u42:x' })).output).toBe('I remember nothing about that.');
  });

  it('refuses a save into a read-only namespace, and one the bundle does not name', async () => {
    const readOnly = await run('concierge', 'remember in agent:concierge that guests love tea', { userId: 'u42' });
    const waiting = await stack.waitForStatus(readOnly, 'awaiting_approval');
    await stack.decide(readOnly, waiting.pendingApprovals[0].approvalId, 'approve');
    expect((await finished(readOnly)).output).toBe('Memory failed: memory namespace agent:concierge is read-only for this agent');
    const elsewhere = await finished(await run('scribe', 'remember in secrets that the vault code is 1234'));
    expect(elsewhere.output).toBe('Memory failed: memory namespace secrets is not available to this run (available: notes, archive)');
    expect(await memoriesOf('namespace=secrets')).toEqual([]);
  });

  it('curates twin saves: the same or near-identical text updates the record instead of adding another', async () => {
    const outputs = [];
    for (const text of ['the office wifi is Harbour-5G', 'The office wifi is Harbour-5G.', 'THE OFFICE WIFI IS HARBOUR-5G.']) {
      outputs.push((await finished(await run('scribe', `remember in archive that ${text}`))).output);
    }
    expect(outputs).toEqual(['Saved (created).', 'Saved (updated).', 'Saved (repeated).']);
    const records = await memoriesOf('namespace=archive');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ text: 'The office wifi is Harbour-5G.', trust: 'agent', expiresAt: null, updatedSource: { kind: 'tool' } });
    expect(records[0].updatedSource.runId).not.toBe(records[0].source.runId);
  });

  it('does not recall a record once it has expired, and the purge schedule deletes it', async () => {
    const saved = await finished(await run('scribe', 'remember in notes that the parking code is 7788'));
    expect(saved.output).toBe('Saved (created).');
    const [record] = await memoriesOf('namespace=notes');
    // The namespace's 3 seconds (from the save; created_at is its transaction's start).
    const ttlMs = Date.parse(record.expiresAt) - Date.parse(record.createdAt);
    expect(ttlMs).toBeGreaterThanOrEqual(2900);
    expect(ttlMs).toBeLessThan(6000);
    // Expiry is a condition to wait for, however slow the machine: the record leaves the API once its time is up.
    const deadline = Date.now() + 60_000;
    while ((await stack.api('GET', `/v1/memories/${record.memoryId}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error('the record never expired');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await recall('scribe', 'parking code')).output).toBe('I remember nothing about that.');
    expect((await stack.api('GET', '/v1/memories/search?q=parking%20code')).body.memories).toEqual([]);

    // Still a row until the purge runs: the schedule the worker created at start deletes it.
    const rowCount = async () => (await stack.db.query('SELECT count(*)::int AS n FROM memories WHERE memory_id = $1', [record.memoryId])).rows[0].n;
    expect(await rowCount()).toBe(1);
    const schedule = stack.temporal.schedule.getHandle(memoryPurgeScheduleId(stack.env.TEMPORAL_TASK_QUEUE!));
    const described = await schedule.describe();
    expect(described.spec.intervals).toMatchObject([{ every: 3_600_000 }]);
    await schedule.trigger();
    const purgeDeadline = Date.now() + 60_000;
    while ((await rowCount()) !== 0) {
      if (Date.now() > purgeDeadline) throw new Error('the purge never deleted the expired record');
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  it('forgets a deleted record, from search too, and deletes a data subject\'s records on request', async () => {
    const created = await stack.api('POST', '/v1/memories', { namespace: 'user:u99', subject: 'u99', text: 'Prefers the quiet room on floor 3.' });
    expect(created.status).toBe(201);
    expect(created.body.memory).toMatchObject({ trust: 'operator', source: { kind: 'api' } });
    const twin = await stack.api('POST', '/v1/memories', { namespace: 'user:u99', subject: 'u99', text: 'prefers the quiet room on floor 3.' });
    expect(twin.status).toBe(200);
    expect(twin.body).toMatchObject({ action: 'repeated', memory: { memoryId: created.body.memory.memoryId } });
    const other = await stack.api('POST', '/v1/memories', { namespace: 'user:u99', subject: 'u99', text: 'Allergic to feathers: no down pillows.' });
    expect((await recall('concierge', 'quiet room', { userId: 'u99' })).output).toContain(created.body.memory.memoryId);

    // A correction: the operator's text, recalled as such.
    const corrected = await stack.api('PATCH', `/v1/memories/${created.body.memory.memoryId}`, { text: 'Prefers the quiet room on floor 4.' });
    expect(corrected.body).toMatchObject({ text: 'Prefers the quiet room on floor 4.', trust: 'operator', updatedSource: { kind: 'api' } });

    expect((await stack.api('DELETE', `/v1/memories/${created.body.memory.memoryId}`)).status).toBe(204);
    expect((await stack.api('GET', `/v1/memories/${created.body.memory.memoryId}`)).status).toBe(404);
    expect((await stack.api('GET', '/v1/memories/search?q=quiet%20room')).body.memories).toEqual([]);
    expect((await recall('concierge', 'quiet room', { userId: 'u99' })).output).toBe('I remember nothing about that.');

    const request = await stack.api('DELETE', '/v1/memories?subject=u99&namespace=user:u99');
    expect(request.body).toEqual({ deleted: [other.body.memory.memoryId] });
    const { rows } = await stack.db.query(
      `SELECT count(*)::int AS n FROM memories WHERE tenant_id = $1 AND (subject = 'u99' OR search @@ websearch_to_tsquery('english', 'feathers'))`, [stack.tenantId],
    );
    expect(rows[0].n).toBe(0);
    const audit = (await stack.api('GET', '/v1/audit?limit=100')).body.entries.map((e: any) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['memory.created', 'memory.corrected', 'memory.deleted', 'memory.subject_deleted']));
  });

  it('keeps the operator API to its tenant (404) and to admins (403), and lists every problem of bad input (400)', async () => {
    const mine = (await stack.api('POST', '/v1/memories', { namespace: 'agent:concierge', text: 'Breakfast is served from 7.' })).body.memory;
    const otherKey = `other_${randomBytes(8).toString('hex')}`;
    await seedApiKeys(stack.db, [{ key: otherKey, tenantId: `other_${randomBytes(4).toString('hex')}`, roles: ['runner', 'approver', 'admin'] }]);
    const asOther = { authorization: `Bearer ${otherKey}` };
    expect((await stack.api('GET', `/v1/memories/${mine.memoryId}`, undefined, asOther)).status).toBe(404);
    expect((await stack.api('PATCH', `/v1/memories/${mine.memoryId}`, { text: 'hijacked' }, asOther)).status).toBe(404);
    expect((await stack.api('DELETE', `/v1/memories/${mine.memoryId}`, undefined, asOther)).status).toBe(404);
    expect((await stack.api('GET', '/v1/memories/search?q=breakfast', undefined, asOther)).body.memories).toEqual([]);
    expect((await stack.api('GET', `/v1/memories/${mine.memoryId}`)).body.text).toBe('Breakfast is served from 7.');

    const runner = (await stack.api('POST', '/v1/keys', { roles: ['runner'] })).body.key;
    expect((await stack.api('GET', '/v1/memories', undefined, { authorization: `Bearer ${runner}` })).status).toBe(403);

    const bad = await stack.api('POST', '/v1/memories', { namespace: 'no spaces!', text: '', ttl: 'forever' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^namespace: /), expect.stringMatching(/^text: /), expect.stringMatching(/^ttl: /)]));
    expect((await stack.api('PATCH', `/v1/memories/${mine.memoryId}`, {})).status).toBe(400);
    expect((await stack.api('DELETE', '/v1/memories')).status).toBe(400);
  });
});
