/**
 * Conversations on threads through the API (docs/conversations.md): a three-turn conversation on
 * workers killed and replaced between turns, within the bundle's context budget; each double-texting
 * strategy with two messages 10 ms apart (and a rollback refused after a write); a streamed run's
 * deltas.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { countRefunds, testAgentsDir, type ApiResponse } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';
import { openSse, type SseEvent } from '../support/sse';
import { claimWrite } from '../../src/db/threads';

const finished = ['completed', 'failed', 'cancelled', 'budget_exceeded', 'step_limit'];
const BUDGET = 1200;
const PAD = ' Some background you may ignore:'.padEnd(2400, ' lorem ipsum dolor sit amet');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('threads', () => {
  const stack = useTestStack({
    agentsDir: testAgentsDir,
    script: {
      rules: [
        { when: { role: 'user', matches: '^Summarise the conversation.*secret word is (\\w+)' }, reply: { content: 'The user said: my secret word is $1.' } },
        { when: { role: 'user', matches: '^Summarise the conversation' }, reply: { content: 'Nothing to remember.' } },
        { when: { role: 'user', matches: 'What is my secret word', seen: 'secret word is (\\w+)' }, reply: { content: 'Your secret word is $S1.' } },
        { when: { role: 'user', matches: 'What is my secret word' }, reply: { content: 'I do not know your secret word.' } },
        { when: { role: 'user', matches: 'secret word is|Another note' }, reply: { content: 'Noted.' } },
        { when: { role: 'user', matches: '^Slow task (\\w+)' }, reply: { content: 'Slow task $1 done.' }, latencyMs: 1500 },
        { when: { role: 'user', matches: '^Quick task (\\w+)' }, reply: { content: 'Quick task $1 done.' } },
        { when: { role: 'user', matches: '^Look up order (\\d+)' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] }, latencyMs: 300 },
        { when: { role: 'tool', tool: 'lookup_order' }, reply: { content: 'Looked it up.' }, latencyMs: 300 },
        { when: { role: 'user', matches: '^Refund order (\\d+)' }, reply: { toolCalls: [{ name: 'issue_refund', arguments: '{"order_id":"$1","amount_cents":100}' }] } },
        // The answer after a refund takes long: the run is still active when the next message comes.
        { when: { role: 'tool', tool: 'issue_refund' }, reply: { content: 'Refunded.' }, latencyMs: 3000 },
        { when: { role: 'user', matches: 'Tell me a (\\w+ )?story' }, reply: { content: 'Once upon a time a bosun steered a durable ship through a stormy sea and every sailor got home.' }, latencyMs: 1500, chunkDelayMs: 60 },
      ],
      faults: [{ when: { role: 'user', matches: 'Tell me a retried story' }, status: 500, times: 1 }],
    },
  });
  let budgetBundleId: string;

  beforeAll(async () => {
    const base = readBundleDir(`${testAgentsDir}/support`) as Record<string, unknown>;
    const published = await stack.api('POST', '/v1/bundles', { ...base, context: { maxInputTokens: BUDGET } });
    expect(published.status, JSON.stringify(published.body)).toBeLessThan(300);
    budgetBundleId = published.body.bundleId;
  });

  const newThread = async (body: Record<string, unknown> = { agent: 'support' }) => {
    const created = await stack.api('POST', '/v1/threads', body);
    expect(created.status).toBe(201);
    return created.body.threadId as string;
  };
  const send = (threadId: string, body: Record<string, unknown>) => stack.api('POST', `/v1/threads/${threadId}/runs`, body);
  const done = (runId: string) => stack.waitForRun(runId, (r) => finished.includes(r.status), 90_000);
  /**
   * Two messages 10 ms apart with the same strategy: the second is sent before the first is answered.
   * Whichever reaches the thread's lock first is turn 1: the answers come back as [turn 1, turn 2]
   * (for reject: [accepted, refused]).
   */
  async function twoMessages(threadId: string, strategy: string, inputs: [string, string], extra: Record<string, unknown> = {}): Promise<[ApiResponse, ApiResponse]> {
    const body = (input: string) => ({ input, ...extra, ...(strategy && { multitaskStrategy: strategy }) });
    const a = send(threadId, body(inputs[0]));
    await sleep(10);
    const b = send(threadId, body(inputs[1]));
    const answers = [await a, await b];
    const order = (r: ApiResponse) => (r.status === 202 ? r.body.turn : 99);
    return answers.sort((x, y) => order(x) - order(y)) as [ApiResponse, ApiResponse];
  }
  const inputOf = async (runId: string) => (await stack.api('GET', `/v1/runs/${runId}`)).body.input as string;
  const requestsWith = (text: string) => stack.model.requests.filter((r) => r.messages.some((m) => m.role === 'user' && m.content?.includes(text)));

  it('answers turn 3 with a fact from turn 1, on workers replaced between turns, within the context budget', async () => {
    const threadId = await newThread();
    const turns = ['My secret word is PELICAN.' + PAD, 'Another note.' + PAD, 'What is my secret word?'];
    const runIds: string[] = [];
    for (const [i, input] of turns.entries()) {
      if (i > 0) {
        await stack.worker.kill();
        await stack.startWorker();
      }
      const started = await send(threadId, { input, bundleId: budgetBundleId });
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({ threadId, turn: i + 1 });
      runIds.push(started.body.runId);
      expect((await done(started.body.runId)).status).toBe('completed');
    }
    const third = await stack.api('GET', `/v1/runs/${runIds[2]}`);
    expect(third.body.output).toBe('Your secret word is PELICAN.');

    // Every model call of every turn stayed within the budget.
    for (const runId of runIds) {
      const { body } = await stack.api('GET', `/v1/runs/${runId}`);
      for (const s of body.steps.filter((x: any) => x.kind === 'model' && x.ordinal === 0)) {
        expect(s.detail.context.estimatedInputTokens).toBeLessThanOrEqual(BUDGET);
      }
    }
    // Turn 2 summarised turn 1 once; turn 3 reused that summary (made by an earlier turn) and made none.
    const summaries = await stack.db.query('SELECT run_id, through_turn FROM thread_summaries WHERE thread_id = $1', [threadId]);
    expect(summaries.rows).toEqual([{ run_id: runIds[1], through_turn: 1 }]);
    const thirdStep = third.body.steps.find((s: any) => s.ordinal === 0);
    expect(thirdStep.detail.context).toMatchObject({ summaryStep: -1 });
    expect(third.body.steps.some((s: any) => s.ordinal === -1)).toBe(false);
    // The request of turn 3 carried the summary, not turn 1's text.
    const turn3Request = requestsWith('What is my secret word').at(-1)!;
    expect(JSON.stringify(turn3Request.messages)).toContain('my secret word is PELICAN');
    expect(turn3Request.messages.some((m) => m.content?.startsWith('My secret word is PELICAN.'))).toBe(false);

    // The thread's transcript stays whole: all three turns, turn 1's padding included.
    const view = await stack.api('GET', `/v1/threads/${threadId}`);
    expect(view.body.state).toBe('idle');
    expect(view.body.runs.map((r: any) => r.runId)).toEqual(runIds);
    expect(view.body.messages.filter((m: any) => m.role === 'user').map((m: any) => m.content)).toEqual(turns);
  }, 240_000);

  it('refuses a thread for an agent without a deployment with the 400 POST /v1/runs answers', async () => {
    const thread = await stack.api('POST', '/v1/threads', { agent: 'nope' });
    const run = await stack.api('POST', '/v1/runs', { agent: 'nope', input: 'Hello' });
    expect(run.status).toBe(400);
    expect(thread.status).toBe(400);
    expect(thread.body.error).toEqual(run.body.error);
    expect(thread.body.error.problems).toEqual([expect.stringContaining('agent: unknown agent "nope"')]);
  });

  it('shows a tool result on the thread as the run view does: redacted by the tool\'s rules, while the model saw it whole', async () => {
    const threadId = await newThread();
    const sent = await send(threadId, { input: 'Look up order 1004' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect((await done(sent.body.runId)).status).toBe('completed');

    const run = await stack.api('GET', `/v1/runs/${sent.body.runId}`);
    const step = run.body.steps.find((s: any) => s.kind === 'tool' && s.name === 'lookup_order');
    expect(step.detail.result.customer).toBe('[redacted]');
    const view = await stack.api('GET', `/v1/threads/${threadId}`);
    const toolMessages = view.body.messages.filter((m: any) => m.role === 'tool');
    expect(toolMessages).toHaveLength(1);
    expect(JSON.parse(toolMessages[0].content)).toEqual(step.detail.result);
    // What the model was shown is unchanged: the customer's name, for it to answer with.
    const toolTurn = stack.model.requests.find((r) => r.messages.some((m) => m.role === 'tool' && m.content?.includes('1004')));
    const shownToModel = JSON.parse(toolTurn!.messages.find((m) => m.role === 'tool')!.content!);
    expect(shownToModel.customer).not.toBe('[redacted]');
    expect(shownToModel.customer.length).toBeGreaterThan(0);
  }, 120_000);

  it('reject: of two messages 10 ms apart one is accepted, the other answers 409, and the thread goes on once the first has finished', async () => {
    const threadId = await newThread();
    const [a, b] = await twoMessages(threadId, 'reject', ['Slow task R1', 'Slow task R2']);
    expect(a.status).toBe(202);
    expect(b.status).toBe(409);
    expect(b.body.error.code).toBe('thread_busy');
    expect((await done(a.body.runId)).status).toBe('completed');
    const c = await send(threadId, { input: 'Quick task R3', multitaskStrategy: 'reject' });
    expect(c.status).toBe(202);
    expect(c.body.turn).toBe(2);
    expect((await done(c.body.runId)).status).toBe('completed');
  }, 120_000);

  it('enqueue: the second message runs after the first, in order, and sees its answer', async () => {
    const threadId = await newThread();
    const [a, b] = await twoMessages(threadId, 'enqueue', ['Slow task E1', 'Slow task E2']);
    expect([a.status, b.status, a.body.turn, b.body.turn]).toEqual([202, 202, 1, 2]);
    const [first, second] = [await done(a.body.runId), await done(b.body.runId)];
    expect([first.status, second.status]).toEqual(['completed', 'completed']);
    // Admitted only once the first had finished (timestamps of the same database, not durations).
    expect(Date.parse(second.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.finishedAt));
    const request = requestsWith(second.input).at(-1)!;
    expect(request.messages.map((m) => m.content)).toEqual(expect.arrayContaining([first.input, first.output]));
  }, 120_000);

  it("interrupt: the first run stops at its next safe point and the second sees everything it did", async () => {
    const threadId = await newThread();
    const [a, b] = await twoMessages(threadId, 'interrupt', ['Look up order 1001', 'Look up order 1003']);
    expect([a.status, b.status]).toEqual([202, 202]);
    const first = await done(a.body.runId);
    expect(first.status).toBe('cancelled');
    expect(first.error.code).toBe('interrupted');
    expect((await done(b.body.runId)).status).toBe('completed');
    // Whatever the first run stored, the second run's model saw (its transcript, in order).
    const stored = await stack.db.query(
      `SELECT role, content FROM run_messages WHERE run_id = $1 AND ordinal >= 0 AND (role <> 'assistant' OR content IS NOT NULL) ORDER BY step, ordinal`,
      [a.body.runId],
    );
    const secondInput = await inputOf(b.body.runId);
    const seen = requestsWith(secondInput).map((r) => r.messages.map((m) => m.content));
    expect(stored.rows.length).toBeGreaterThan(0);
    for (const request of seen) expect(request).toEqual(expect.arrayContaining(stored.rows.map((r) => r.content)));
  }, 120_000);

  it('interrupt: a run waiting for an approval stops without running the call, and the next run sees the request', async () => {
    const threadId = await newThread();
    const a = await send(threadId, { input: 'Refund order 1001' });
    await stack.waitForStatus(a.body.runId, 'awaiting_approval');
    const b = await send(threadId, { input: 'Quick task I3', multitaskStrategy: 'interrupt' });
    expect(b.status).toBe(202);
    const first = await done(a.body.runId);
    expect(first).toMatchObject({ status: 'cancelled', error: { code: 'interrupted' } });
    expect(first.approvals[0].status).toBe('cancelled');
    expect(await countRefunds(stack.db, a.body.runId)).toBe(0);
    expect((await done(b.body.runId)).status).toBe('completed');
    // The interrupted turn's message, and its reply closed (the call that never ran left out), reach the next turn.
    const request = requestsWith('Quick task I3').at(-1)!;
    expect(request.messages.map((m) => m.content)).toContain('Refund order 1001');
    expect(request.messages.some((m) => m.tool_calls?.length)).toBe(false);
  }, 120_000);

  it('rollback: the first run is cancelled and its turn removed from the thread', async () => {
    const threadId = await newThread();
    const [a, b] = await twoMessages(threadId, 'rollback', ['Slow task B1', 'Quick task B2']);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect((await done(a.body.runId)).status).toBe('cancelled');
    expect((await done(b.body.runId)).status).toBe('completed');
    // The second run never saw the first message, and the thread no longer holds it.
    const [firstInput, secondInput] = [await inputOf(a.body.runId), await inputOf(b.body.runId)];
    expect(requestsWith(secondInput).every((r) => !r.messages.some((m) => m.content === firstInput))).toBe(true);
    const view = await stack.api('GET', `/v1/threads/${threadId}`);
    expect(view.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant']);
    expect(view.body.messages[0].content).toBe(secondInput);
    expect(view.body.runs.map((r: any) => [r.turn, r.rolledBack])).toEqual([[1, true], [2, false]]);
    // A write of the rolled-back turn, had it got that far, would not start; one of a turn still in the thread may.
    expect(await claimWrite(stack.db, a.body.runId)).toBe(false);
    expect(await claimWrite(stack.db, b.body.runId)).toBe(true);
  }, 120_000);

  it('rollback is refused (409) once the active run has executed a write tool; nothing changes', async () => {
    const threadId = await newThread();
    const a = await send(threadId, { input: 'Refund order 1002' });
    const parked = await stack.waitForStatus(a.body.runId, 'awaiting_approval');
    await stack.decide(a.body.runId, parked.pendingApprovals[0].approvalId, 'approve');
    await stack.waitForRun(a.body.runId, (r) => r.steps.some((s: any) => s.name === 'issue_refund' && s.status === 'ok'));
    const [b, c] = await twoMessages(threadId, 'rollback', ['Quick task B3', 'Quick task B4']);
    for (const refused of [b, c]) {
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('rollback_refused');
    }
    expect((await done(a.body.runId)).status).toBe('completed');
    expect(await countRefunds(stack.db, a.body.runId)).toBe(1);
    const view = await stack.api('GET', `/v1/threads/${threadId}`);
    expect(view.body.runs).toHaveLength(1);
  }, 120_000);

  it('uses the default strategy of the bundle when the request names none', async () => {
    const base = readBundleDir(`${testAgentsDir}/support`) as Record<string, unknown>;
    const published = await stack.api('POST', '/v1/bundles', { ...base, threads: { multitaskStrategy: 'enqueue' } });
    const bundleId = published.body.bundleId;
    const threadId = await newThread();
    const [a, b] = await twoMessages(threadId, '', ['Slow task D1', 'Slow task D2'], { bundleId });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect((await done(b.body.runId)).status).toBe('completed');
    const view = await stack.api('GET', `/v1/threads/${threadId}`);
    expect(view.body.runs.map((r: any) => r.strategy)).toEqual(['enqueue', 'enqueue']);
  }, 120_000);

  it('keeps threads to their tenant, pages them, and deletes an idle one', async () => {
    const threadId = await newThread({ metadata: { ticket: 'T-1' } });
    const other = await stack.api('GET', `/v1/threads/${threadId}`, undefined, { authorization: 'Bearer nope' });
    expect(other.status).toBe(401);
    // Threads take the runner role, as runs do.
    const approver = await stack.api('POST', '/v1/keys', { roles: ['approver'], name: 'threads approver' });
    const asApprover = { authorization: `Bearer ${approver.body.key}` };
    expect((await stack.api('GET', `/v1/threads/${threadId}`, undefined, asApprover)).status).toBe(403);
    expect((await stack.api('POST', `/v1/threads/${threadId}/runs`, { agent: 'support', input: 'Quick task X' }, asApprover)).status).toBe(403);
    const otherTenant = await stack.db.query(`UPDATE threads SET tenant_id = 'someone-else' WHERE thread_id = $1 RETURNING 1`, [threadId]);
    expect(otherTenant.rowCount).toBe(1);
    expect((await stack.api('GET', `/v1/threads/${threadId}`)).status).toBe(404);
    expect((await send(threadId, { agent: 'support', input: 'Quick task X' })).status).toBe(404);
    expect((await stack.api('DELETE', `/v1/threads/${threadId}`)).status).toBe(404);
    await stack.db.query('UPDATE threads SET tenant_id = $2 WHERE thread_id = $1', [threadId, stack.tenantId]);

    expect((await send(threadId, { input: 'Quick task X' })).body.error.problems).toEqual(['agent: required (the thread names no agent)']);
    await newThread();
    const page1 = await stack.api('GET', '/v1/threads?limit=1');
    expect(page1.body.threads).toHaveLength(1);
    expect(page1.body.nextCursor).not.toBeNull();
    const page2 = await stack.api('GET', `/v1/threads?limit=1&cursor=${page1.body.nextCursor}`);
    expect(page2.body.threads[0].threadId).not.toBe(page1.body.threads[0].threadId);
    expect((await stack.api('POST', '/v1/threads', { metadata: 'x' })).status).toBe(400);
    expect((await send(threadId, { agent: 'support', input: 'Quick task X', multitaskStrategy: 'later' })).status).toBe(400);

    expect((await stack.api('DELETE', `/v1/threads/${threadId}`)).status).toBe(204);
    expect((await stack.api('GET', `/v1/threads/${threadId}`)).status).toBe(404);
  });

  it('takes threadId on POST /v1/runs; the same Idempotency-Key gives the same turn, not another', async () => {
    const threadId = await newThread();
    const body = { agent: 'support', input: 'Quick task K1', threadId };
    const key = { 'idempotency-key': `thread-${threadId}` };
    const first = await stack.api('POST', '/v1/runs', body, key);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ threadId, turn: 1 });
    await done(first.body.runId);
    const again = await stack.api('POST', '/v1/runs', body, key);
    expect(again.body).toMatchObject({ runId: first.body.runId, threadId, turn: 1 });
    expect((await stack.api('GET', `/v1/threads/${threadId}`)).body.runs).toHaveLength(1);
    expect((await stack.api('POST', '/v1/runs', { ...body, threadId: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
  }, 120_000);

  describe('token streaming', () => {
    /** The run's events up to run.finished, read from the moment the run was accepted. */
    async function streamedRun(input: string): Promise<{ runId: string; events: SseEvent[] }> {
      const started = await stack.api('POST', '/v1/runs', { agent: 'support', input, stream: true });
      expect(started.status).toBe(202);
      const sse = await openSse(`${stack.baseUrl}/v1/runs/${started.body.runId}/events`, { authorization: `Bearer ${stack.apiKey}` });
      const events = await sse.rest(90_000);
      await sse.close();
      return { runId: started.body.runId, events };
    }

    it('sends message.delta events before the run finishes, and they concatenate to the stored message', async () => {
      const { runId, events } = await streamedRun('Tell me a story');
      const types = events.map((e) => e.event);
      const deltas = events.filter((e) => e.event === 'message.delta').map((e) => JSON.parse(e.data));
      expect(deltas.length).toBeGreaterThan(3);
      expect(types.indexOf('message.delta')).toBeLessThan(types.indexOf('step.finished'));
      expect(types.at(-1)).toBe('run.finished');
      expect(deltas.map((d) => d.index)).toEqual(deltas.map((_, i) => i));
      expect(deltas.every((d) => d.runId === runId && d.step === 1 && d.attempt === 1 && typeof d.bundleId === 'string')).toBe(true);
      const run = await stack.api('GET', `/v1/runs/${runId}`);
      expect(deltas.map((d) => d.delta).join('')).toBe(run.body.output);
      // Stored once: one reply at step 1.
      const stored = await stack.db.query(`SELECT count(*)::int AS n FROM run_messages WHERE run_id = $1 AND role = 'assistant'`, [runId]);
      expect(stored.rows[0].n).toBe(1);
    }, 120_000);

    it('starts a retried model call with message.reset, its deltas carrying the new attempt', async () => {
      const { runId, events } = await streamedRun('Tell me a retried story');
      const reset = events.findIndex((e) => e.event === 'message.reset');
      expect(reset).toBeGreaterThanOrEqual(0);
      expect(JSON.parse(events[reset]!.data)).toMatchObject({ runId, step: 1, attempt: 2 });
      const deltas = events.filter((e) => e.event === 'message.delta').map((e) => JSON.parse(e.data));
      expect(events.findIndex((e) => e.event === 'message.delta')).toBeGreaterThan(reset);
      expect(deltas.every((d) => d.attempt === 2)).toBe(true);
      expect(deltas.map((d) => d.delta).join('')).toBe((await stack.api('GET', `/v1/runs/${runId}`)).body.output);
    }, 120_000);
  });
});
