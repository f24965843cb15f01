/**
 * The `chat {model}` span (src/activities/model/chatSpan.ts) against an in-memory exporter: the
 * GenAI attributes of a reply, `gen_ai.system` beside `gen_ai.provider.name` unless only the latest
 * names are opted in, no content unless capture is on, and content through Bosun's redaction.
 */
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type OpenAI from 'openai';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tracedChat, type ChatCall } from '../../src/activities/model/chatSpan';

const exporter = new InMemorySpanExporter();
beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
});
afterEach(() => exporter.reset());

const call: ChatCall = {
  runId: 'run-1', tenantId: 'acme', bundleId: 'support@abc', step: 2, baseUrl: 'https://models.example:8443/v1',
  request: {
    model: 'gpt-4o-mini',
    max_completion_tokens: 500,
    messages: [
      { role: 'system', content: 'You are the support agent.' },
      { role: 'user', content: 'Refund order 1001' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'login', arguments: '{"user":"ada","password":"hunter2"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
    ],
  },
};

const completion = {
  id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content: 'Refunded.', refusal: null } }],
  usage: { prompt_tokens: 120, completion_tokens: 8, total_tokens: 128, prompt_tokens_details: { cached_tokens: 64 } },
} as OpenAI.ChatCompletion;

const send = (c = completion) => () => Promise.resolve(c);

describe('the chat span', () => {
  it('carries the request, the reply, the tokens and the cost, without content by default', async () => {
    await tracedChat({ captureMessageContent: false, latestOnly: false }, call, (usage) => (usage?.prompt_tokens ?? 0) / 1000, send());
    const [span] = exporter.getFinishedSpans();
    expect(span!.name).toBe('chat gpt-4o-mini');
    expect(span!.attributes).toEqual({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.request.max_tokens': 500, 'gen_ai.conversation.id': 'run-1', 'bosun.step': 2,
      'server.address': 'models.example', 'server.port': 8443,
      'bosun.run.id': 'run-1', 'bosun.tenant.id': 'acme', 'bosun.bundle.id': 'support@abc',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'gen_ai.response.id': 'chatcmpl-1', 'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 120, 'gen_ai.usage.output_tokens': 8, 'gen_ai.usage.cache_read.input_tokens': 64, 'bosun.cost_usd': 0.12,
    });
  });

  it('emits only the latest names under gen_ai_latest_experimental', async () => {
    await tracedChat({ captureMessageContent: false, latestOnly: true }, call, () => 0, send());
    expect(exporter.getFinishedSpans()[0]!.attributes['gen_ai.system']).toBeUndefined();
    expect(exporter.getFinishedSpans()[0]!.attributes['gen_ai.provider.name']).toBe('openai');
  });

  it('captures messages when asked, through the redaction', async () => {
    await tracedChat({ captureMessageContent: true, latestOnly: true }, call, () => 0, send());
    const { attributes } = exporter.getFinishedSpans()[0]!;
    const input = JSON.parse(attributes['gen_ai.input.messages'] as string);
    expect(input[1]).toEqual({ role: 'user', parts: [{ type: 'text', content: 'Refund order 1001' }] });
    expect(input[2].parts[0]).toEqual({ type: 'tool_call', id: 'call_1', name: 'login', arguments: { user: 'ada', password: '[redacted]' } });
    expect(input[3]).toEqual({ role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_1', response: 'ok' }] });
    expect(attributes['gen_ai.input.messages']).not.toContain('hunter2');
    expect(JSON.parse(attributes['gen_ai.output.messages'] as string)).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Refunded.' }], finish_reason: 'stop' },
    ]);
  });

  it('redacts tool calls and results in the messages by the tool\'s own rules', async () => {
    const lookup: ChatCall = {
      ...call,
      request: {
        model: 'gpt-4o-mini',
        messages: [
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup_order', arguments: '{"order_id":"1001","email":"ada@example.com"}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: '{"order_id":"1001","customer":"Ada Lovelace"}' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c2', type: 'function', function: { name: 'lookup_order', arguments: '{"order_id":"1002"}' } }] },
          { role: 'tool', tool_call_id: 'c2', content: 'Grace Hopper … (cut for the model)' },
        ],
      },
      toolRedaction: (tool) => (tool === 'lookup_order' ? { arguments: { paths: ['email'] }, result: { paths: ['customer'] } } : undefined),
    };
    await tracedChat({ captureMessageContent: true, latestOnly: true }, lookup, () => 0, send());
    const text = exporter.getFinishedSpans()[0]!.attributes['gen_ai.input.messages'] as string;
    const input = JSON.parse(text);
    expect(input[0].parts[0].arguments).toEqual({ order_id: '1001', email: '[redacted]' });
    expect(input[1].parts[0]).toEqual({ type: 'tool_call_response', id: 'c1', response: { order_id: '1001', customer: '[redacted]' } });
    // Not JSON, so the path rule cannot be applied: hidden whole.
    expect(input[3].parts[0].response).toBe('[redacted]');
    expect(text).not.toMatch(/Ada Lovelace|Grace Hopper|ada@example.com/);
  });

  it('records a provider failure as error.type and rethrows it', async () => {
    const failure = Object.assign(new Error('rate limited'), { status: 429 });
    await expect(tracedChat({ captureMessageContent: false, latestOnly: true }, call, () => 0, () => Promise.reject(failure))).rejects.toBe(failure);
    const [span] = exporter.getFinishedSpans();
    expect(span!.attributes['error.type']).toBe('429');
    expect(span!.status.code).toBe(2);
  });
});
