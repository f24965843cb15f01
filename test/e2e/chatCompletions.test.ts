/**
 * `POST /v1/chat/completions` with the `openai` package as the client, against the whole stack: a
 * deployed agent answers as a chat model, streaming (the worker's token deltas as they come) and not;
 * a run that waits for approval answers with its link instead of hanging; bad requests and unknown
 * models answer in OpenAI's error shape; the run is started as `POST /v1/runs` starts one (same runs,
 * same Idempotency-Key, same budgets); and `thread_id` continues a thread, as a thread's runs do.
 */
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletionChunkSchema, chatCompletionSchema } from '../../src/contract';
import { supportDemoScript } from '../../src/dev/demoScript';
import { startTestStack, type TestStack } from '../support/testStack';

describe('the OpenAI-compatible endpoint', () => {
  const slowStory = 'Once upon a time a bosun steered a durable ship through a stormy sea, and every sailor of the crew got home.';
  let stack: TestStack;
  let client: OpenAI;
  beforeAll(async () => {
    const rules = [
      // A reply streamed a word every 300 ms: its deltas reach the client while the run still runs.
      { when: { role: 'user' as const, matches: 'Stream slowly' }, reply: { content: slowStory }, chunkDelayMs: 300 },
      // A thread's memory, as test/e2e/threads.test.ts drives it: the answer needs the earlier turn.
      { when: { role: 'user' as const, matches: 'What is my secret word', seen: 'secret word is (\\w+)' }, reply: { content: 'Your secret word is $S1.' } },
      { when: { role: 'user' as const, matches: 'What is my secret word' }, reply: { content: 'I do not know your secret word.' } },
      { when: { role: 'user' as const, matches: 'secret word is' }, reply: { content: 'Noted.' } },
    ];
    const faults = [{ when: { role: 'user' as const, matches: 'Stream a retried story' }, status: 500, times: 1 }];
    stack = await startTestStack({ script: { ...supportDemoScript, rules: [...rules, ...supportDemoScript.rules], faults } });
    // No retries: a retried request would start another run and hide what the first answered.
    client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.baseUrl}/v1`, maxRetries: 0 });
  });
  afterAll(() => stack?.close());

  const model = 'agent:support';
  type Request = Parameters<OpenAI['chat']['completions']['create']>;
  /** A chat completion, checked against the contract (Bosun's `bosun` field included). */
  const complete = async (body: Omit<Request[0], 'stream'>, options?: Request[1]) =>
    chatCompletionSchema.parse(await client.chat.completions.create({ ...body, stream: false }, options));
  /** A streamed chat completion's chunks, each checked against the contract. */
  const streamChunks = async (body: Omit<Request[0], 'stream'>) => {
    const chunks = [];
    for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) chunks.push(chatCompletionChunkSchema.parse(chunk));
    return chunks;
  };
  /** What an OpenAI error thrown by the client carries. */
  const failure = async (request: Promise<unknown>) => {
    const err = await request.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    const { status, code, type, param, error } = err as APIError;
    return { status, code, type, param, problems: (error as { problems?: string[] }).problems ?? [] };
  };

  it('answers with the run\'s output, its usage and its run ID, taking the last user message as input', async () => {
    const completion = await complete({
      model,
      messages: [
        { role: 'system', content: 'Not sent: the bundle holds the prompt.' },
        { role: 'user', content: 'Refund order 1001' },
        { role: 'assistant', content: 'Which order?' },
        { role: 'user', content: 'Refund order 9999' },
      ],
    });
    const { runId } = completion.bosun;
    const run = (await stack.api('GET', `/v1/runs/${runId}`)).body;
    expect(run).toMatchObject({ status: 'completed', input: 'Refund order 9999' });
    expect(completion).toMatchObject({
      id: `chatcmpl-${runId}`,
      object: 'chat.completion',
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: run.output }, finish_reason: 'stop' }],
      usage: { prompt_tokens: run.usage.inputTokens, completion_tokens: run.usage.outputTokens },
      bosun: { status: 'completed', bundleId: run.bundleId, links: { run: `/v1/runs/${runId}` } },
    });
    expect(run.output).toMatch(/order 9999 not found/);
    expect(completion.usage!.total_tokens).toBeGreaterThan(0);
    // The model saw the last user message only, after the bundle's own prompt.
    const sent = stack.model.requests.find((r) => r.messages.some((m) => m.content === 'Refund order 9999'))!;
    expect(sent.messages.map((m) => m.content)).not.toContain('Not sent: the bundle holds the prompt.');
    expect(sent.messages.map((m) => m.content)).not.toContain('Which order?');
  });

  it('streams chat.completion.chunks that add up to the output, then [DONE]', async () => {
    const chunks = await streamChunks({ model, messages: [{ role: 'user', content: 'Refund order 9998' }] });
    const last = chunks.at(-1)!;
    const run = (await stack.api('GET', `/v1/runs/${last.bosun!.runId}`)).body;
    expect(run.status).toBe('completed');
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe(run.output);
    expect(last.choices[0]!.finish_reason).toBe('stop');
    expect(last.usage).toMatchObject({ prompt_tokens: run.usage.inputTokens, completion_tokens: run.usage.outputTokens });
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set([`chatcmpl-${run.runId}`]));
  });

  it('streams the model\'s token deltas as the worker streams them, while the run still runs', async () => {
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Stream slowly' }], stream: true });
    const chunks = [];
    let statusAtFirstDelta: string | undefined;
    for await (const chunk of stream) {
      chunks.push(chatCompletionChunkSchema.parse(chunk));
      if (statusAtFirstDelta || !chunk.choices[0]?.delta.content) continue;
      statusAtFirstDelta = (await stack.api('GET', `/v1/runs/${chunk.id.replace('chatcmpl-', '')}`)).body.status;
    }
    const runId = chunks.at(-1)!.bosun!.runId;
    const run = (await stack.api('GET', `/v1/runs/${runId}`)).body;
    // The first words came before the model had finished its reply: the run had not completed.
    expect(statusAtFirstDelta).toBe('running');
    const contents = chunks.map((c) => c.choices[0]!.delta.content ?? '');
    // A chunk per delta (a word each), not the whole output at the end; together exactly the output.
    expect(contents.filter(Boolean).length).toBeGreaterThan(10);
    expect(contents.join('')).toBe(slowStory);
    expect(run).toMatchObject({ status: 'completed', output: slowStory });
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  }, 120_000);

  it('streams a retried model call once: its text after the reset, nothing twice', async () => {
    const chunks = await streamChunks({ model, messages: [{ role: 'user', content: 'Stream a retried story' }] });
    const runId = chunks.at(-1)!.bosun!.runId;
    const run = (await stack.api('GET', `/v1/runs/${runId}`)).body;
    expect(run.status).toBe('completed');
    expect(stack.model.requests.filter((r) => r.messages.some((m) => m.content === 'Stream a retried story'))).toHaveLength(2);
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe(run.output);
  }, 120_000);

  it('continues a thread with thread_id: the second answer uses a fact from the first', async () => {
    const thread = await stack.api('POST', '/v1/threads', { agent: 'support' });
    expect(thread.status).toBe(201);
    const { threadId } = thread.body;
    // `thread_id` is Bosun's extension: the openai client sends extra fields as they are.
    const onThread = (content: string) => ({ model, messages: [{ role: 'user' as const, content }], thread_id: threadId });
    const first = await complete(onThread('My secret word is mango'));
    expect(first.choices[0]!.message.content).toBe('Noted.');
    const second = await complete(onThread('What is my secret word?'));
    expect(second.choices[0]!.message.content).toBe('Your secret word is mango.');
    // The same question without the thread: the model has no earlier turn to remember.
    expect((await complete({ model, messages: [{ role: 'user', content: 'What is my secret word?' }] })).choices[0]!.message.content)
      .toBe('I do not know your secret word.');
    const view = (await stack.api('GET', `/v1/threads/${threadId}`)).body;
    expect(view.runs.map((r: { runId: string }) => r.runId)).toEqual([first.bosun.runId, second.bosun.runId]);
    expect(await failure(client.chat.completions.create(
      { ...onThread('hi'), thread_id: '00000000-0000-4000-8000-000000000000' } as Request[0],
    ))).toMatchObject({ status: 404, type: 'not_found_error' });
  }, 120_000);

  it('answers a run that waits for approval with its link instead of waiting, streaming or not', async () => {
    const completion = await complete({ model, messages: [{ role: 'user', content: 'Refund order 1001' }] });
    const { runId, status, approvals } = completion.bosun;
    expect(status).toBe('awaiting_approval');
    expect(approvals).toEqual([{ approvalId: expect.any(String), tool: 'issue_refund', decide: `/v1/runs/${runId}/approvals/${approvals[0]!.approvalId}` }]);
    expect(completion.choices[0]!.message.content).toMatch(new RegExp(`waiting for approval.*issue_refund.*/v1/runs/${runId}`));
    // The run goes on when an approver decides, as any run does.
    expect((await stack.decide(runId, approvals[0]!.approvalId, 'approve')).status).toBe(202);
    await stack.waitForStatus(runId, 'completed');

    const chunks = await streamChunks({ model, messages: [{ role: 'user', content: 'Refund order 1002' }] });
    expect(chunks.at(-1)!.bosun).toMatchObject({ status: 'awaiting_approval', approvals: [{ tool: 'issue_refund' }] });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toMatch(/waiting for approval/);
    await stack.api('POST', `/v1/runs/${chunks.at(-1)!.bosun!.runId}/cancel`);
  });

  it('answers 404 in OpenAI\'s shape for an unknown agent or bundle', async () => {
    for (const unknown of ['agent:nope', 'agent:', 'no-such-bundle']) {
      expect(await failure(client.chat.completions.create({ model: unknown, messages: [{ role: 'user', content: 'hi' }] })))
        .toMatchObject({ status: 404, code: 'model_not_found', type: 'not_found_error', param: 'model' });
    }
    const raw = await stack.api('POST', '/v1/chat/completions', { model: 'agent:nope', messages: [{ role: 'user', content: 'hi' }] });
    expect(raw.status).toBe(404);
  });

  it('answers 400 listing every problem of a bad body, in OpenAI\'s shape', async () => {
    const bad = await failure(client.chat.completions.create({
      model,
      messages: [{ role: 'tool', content: '{"refunded":true}', tool_call_id: 'call_1' }],
    }));
    expect(bad).toMatchObject({ status: 400, type: 'invalid_request_error', code: 'bad_request', param: 'messages.0.role' });
    expect(bad.problems).toEqual([
      'messages.0.role: tool messages are not accepted: the agent calls its own tools',
      "messages: needs a user message with text: the last one is the run's input",
    ]);
    const raw = await stack.api('POST', '/v1/chat/completions', { model: 7, messages: [], stream: 'yes' });
    expect(raw.status).toBe(400);
    expect(raw.body.error.problems.map((p: string) => p.split(':')[0])).toEqual(['model', 'messages', 'stream']);
    expect((await stack.api('POST', '/v1/chat/completions', '{"model":', {})).body.error.problems).toEqual(['body: malformed JSON']);
  });

  it('answers 401 in OpenAI\'s shape without a valid key', async () => {
    const anonymous = new OpenAI({ apiKey: 'not-a-key', baseURL: `${stack.baseUrl}/v1`, maxRetries: 0 });
    expect(await failure(anonymous.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })))
      .toMatchObject({ status: 401, type: 'authentication_error', code: 'unauthorized' });
  });

  it('starts runs as POST /v1/runs does: the same Idempotency-Key answers the same run', async () => {
    const request = { model, messages: [{ role: 'user' as const, content: 'Refund order 9997' }] };
    const headers = { 'Idempotency-Key': `chat-${stack.tenantId}` };
    const first = await complete(request, { headers });
    const again = await complete(request, { headers });
    expect(again.bosun.runId).toBe(first.bosun.runId);
    const reused = await failure(client.chat.completions.create({ ...request, messages: [{ role: 'user', content: 'Something else' }] }, { headers }));
    expect(reused).toMatchObject({ status: 409, code: 'idempotency_key_reused' });
  });

  // Last: the budget stops every later run of the tenant.
  it('answers a failed run with an OpenAI-shaped 422 naming its error code, streaming or not', async () => {
    expect((await stack.api('PUT', '/v1/budgets/day', { limitUsd: 0.000001, mode: 'hard' })).status).toBe(200);
    expect(await failure(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Refund order 9996' }] })))
      .toMatchObject({ status: 422, type: 'run_failed', code: 'budget_exceeded' });
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Refund order 9995' }], stream: true });
    const streamed = await (async () => {
      for await (const _chunk of stream);
    })().then(() => undefined, (e: unknown) => e);
    expect(streamed).toBeInstanceOf(APIError);
    expect((streamed as APIError).message).toMatch(/budget_exceeded/);
  });
});
