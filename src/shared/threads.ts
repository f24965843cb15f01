/**
 * Conversations on threads (docs/conversations.md): the double-texting strategies, and how a turn
 * sees the turns before it. Pure: the bundle schema, the contract and the model activity share it.
 */
import { z } from 'zod';
import type { ContextMessage } from './domain';

/**
 * What a new message on a thread whose run is still active does: `reject` (409), `enqueue` (runs
 * after the open turns, in order), `interrupt` (the open runs stop at their next safe point, between
 * steps, and the new run sees what they did), `rollback` (the open runs are cancelled and their
 * turns removed; refused with 409 once one of them started a write or destructive tool).
 */
export const multitaskStrategies = ['reject', 'enqueue', 'interrupt', 'rollback'] as const;
export type MultitaskStrategy = (typeof multitaskStrategies)[number];
export const multitaskStrategySchema = z.enum(multitaskStrategies);

/** The strategy when neither the request nor the bundle names one: nothing is lost or reordered silently. */
export const DEFAULT_MULTITASK_STRATEGY: MultitaskStrategy = 'reject';

/** A bundle's conversation settings (bundle `threads`). */
export const threadSettingsSchema = z
  .object({
    multitaskStrategy: multitaskStrategySchema
      .optional()
      .describe("What a new message on a busy thread does when the request names no strategy; 'reject' by default."),
  })
  .strict();

/**
 * Steps of earlier turns, as one run's context window sees them: turn k of n earlier ones (0-based,
 * oldest first) has its step s at (k - n) * TURN_SPAN + s, so every earlier turn comes before the
 * run's own steps (0 and up) and keeps its order. Larger than any run's steps (bundle maxSteps ≤ 1000).
 */
export const TURN_SPAN = 100_000;

export interface EarlierTurn {
  turn: number;
  messages: ContextMessage[];
}

/**
 * The earlier turns as one transcript on the run's step scale (see TURN_SPAN), each turn closed: an
 * assistant message keeps only the tool calls whose results are there (a turn interrupted or
 * cancelled between a reply and its tools), and one left with neither text nor calls is dropped,
 * since a provider refuses a tool call without its result.
 */
export function earlierTranscript(turns: readonly EarlierTurn[]): ContextMessage[] {
  return turns.flatMap(({ messages }, k) => {
    const answered = new Set(messages.flatMap((m) => (m.role === 'tool' && m.toolCallId ? [m.toolCallId] : [])));
    const offset = (k - turns.length) * TURN_SPAN;
    return messages.flatMap((m): ContextMessage[] => {
      const shifted = { ...m, step: m.step + offset };
      if (m.role !== 'assistant' || !m.toolCalls?.length) return [shifted];
      const toolCalls = m.toolCalls.filter((c) => answered.has(c.id));
      if (toolCalls.length === 0 && !m.content) return [];
      return [{ ...shifted, toolCalls: toolCalls.length ? toolCalls : undefined }];
    });
  });
}

/** A position in the thread (turn, step of that turn's run) on a run's step scale; undefined for a turn not among `turns`. */
export function stepOnScale(turns: readonly { turn: number }[], currentTurn: number, at: { turn: number; step: number }): number | undefined {
  if (at.turn === currentTurn) return at.step;
  const k = turns.findIndex((t) => t.turn === at.turn);
  return k < 0 ? undefined : (k - turns.length) * TURN_SPAN + at.step;
}

/** A step on a run's scale as a position in the thread: the inverse of stepOnScale. */
export function positionOfStep(turns: readonly { turn: number }[], currentTurn: number, step: number): { turn: number; step: number } {
  if (step >= 0) return { turn: currentTurn, step };
  const k = Math.floor(step / TURN_SPAN) + turns.length;
  return { turn: turns[k]!.turn, step: step - (k - turns.length) * TURN_SPAN };
}
