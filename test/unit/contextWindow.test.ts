import { describe, expect, it } from 'vitest';
import {
  buildWindow,
  planWindow,
  SUMMARY_HEADING,
  summaryPrompt,
  truncateToolResult,
  turnsOf,
  type WindowInput,
} from '../../src/activities/model/window';
import { likelyPromptTokens } from '../../src/activities/model/tokens';
import type { ContextMessage } from '../../src/shared/domain';
import { resolveContextSettings } from '../../src/shared/contextWindow';

/** A run's transcript: the user's input, then `turns` steps of one lookup each, results `resultChars` long. */
function transcript(turns: number, resultChars = 200, callsPerTurn = 1): ContextMessage[] {
  const messages: ContextMessage[] = [{ step: 0, ordinal: 0, role: 'user', content: 'My customer code is ZEBRA-42. Check the orders.' }];
  for (let step = 1; step <= turns; step++) {
    const calls = Array.from({ length: callsPerTurn }, (_, k) => ({ id: `call_${step}_${k}`, name: 'lookup_order', arguments: `{"order_id":"${1000 + step}"}` }));
    messages.push({ step, ordinal: 0, role: 'assistant', content: null, toolCalls: calls });
    calls.forEach((c, k) =>
      messages.push({ step, ordinal: k + 1, role: 'tool', toolCallId: c.id, content: JSON.stringify({ order_id: `${1000 + step}`, notes: 'n'.repeat(resultChars) }) }),
    );
  }
  return messages;
}

const settings = (maxInputTokens: number, more: { keepRecentMessages?: number; maxToolResultChars?: number } = {}) =>
  resolveContextSettings({ maxInputTokens, ...more }, { id: 'gpt-4o-mini' });

const input = (messages: ContextMessage[], maxInputTokens: number, more: Partial<WindowInput> & { keepRecentMessages?: number; maxToolResultChars?: number } = {}): WindowInput => ({
  systemPrompt: 'You are a support agent.',
  toolsJson: '[]',
  transcript: messages,
  settings: settings(maxInputTokens, { keepRecentMessages: more.keepRecentMessages, maxToolResultChars: more.maxToolResultChars }),
  ...more,
});

/** Every tool message in a window follows the assistant message that asked for it. */
function pairsIntact(messages: ReturnType<typeof buildWindow>['messages']): boolean {
  const asked = new Set<string>();
  for (const m of messages) {
    if (m.role === 'assistant') for (const c of m.tool_calls ?? []) asked.add(c.id);
    if (m.role === 'tool' && !asked.has(m.tool_call_id)) return false;
  }
  return true;
}

describe('context window', () => {
  it('sends the whole history while it fits the budget', () => {
    const plan = planWindow(input(transcript(3), 10_000));
    expect(plan.kind).toBe('send');
    if (plan.kind !== 'send') return;
    expect(plan.window.messages).toHaveLength(1 + 1 + 3 * 2);
    expect(plan.window.messages[0]).toEqual({ role: 'system', content: 'You are a support agent.' });
    expect(plan.window.omittedMessages).toBe(0);
    expect(plan.window.estimatedTokens).toBe(likelyPromptTokens(plan.window.messages, '[]'));
  });

  it('summarises the oldest whole turns and keeps the recent ones once the budget is exceeded', () => {
    const messages = transcript(20);
    const plan = planWindow(input(messages, 1500, { keepRecentMessages: 5 }));
    expect(plan.kind).toBe('summarise');
    if (plan.kind !== 'summarise') return;
    // Five messages need three turns of two: steps 18-20 stay, 0-17 go into the summary.
    expect(plan.throughStep).toBe(17);
    expect(plan.evict).toEqual(messages.filter((m) => m.step <= 17));
    const after = buildWindow(input(messages, 1500, { keepRecentMessages: 5 }), { content: 'The customer code is ZEBRA-42.', throughStep: plan.throughStep });
    expect(after.messages[1]).toEqual({ role: 'user', content: `${SUMMARY_HEADING}\nThe customer code is ZEBRA-42.` });
    expect(after.messages.slice(2).map((m) => m.role)).toEqual(['assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool']);
    expect(after.omittedMessages).toBe(messages.length - 6);
    expect(after.estimatedTokens).toBeLessThanOrEqual(1500);
  });

  it('never splits a tool call from its result, however the budget falls', () => {
    // Three calls a turn: a window cut by message count would separate some of them.
    const messages = transcript(12, 150, 3);
    for (let budget = 300; budget <= 4000; budget += 97) {
      for (const keepRecentMessages of [1, 2, 3, 5, 8]) {
        const plan = planWindow(input(messages, budget, { keepRecentMessages }));
        const summary = plan.kind === 'summarise' ? { content: 'summary', throughStep: plan.throughStep } : undefined;
        const window = buildWindow(input(messages, budget, { keepRecentMessages }), summary);
        expect(pairsIntact(window.messages), `budget ${budget}, keep ${keepRecentMessages}`).toBe(true);
        // Whole turns go: every message of the summarised steps, none of a later one.
        if (plan.kind === 'summarise') expect(plan.evict).toEqual(messages.filter((m) => m.step <= plan.throughStep));
      }
    }
  });

  it('keeps fewer recent turns than asked when they alone exceed the budget, but always the last', () => {
    const messages = transcript(10, 1000);
    const asked = input(messages, 800, { keepRecentMessages: 8, maxToolResultChars: 100_000 });
    const plan = planWindow(asked);
    expect(plan.kind).toBe('summarise');
    if (plan.kind !== 'summarise') return;
    // Eight messages would be four turns (steps 7-10); they do not fit 800 tokens, so fewer stay, at least step 10.
    expect(plan.throughStep).toBeGreaterThan(6);
    expect(plan.throughStep).toBeLessThan(10);
    const longestSummary = 'x'.repeat(asked.settings.summaryMaxTokens * 4);
    expect(buildWindow(asked, { content: longestSummary, throughStep: plan.throughStep }).estimatedTokens).toBeLessThanOrEqual(800);
    expect(buildWindow(asked, { content: longestSummary, throughStep: plan.throughStep - 1 }).estimatedTokens).toBeGreaterThan(800);
  });

  it('sends a single oversized turn as it is: there is nothing older to summarise', () => {
    const messages = transcript(4, 2000);
    const plan = planWindow(input(messages, 600, { maxToolResultChars: 100_000 }));
    expect(plan.kind).toBe('summarise');
    const afterSummary = input(messages, 600, { maxToolResultChars: 100_000, summary: { content: 's', throughStep: 3 } });
    const again = planWindow(afterSummary);
    expect(again.kind).toBe('send');
    if (again.kind === 'send') expect(again.window.estimatedTokens).toBeGreaterThan(600);
  });

  it('reuses a stored summary: only the turns after it are sent, and nothing is summarised again while they fit', () => {
    const messages = transcript(20);
    const plan = planWindow(input(messages, 1500, { summary: { content: 'Earlier: code ZEBRA-42.', throughStep: 17 } }));
    expect(plan.kind).toBe('send');
    if (plan.kind !== 'send') return;
    expect(plan.window.messages).toHaveLength(2 + 6);
    expect(plan.window.messages[1]!.content).toContain('ZEBRA-42');
  });

  it('counts the estimate up by the calibration the last real call gave', () => {
    const messages = transcript(5);
    const plain = buildWindow(input(messages, 10_000));
    const calibrated = buildWindow(input(messages, 10_000, { calibration: 2 }));
    expect(calibrated.estimatedTokens).toBeGreaterThanOrEqual(plain.estimatedTokens * 2 - 1);
  });

  it('cuts long tool results, with a note, in what the model sees only', () => {
    expect(truncateToolResult('short', 10)).toEqual({ content: 'short', truncated: false });
    const cut = truncateToolResult('x'.repeat(500), 100);
    expect(cut.truncated).toBe(true);
    expect(cut.content.startsWith('x'.repeat(100) + '\n[Truncated by Bosun: the first 100 of 500 characters')).toBe(true);
    const messages = transcript(2, 1000);
    const window = buildWindow(input(messages, 100_000, { maxToolResultChars: 300 }));
    expect(window.truncatedToolResults).toBe(2);
    expect(window.messages.filter((m) => m.role === 'tool').every((m) => String(m.content).includes('[Truncated by Bosun'))).toBe(true);
    expect(messages[2]!.content!.length).toBeGreaterThan(1000);
  });

  it('groups a transcript into one turn per step', () => {
    expect(turnsOf(transcript(3, 10, 2)).map((t) => t.map((m) => `${m.step}.${m.ordinal}`))).toEqual([
      ['0.0'], ['1.0', '1.1', '1.2'], ['2.0', '2.1', '2.2'], ['3.0', '3.1', '3.2'],
    ]);
  });

  it('asks the summariser to fold the previous summary and the evicted turns together, tool results named and cut', () => {
    const messages = transcript(2, 5000);
    const [system, user] = summaryPrompt(messages, 'Earlier: code ZEBRA-42.', settings(1000, { maxToolResultChars: 200 }));
    expect(system!.role).toBe('system');
    const text = String(user!.content);
    expect(text).toMatch(/^Summarise the conversation below/);
    expect(text).toContain('SUMMARY SO FAR:\nEarlier: code ZEBRA-42.');
    expect(text).toContain('USER: My customer code is ZEBRA-42.');
    expect(text).toContain('AGENT: [called lookup_order({"order_id":"1001"})]');
    expect(text).toContain('TOOL RESULT (lookup_order): {"order_id":"1001"');
    expect(text).toContain('[Truncated by Bosun: the first 200 of');
    expect(text.length).toBeLessThan(2000);
  });

  it('fills in the defaults of a context budget', () => {
    expect(resolveContextSettings({ maxInputTokens: 4000 }, { id: 'gpt-4o', routing: { cheap: 'gpt-4o-mini' } })).toEqual({
      maxInputTokens: 4000, keepRecentMessages: 6, maxToolResultChars: 4000, summaryModel: 'gpt-4o-mini', summaryMaxTokens: 500,
    });
    expect(resolveContextSettings({ maxInputTokens: 300, summaryModel: 'x' }, { id: 'gpt-4o' })).toMatchObject({ summaryModel: 'x', summaryMaxTokens: 64 });
  });
});
