/**
 * The pure rules of shadowing (src/shared/shadowing.ts): a replay's approval decided from its
 * original's (waiting while that is still to come), and the deterministic sampling of production runs.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mirroredAt, shadowDecisionOf, type PendingShadowApproval } from '../../src/shared/shadowing';

const pending = (original: string | null, originalEnded: boolean, editedArguments?: Record<string, unknown>): PendingShadowApproval => ({
  runId: 'r', approvalId: 'a', tool: 'issue_refund', original, originalEnded, ...(editedArguments && { editedArguments }),
});

describe('shadowDecisionOf', () => {
  it('approves as the original was approved, with its edit', () => {
    expect(shadowDecisionOf(pending('approved', true), 'as_original', 's')).toEqual({ decision: 'approve', comment: 'shadow replay s: the original was approved' });
    expect(shadowDecisionOf(pending('approved', true, { amount_cents: 5 }), 'as_original', 's')).toMatchObject({ decision: 'approve', arguments: { amount_cents: 5 } });
  });

  it('rejects what the original rejected, let expire, or never asked', () => {
    for (const original of ['rejected', 'expired', 'cancelled', null]) {
      expect(shadowDecisionOf(pending(original, true), 'as_original', 's')?.decision).toBe('reject');
    }
    expect(shadowDecisionOf(pending('approved', true), 'reject', 's')).toEqual({ decision: 'reject', comment: 'shadow replay s: every approval rejected' });
  });

  it('waits while the original has not decided, or may still ask', () => {
    expect(shadowDecisionOf(pending('pending', false), 'as_original', 's')).toBeUndefined();
    expect(shadowDecisionOf(pending(null, false), 'as_original', 's')).toBeUndefined();
  });
});

describe('mirroredAt', () => {
  it('mirrors every run at 1, none at 0, about the rate between, the same answer each time', () => {
    const ids = Array.from({ length: 4000 }, () => randomUUID());
    expect(ids.every((id) => mirroredAt(id, 1))).toBe(true);
    expect(ids.some((id) => mirroredAt(id, 0))).toBe(false);
    const share = ids.filter((id) => mirroredAt(id, 0.25)).length / ids.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    expect(ids.map((id) => mirroredAt(id, 0.25))).toEqual(ids.map((id) => mirroredAt(id, 0.25)));
  });
});
