import { describe, expect, it } from 'vitest';
import { validateBundle } from '../../src/bundles/bundleStore';
import { bundleModels, modelPriceOf } from '../../src/shared/bundle';
import { stackRegistry } from '../support/tools';

const base = {
  name: 'helper',
  systemPrompt: 'Help.',
  tools: [{ name: 'lookup_order', version: 1 }],
  limits: { maxSteps: 5 },
};
const table = { 'gpt-4o-mini': { input: 0.15, output: 0.6 } };
const problemsOf = (raw: unknown) => {
  const validated = validateBundle(raw, stackRegistry, table);
  return validated.ok ? [] : validated.problems;
};

describe('model prices of a bundle', () => {
  it('refuses a model the price table lacks, naming the field and the model', () => {
    expect(problemsOf({ ...base, model: { id: 'acme-large' } })).toEqual([expect.stringMatching(/^model\.id: model "acme-large" has no price/)]);
    expect(problemsOf({ ...base, model: { id: 'gpt-4o-mini', routing: { strong: 'acme-large', cheap: 'gpt-4o-mini' } } }))
      .toEqual([expect.stringMatching(/^model\.routing\.strong: model "acme-large"/)]);
    expect(problemsOf({ ...base, model: { id: 'gpt-4o-mini' }, context: { maxInputTokens: 4000, summaryModel: 'acme-small' } }))
      .toEqual([expect.stringMatching(/^context\.summaryModel: model "acme-small"/)]);
  });

  it('takes a price, or an explicit zero with its reason, from the bundle', () => {
    expect(problemsOf({ ...base, model: { id: 'acme-large', prices: { 'acme-large': { input: 3, output: 15 } } } })).toEqual([]);
    expect(problemsOf({ ...base, model: { id: 'acme-large', prices: { 'acme-large': { zero: true, reason: 'self-hosted' } } } })).toEqual([]);
    expect(problemsOf({ ...base, model: { id: 'acme-large', prices: { 'acme-large': { zero: true } } } })).not.toEqual([]);
    expect(problemsOf({ ...base, model: { id: 'acme-large', prices: { 'acme-large': { input: -1, output: 15 } } } })).not.toEqual([]);
    expect(problemsOf({ ...base, model: { id: 'gpt-4o-mini', prices: { 'gpt-4o': { input: 1, output: 1 } } } }))
      .toEqual([expect.stringMatching(/^model\.prices\["gpt-4o"\]: the bundle never calls/)]);
  });

  it("charges the bundle's own price first, then the table's", () => {
    const model = { id: 'gpt-4o-mini', prices: { 'gpt-4o-mini': { input: 1, output: 2 }, free: { zero: true as const, reason: 'local' } } };
    expect(modelPriceOf({ model }, 'gpt-4o-mini', table)).toEqual({ input: 1, output: 2 });
    expect(modelPriceOf({ model }, 'free', table)).toEqual({ input: 0, output: 0 });
    expect(modelPriceOf({ model: { id: 'gpt-4o-mini' } }, 'gpt-4o-mini', table)).toEqual(table['gpt-4o-mini']);
    expect(modelPriceOf({ model: { id: 'x' } }, 'x', table)).toBeUndefined();
    expect(modelPriceOf({ model: { id: 'x' } }, 'constructor', table)).toBeUndefined();
  });

  it('lists every model a run may call, once', () => {
    expect(bundleModels({ model: { id: 'a', routing: { strong: 'a', cheap: 'b' } }, context: { maxInputTokens: 1000 } }).map((m) => m.model))
      .toEqual(['a', 'b']);
  });
});
