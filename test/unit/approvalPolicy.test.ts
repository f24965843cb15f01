import { describe, expect, it } from 'vitest';
import { validateBundle } from '../../src/bundles/bundleStore';
import { approvalRequirement, statedReason } from '../../src/shared/approvals';
import { runPolicyOf } from '../../src/shared/bundle';
import type { ToolPolicy } from '../../src/shared/approvals';
import { stackRegistry } from '../support/tools';

const refund = (approval?: ToolPolicy['approval'], requiresApproval = true): ToolPolicy => ({
  name: 'issue_refund', kind: 'write', requiresApproval, ...(approval !== undefined && { approval }),
});

describe('approvalRequirement', () => {
  const threshold = { above: { field: 'amount_cents', value: 50000 } };

  it('gates by the rule that applies, and says which', () => {
    expect(approvalRequirement(refund(), { amount_cents: 1 })).toMatchObject({ kind: 'write', rule: 'default' });
    expect(approvalRequirement(refund('always'), { amount_cents: 1 })).toMatchObject({ rule: 'always' });
    expect(approvalRequirement(refund('never', false), { amount_cents: 1e6 })).toBeUndefined();
  });

  it('gates a threshold only above it, and fails closed without a number', () => {
    expect(approvalRequirement(refund(threshold), { amount_cents: 50000 })).toBeUndefined();
    expect(approvalRequirement(refund(threshold), { amount_cents: 50001 })).toEqual({
      kind: 'write', rule: 'above', field: 'amount_cents', threshold: 50000, value: 50001,
      summary: 'amount_cents 50001 is above the threshold of 50000',
    });
    expect(approvalRequirement(refund(threshold), {})).toMatchObject({ rule: 'above', value: null });
  });

  it('never gates reads', () => {
    expect(approvalRequirement({ name: 'lookup_order', kind: 'read', requiresApproval: true, approval: 'always' }, {})).toBeUndefined();
  });

  it('reads policies from before thresholds as they were meant', () => {
    expect(approvalRequirement({ name: 'issue_refund', kind: 'write', requiresApproval: true }, { amount_cents: 1 })).toMatchObject({ rule: 'default' });
    expect(approvalRequirement({ name: 'issue_refund', kind: 'write', requiresApproval: false }, { amount_cents: 1 })).toBeUndefined();
  });
});

describe('statedReason', () => {
  it("prefers the model's text, then the reason argument", () => {
    expect(statedReason('  Because it broke. ', { reason: 'x' })).toBe('Because it broke.');
    expect(statedReason(null, { reason: 'customer asked' })).toBe('customer asked');
    expect(statedReason('', { reason: 7 })).toBeNull();
    expect(statedReason(undefined, null)).toBeNull();
  });
});

describe('approval policy in bundles', () => {
  const bundle = (tools: unknown[], extra: Record<string, unknown> = {}) => ({
    name: 'helper', systemPrompt: 'Help.', model: { id: 'gpt-4o-mini' }, tools, limits: { maxSteps: 5 }, ...extra,
  });

  it('carries a threshold into the run policy', () => {
    const validated = validateBundle(bundle(
      [{ name: 'lookup_order', version: 1 }, { name: 'issue_refund', version: 1, approval: { above: { field: 'amount_cents', value: 50000 } } }],
      { approvals: { separateApprover: true } },
    ), stackRegistry);
    if (!validated.ok) throw new Error(validated.problems.join('; '));
    expect(validated.bundle.approvals).toEqual({ separateApprover: true });
    expect(runPolicyOf(validated.bundle, 1000, 'main').tools).toEqual([
      expect.objectContaining({ name: 'lookup_order', kind: 'read', requiresApproval: false }),
      expect.objectContaining({ name: 'issue_refund', kind: 'write', requiresApproval: true, approval: { above: { field: 'amount_cents', value: 50000 } } }),
    ]);
    expect(runPolicyOf(validated.bundle, 1000, 'main').tools[0]).not.toHaveProperty('approval');
  });

  it('refuses thresholds on missing or non-numeric arguments, and unknown shapes', () => {
    const problemsOf = (raw: unknown) => {
      const validated = validateBundle(raw, stackRegistry);
      return validated.ok ? [] : validated.problems;
    };
    expect(problemsOf(bundle([{ name: 'issue_refund', version: 1, approval: { above: { field: 'order_id', value: 1 } } }])))
      .toEqual(['tools.0.approval.above.field: issue_refund has no numeric argument "order_id"']);
    expect(problemsOf(bundle([{ name: 'issue_refund', version: 1, approval: { above: { field: 'nope', value: 1 } } }])))
      .toEqual(['tools.0.approval.above.field: issue_refund has no numeric argument "nope"']);
    expect(problemsOf(bundle([{ name: 'issue_refund', version: 1, approval: 'sometimes' }]))).toHaveLength(1);
    expect(problemsOf(bundle([{ name: 'issue_refund', version: 1 }], { approvals: { separateApprover: 'yes' } }))).toHaveLength(1);
  });
});
