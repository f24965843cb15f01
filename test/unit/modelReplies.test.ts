import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { readCompletion } from '../../src/activities/model/replies';
import { sendableArguments } from '../../src/activities/model/window';

const completion = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  ({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices, ...extra }) as OpenAI.ChatCompletion;
const choice = (message: unknown, finish_reason: string | null = 'stop') => ({ index: 0, message, finish_reason, logprobs: null });
const call = (args: string, type = 'function') => ({ id: 'call_1', type, function: { name: 'issue_refund', arguments: args } });

describe('readCompletion', () => {
  it('reads an answer and tool calls', () => {
    expect(readCompletion(completion([choice({ role: 'assistant', content: 'Done.' })]))).toMatchObject({ kind: 'final', text: 'Done.', truncated: false });
    expect(readCompletion(completion([choice({ role: 'assistant', content: null, tool_calls: [call('{"order_id":"1"}')] }, 'tool_calls')])))
      .toMatchObject({ kind: 'tool_calls', toolCalls: [{ id: 'call_1', name: 'issue_refund', arguments: '{"order_id":"1"}' }], truncated: false });
  });

  it.each([
    ['a refusal', [choice({ role: 'assistant', content: null, refusal: "I can't help with moving money." })], {}, 'ModelRefused', /refused: I can't help/],
    ['a filtered reply', [choice({ role: 'assistant', content: null }, 'content_filter')], {}, 'ContentFiltered', /content filter/],
    ['no choices', [], { prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false } } }] }, 'EmptyReply', /no choices/],
    ['no choices, the prompt filtered', [], { prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: true } } }] }, 'ContentFiltered', /blocked the prompt/],
    ['no message', [{ index: 0, finish_reason: 'stop' }], {}, 'EmptyReply', /no message/],
    ['empty text', [choice({ role: 'assistant', content: '' })], {}, 'EmptyReply', /neither text nor a tool call/],
    ['blank text', [choice({ role: 'assistant', content: ' \n ' })], {}, 'EmptyReply', /neither text nor a tool call/],
    ['only custom tool calls', [choice({ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'x', input: '' } }] }, 'tool_calls')], {}, 'EmptyReply', /type Bosun does not run \(custom\)/],
    ['nothing before the token limit', [choice({ role: 'assistant', content: null }, 'length')], {}, 'EmptyReply', /output token limit/],
  ])('never takes %s for an answer', (_name, choices, extra, type, message) => {
    const read = readCompletion(completion(choices, extra));
    expect(read).toMatchObject({ kind: 'unusable', type, message: expect.stringMatching(message) });
  });

  it('keeps the words of a refusal', () => {
    const read = readCompletion(completion([choice({ role: 'assistant', content: null, refusal: 'No.' })]));
    expect(read).toMatchObject({ kind: 'unusable', refusal: 'No.' });
  });

  it('marks a reply cut by the token limit, and the tool call it cut', () => {
    const cut = readCompletion(completion([choice({
      role: 'assistant', content: null, tool_calls: [{ ...call('{"order_id":"1001"}'), id: 'whole' }, call('{"order_id":"1002","amount_cents":15')],
    }, 'length')]));
    expect(cut).toMatchObject({ kind: 'tool_calls', truncated: true });
    expect(cut.kind === 'tool_calls' && cut.toolCalls.map((c) => c.truncated)).toEqual([undefined, true]);
    expect(readCompletion(completion([choice({ role: 'assistant', content: 'The refund policy is as follo' }, 'length')])))
      .toMatchObject({ kind: 'final', text: 'The refund policy is as follo', truncated: true });
  });

  it('does not call malformed arguments cut when the reply was not cut', () => {
    const read = readCompletion(completion([choice({ role: 'assistant', content: null, tool_calls: [call('{"order_id":1002,}')] }, 'tool_calls')]));
    expect(read.kind === 'tool_calls' && read.toolCalls[0]!.truncated).toBeUndefined();
  });
});

describe('sendableArguments', () => {
  it('sends JSON as it is and anything else as {}', () => {
    expect(sendableArguments('{"order_id":"1"}')).toBe('{"order_id":"1"}');
    expect(sendableArguments('{"order_id":"1002","amount_cents":15')).toBe('{}');
    expect(sendableArguments('')).toBe('{}');
  });
});
