import { describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { validateBundle } from '../../src/bundles/bundleStore';
import { applicableRule, routeModel } from '../../src/shared/modelRouting';
import { stackRegistry } from '../support/tools';

const routing = { strong: 'gpt-4o', cheap: 'gpt-4o-mini' };
const model = { id: 'gpt-4o', routing };

describe('model routing', () => {
  it('sends the first step to the strong model and routine tool-following steps to the cheap one', () => {
    expect(routeModel(model, { step: 1, previousToolStatuses: [] })).toEqual({ model: 'gpt-4o', tier: 'strong', rule: 'firstStep' });
    expect(routeModel(model, { step: 2, previousToolStatuses: ['ok'] })).toEqual({ model: 'gpt-4o-mini', tier: 'cheap', rule: 'default' });
    expect(routeModel(model, { step: 7, previousToolStatuses: ['ok', 'ok'] })).toMatchObject({ model: 'gpt-4o-mini' });
  });

  it('escalates to the strong model after a failed, rejected or invalid tool call of the previous step', () => {
    expect(routeModel(model, { step: 3, previousToolStatuses: ['ok', 'error'] })).toEqual({ model: 'gpt-4o', tier: 'strong', rule: 'afterToolError' });
    expect(routeModel(model, { step: 3, previousToolStatuses: ['rejected'] })).toMatchObject({ model: 'gpt-4o', rule: 'afterToolError' });
    expect(routeModel(model, { step: 3, previousToolStatuses: ['error', 'invalid_arguments'] })).toEqual({
      model: 'gpt-4o', tier: 'strong', rule: 'afterInvalidToolCall',
    });
  });

  it('follows the bundle\'s own rules over the defaults', () => {
    const custom = { id: 'gpt-4o', routing: { ...routing, rules: { firstStep: 'cheap' as const, afterToolError: 'cheap' as const, default: 'strong' as const } } };
    expect(routeModel(custom, { step: 1, previousToolStatuses: [] })).toMatchObject({ model: 'gpt-4o-mini', rule: 'firstStep' });
    expect(routeModel(custom, { step: 2, previousToolStatuses: ['error'] })).toMatchObject({ model: 'gpt-4o-mini', rule: 'afterToolError' });
    expect(routeModel(custom, { step: 2, previousToolStatuses: ['invalid_arguments'] })).toMatchObject({ model: 'gpt-4o', rule: 'afterInvalidToolCall' });
    expect(routeModel(custom, { step: 2, previousToolStatuses: ['ok'] })).toMatchObject({ model: 'gpt-4o', rule: 'default' });
  });

  it('routes nothing without a routing table, and puts the first step first whatever came before', () => {
    expect(routeModel({ id: 'gpt-4o' }, { step: 1, previousToolStatuses: [] })).toBeUndefined();
    expect(applicableRule({ step: 1, previousToolStatuses: ['error'] })).toBe('firstStep');
    // A step after a final answer or an approval wait with no tool rows is routine.
    expect(applicableRule({ step: 4, previousToolStatuses: [] })).toBe('default');
  });
});

describe('bundle schema: routing and context budget', () => {
  const base = readBundleDir('agents/support') as Record<string, any>;

  it('accepts a routing table and a context budget, and leaves bundles without them as they were', () => {
    const plain = validateBundle(base, stackRegistry);
    expect(plain.ok).toBe(true);
    const routed = validateBundle({
      ...base,
      model: { id: 'gpt-4o', routing: { ...routing, rules: { afterToolError: 'strong' } } },
      context: { maxInputTokens: 8000, keepRecentMessages: 6, maxToolResultChars: 2000 },
    }, stackRegistry);
    expect(routed.ok).toBe(true);
    if (!plain.ok || !routed.ok) return;
    expect(routed.bundle.id).not.toBe(plain.bundle.id);
    expect(Object.keys(plain.bundle)).not.toContain('context');
  });

  it('refuses a routing table that does not include the bundle\'s model, and bad budgets or tiers', () => {
    const problems = (raw: unknown) => {
      const v = validateBundle(raw, stackRegistry);
      return v.ok ? [] : v.problems;
    };
    expect(problems({ ...base, model: { id: 'gpt-4.1-mini', routing } })).toEqual([expect.stringMatching(/^model\.id: with routing/)]);
    expect(problems({ ...base, model: { id: 'gpt-4o', routing: { ...routing, rules: { default: 'medium' } } } })).toEqual([
      expect.stringMatching(/^model\.routing\.rules\.default: /),
    ]);
    expect(problems({ ...base, model: { id: 'gpt-4o', routing: { strong: 'gpt-4o' } } })).toEqual([expect.stringMatching(/^model\.routing\.cheap: /)]);
    expect(problems({ ...base, context: { maxInputTokens: 10 } })).toEqual([expect.stringMatching(/^context\.maxInputTokens: /)]);
    expect(problems({ ...base, context: { maxInputTokens: 1000, keepRecent: 3 } })).toEqual([expect.stringMatching(/^context: .*keepRecent/)]);
  });
});
