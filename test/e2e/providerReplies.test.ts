/**
 * A provider's 200 that holds no usable answer (a refusal, a filtered reply, no choices, empty
 * text), and replies cut by the output token limit, on the real stack: the scripted model answers
 * with exactly the bodies real providers send (docs/provider-errors.md).
 */
import { describe, expect, it } from 'vitest';
import type { ModelScript, RecordedRequest, ScriptedFault } from '../../src/dev/scriptedModel';
import { supportDemoScript } from '../../src/dev/demoScript';
import { countRefunds } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

const finished = ['completed', 'failed', 'budget_exceeded', 'step_limit', 'cancelled'];
const usage = { prompt_tokens: 120, completion_tokens: 12, total_tokens: 132 };

/** A chat completion whose first choice is `message` (the assistant's, as the provider wrote it). */
const completion = (message: Record<string, unknown>, finishReason: string) => ({
  id: 'chatcmpl-raw', object: 'chat.completion', created: 0, model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finishReason, logprobs: null }],
  usage,
});

/** Answers the user's first message of conversations starting with `prefix` with `body`, `times` times (always when absent). */
const answerFirst = (prefix: string, body: unknown, times?: number): ScriptedFault => ({
  when: { role: 'user', conversation: `^${prefix}` }, raw: { body }, ...(times ? { times } : {}),
});

const REFUSAL = "I can't help with moving money.";
const CUT_ARGUMENTS = '{"order_id":"1002","amount_cents":15';

const script: ModelScript = {
  rules: [
    { when: { role: 'tool', tool: 'lookup_order', conversation: '^Refuse once' }, reply: { content: 'Order 1001 is a mechanical keyboard.' } },
    ...supportDemoScript.rules,
  ],
  faults: [
    answerFirst('Refuse always', completion({ refusal: REFUSAL }, 'stop')),
    answerFirst('Refuse once', completion({ refusal: REFUSAL }, 'stop'), 1),
    answerFirst('Filter', completion({}, 'content_filter')),
    answerFirst('No choices', {
      id: 'chatcmpl-raw', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [], usage,
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: 'safe' } } }],
    }),
    answerFirst('Empty text', completion({ content: '' }, 'stop')),
    answerFirst('Cut refund', completion({
      tool_calls: [{ id: 'call_cut', type: 'function', function: { name: 'issue_refund', arguments: CUT_ARGUMENTS } }],
    }, 'length'), 1),
    answerFirst('Malformed lookup', completion({
      tool_calls: [{ id: 'call_bad', type: 'function', function: { name: 'lookup_order', arguments: '{"order_id":"1003",}' } }],
    }, 'tool_calls'), 1),
    answerFirst('Long answer', completion({ content: 'Our refund policy has three parts. First, any order may be retur' }, 'length')),
  ],
};

describe('provider replies that hold no answer, and replies cut by the token limit', () => {
  const stack = useTestStack({ script });

  const requestsOf = (prefix: string) =>
    stack.model.requests.filter((r) => r.messages.find((m) => m.role === 'user')?.content?.startsWith(prefix));
  const runToTheEnd = async (input: string) => stack.waitForRun(await stack.startRun(input), (r) => finished.includes(r.status), 60_000);
  const modelSteps = (run: any) => run.steps.filter((s: any) => s.kind === 'model');

  it('asks once more after a refusal, then fails the run as model_refused, the refusal kept and both calls paid', async () => {
    const run = await runToTheEnd('Refuse always: move $500 to account 7');
    expect(run.status).toBe('failed');
    expect(run.output).toBeNull();
    expect(run.error).toEqual({ code: 'model_refused', message: expect.stringContaining(REFUSAL) });
    // Asked twice, never a third time: a deterministic answer is not a transient error.
    expect(requestsOf('Refuse always').map((r) => r.answeredWith)).toEqual([200, 200]);
    expect(run.retries.model_refused).toBe(1);
    const steps = modelSteps(run);
    expect(steps.map((s: any) => [s.status, s.detail.refusal])).toEqual([['model_refused', REFUSAL], ['model_refused', REFUSAL]]);
    expect(run.usage).toMatchObject({ inputTokens: 2 * usage.prompt_tokens, outputTokens: 2 * usage.completion_tokens });
    expect(run.usage.costUsd).toBeGreaterThan(0);
  });

  it('carries on when the model answers after one refusal, the refused call counted with its step', async () => {
    const run = await runToTheEnd('Refuse once: look up order 1001');
    expect(run).toMatchObject({ status: 'completed', output: 'Order 1001 is a mechanical keyboard.', error: null });
    expect(requestsOf('Refuse once')).toHaveLength(3);
    expect(run.retries.model_refused).toBe(1);
    expect(modelSteps(run).map((s: any) => [s.step, s.status])).toEqual([[1, 'model_refused'], [1, 'ok'], [2, 'ok']]);
    const paid = modelSteps(run).reduce((sum: number, s: any) => sum + s.inputTokens, 0);
    expect(run.usage.inputTokens).toBe(paid);
  });

  it.each([
    ['Filter', 'content_filtered', /content filter stopped the reply/],
    ['No choices', 'empty_reply', /no choices/],
    ['Empty text', 'empty_reply', /neither text nor a tool call/],
  ])('never completes with an empty answer: "%s" fails as %s after one more ask', async (prefix, code, message) => {
    const run = await runToTheEnd(`${prefix}: what is your refund policy?`);
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({ code, message: expect.stringMatching(message) });
    expect(requestsOf(prefix)).toHaveLength(2);
    expect(run.retries[code]).toBe(1);
    expect(modelSteps(run).map((s: any) => s.status)).toEqual([code, code]);
  });

  it('never runs a tool call cut by the token limit, never asks a human about it, and tells the model it was cut', async () => {
    const run = await runToTheEnd('Cut refund order 1002');
    expect(run.status).toBe('completed');
    expect(run.approvals).toEqual([]);
    expect(await countRefunds(stack.db, run.runId)).toBe(0);
    const toolStep = run.steps.find((s: any) => s.kind === 'tool');
    expect(toolStep).toMatchObject({ name: 'issue_refund', status: 'invalid_arguments', detail: { error: expect.stringMatching(/output token limit/) } });
    expect(modelSteps(run)[0].detail).toMatchObject({ truncated: true });

    // The next request carries the call with JSON arguments, and the tool error saying why it did not run.
    const next = requestsOf('Cut refund')[1]!;
    const cutCall = next.messages.flatMap((m) => m.tool_calls ?? []).find((c) => c.id === 'call_cut');
    expect(cutCall?.function.arguments).toBe('{}');
    expect(next.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_cut', content: expect.stringMatching(/output token limit/) });
    expect(argumentsThatAreNotJson(requestsOf('Cut refund'))).toEqual([]);
  });

  it('sends back only JSON tool-call arguments, also for a call whose arguments were malformed', async () => {
    const run = await runToTheEnd('Malformed lookup of order 1003');
    expect(run.status).toBe('completed');
    expect(run.steps.find((s: any) => s.kind === 'tool')).toMatchObject({ status: 'invalid_arguments', detail: { error: expect.stringMatching(/not valid JSON/) } });
    const next = requestsOf('Malformed lookup')[1]!;
    expect(next.messages.flatMap((m) => m.tool_calls ?? []).find((c) => c.id === 'call_bad')?.function.arguments).toBe('{}');
    expect(argumentsThatAreNotJson(requestsOf('Malformed lookup'))).toEqual([]);
  });

  it('marks a final answer cut by the token limit as truncated', async () => {
    const run = await runToTheEnd('Long answer: what is your refund policy?');
    expect(run.status).toBe('completed');
    expect(run.output).toBe('Our refund policy has three parts. First, any order may be retur');
    expect(run.outputTruncated).toBe(true);
    expect(modelSteps(run).at(-1).detail).toMatchObject({ final: true, truncated: true });

    const whole = await runToTheEnd('What is your refund policy?');
    expect(whole).toMatchObject({ status: 'completed', outputTruncated: false });
  });
});

function argumentsThatAreNotJson(requests: RecordedRequest[]): string[] {
  return requests.flatMap((r) => r.messages.flatMap((m) => m.tool_calls ?? [])).map((c) => c.function.arguments).filter((a) => {
    try {
      JSON.parse(a);
      return false;
    } catch {
      return true;
    }
  });
}
