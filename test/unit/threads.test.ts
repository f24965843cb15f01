import { describe, expect, it } from 'vitest';
import type { ContextMessage } from '../../src/shared/domain';
import { earlierTranscript, positionOfStep, stepOnScale, TURN_SPAN } from '../../src/shared/threads';

const user = (step: number, content: string): ContextMessage => ({ step, ordinal: 0, role: 'user', content });
const calls = (step: number, ids: string[], content: string | null = null): ContextMessage => ({
  step, ordinal: 0, role: 'assistant', content, toolCalls: ids.map((id) => ({ id, name: 'lookup_order', arguments: '{}' })),
});
const result = (step: number, ordinal: number, id: string): ContextMessage => ({ step, ordinal, role: 'tool', content: 'ok', toolCallId: id });

describe('earlier turns of a thread', () => {
  it('places earlier turns before the run, oldest first, keeping their order', () => {
    const transcript = earlierTranscript([
      { turn: 1, messages: [user(0, 'one'), { step: 1, ordinal: 0, role: 'assistant', content: 'done one' }] },
      { turn: 3, messages: [user(0, 'three')] },
    ]);
    expect(transcript.map((m) => [m.step, m.content])).toEqual([[-2 * TURN_SPAN, 'one'], [-2 * TURN_SPAN + 1, 'done one'], [-TURN_SPAN, 'three']]);
  });

  it('closes a turn cut between a reply and its tools: calls without results are left out', () => {
    const transcript = earlierTranscript([
      { turn: 1, messages: [user(0, 'go'), calls(1, ['a', 'b']), result(1, 1, 'a'), calls(2, ['c']), calls(3, ['d'], 'let me check')] },
    ]);
    expect(transcript.map((m) => [m.role, m.toolCalls?.map((c) => c.id) ?? null, m.content])).toEqual([
      ['user', null, 'go'],
      ['assistant', ['a'], null],
      ['tool', null, 'ok'],
      ['assistant', null, 'let me check'],
    ]);
  });

  it('maps thread positions to the run scale and back', () => {
    const turns = [{ turn: 1 }, { turn: 2 }, { turn: 4 }];
    for (const at of [{ turn: 1, step: 0 }, { turn: 2, step: 7 }, { turn: 4, step: 3 }, { turn: 5, step: 2 }]) {
      const step = stepOnScale(turns, 5, at)!;
      expect(positionOfStep(turns, 5, step)).toEqual(at);
    }
    // A rolled-back turn (3) is not on the scale.
    expect(stepOnScale(turns, 5, { turn: 3, step: 0 })).toBeUndefined();
    expect(stepOnScale(turns, 5, { turn: 1, step: 5 })).toBeLessThan(stepOnScale(turns, 5, { turn: 2, step: 0 })!);
  });
});
