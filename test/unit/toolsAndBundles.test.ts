import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { canonicalJson } from '../../src/bundles/bundleId';
import { validateBundle } from '../../src/bundles/bundleStore';
import { renderSystemPrompt, runPolicyOf } from '../../src/shared/bundle';
import { diffJson } from '../../src/shared/diff';
import { parseToolArguments } from '../../src/shared/tools';

describe('parseToolArguments', () => {
  it('accepts arguments that match the schema', () => {
    expect(parseToolArguments('issue_refund', '{"order_id":"1001","amount_cents":500}')).toEqual({
      ok: true, args: { order_id: '1001', amount_cents: 500 },
    });
  });
  it.each([
    ['not JSON', '{order', /not valid JSON/],
    ['a wrong type', '{"order_id":1001}', /^order_id: /],
    ['a negative amount', '{"order_id":"1001","amount_cents":-5}', /^amount_cents: /],
    ['an extra key', '{"order_id":"1001","amount_cents":5,"to_account":"x"}', /to_account/],
  ])('refuses %s', (_name, raw, problem) => {
    const parsed = parseToolArguments('issue_refund', raw);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problems.some((p) => problem.test(p))).toBe(true);
  });
});

const validBundle = {
  name: 'helper',
  systemPrompt: 'You help customers of {{shop}}.',
  variables: { shop: 'Acme' },
  model: { id: 'gpt-4o-mini' },
  tools: [{ name: 'lookup_order', version: 1 }, { name: 'issue_refund', version: 1 }],
  limits: { maxSteps: 5 },
};

const idOf = (raw: unknown) => {
  const validated = validateBundle(raw);
  if (!validated.ok) throw new Error(validated.problems.join('; '));
  return validated.bundle.id;
};

describe('bundles', () => {
  it('hashes canonical content into the ID: same content same ID, one changed byte a new one', () => {
    const id = idOf(validBundle);
    expect(id).toMatch(/^helper@[0-9a-f]{12}$/);
    const { limits, ...rest } = validBundle;
    expect(idOf({ limits, ...rest })).toBe(id);
    expect(idOf({ ...validBundle, systemPrompt: 'You help customers of {{shop}}!' })).not.toBe(id);
    expect(idOf({ ...validBundle, variables: { shop: 'Acmf' } })).not.toBe(id);
  });

  it('refuses an invalid bundle with every problem listed', () => {
    const shapeless = validateBundle({ ...validBundle, name: 'Bad Name', model: { id: '' }, limits: { maxSteps: 0 }, extra: 1 });
    expect(shapeless.ok).toBe(false);
    expect(!shapeless.ok && shapeless.problems.map((p) => p.split(':')[0]).sort()).toEqual(['body', 'limits.maxSteps', 'model.id', 'name']);

    const wrong = validateBundle({
      ...validBundle,
      systemPrompt: 'Hi {{shop}}, {{tone}} and {{ shop }}',
      tools: [{ name: 'rm_rf', version: 1 }, { name: 'lookup_order', version: 2 }, { name: 'issue_refund', version: 1 }, { name: 'issue_refund', version: 1 }],
    });
    expect(wrong.ok).toBe(false);
    expect(!wrong.ok && wrong.problems).toEqual([
      'tools.0.name: unknown tool "rm_rf"',
      'tools.1.version: this build has lookup_order v1, not v2',
      'tools.3.name: "issue_refund" is listed twice',
      'variables.tone: the prompt uses {{tone}} but gives it no value',
    ]);
  });

  it('reads a bundle directory into the publish body', () => {
    const raw = readBundleDir(path.resolve(__dirname, '../../agents/support'));
    expect(raw.systemPrompt).toMatch(/customer support agent of \{\{shop\}\}/);
    const validated = validateBundle(raw);
    expect(validated.ok && renderSystemPrompt(validated.bundle)).toMatch(/agent of Northwind Outfitters/);
  });

  it('gates writes behind approval and never reads', () => {
    const validated = validateBundle(validBundle);
    expect(validated.ok && runPolicyOf(validated.bundle, 1000).tools).toEqual([
      { name: 'lookup_order', kind: 'read', requiresApproval: false },
      { name: 'issue_refund', kind: 'write', requiresApproval: true },
    ]);
  });

  it('writes canonical JSON with sorted keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: undefined } })).toBe('{"a":{"d":[2,{"e":0,"f":1}]},"b":1}');
  });
});

describe('diffJson', () => {
  it('lists changed leaves by path', () => {
    expect(diffJson({ a: 1, b: { c: [1, 2], d: 'x' } }, { a: 1, b: { c: [1, 3], e: true } })).toEqual([
      { path: 'b.c.1', from: 2, to: 3 },
      { path: 'b.d', from: 'x', to: undefined },
      { path: 'b.e', from: undefined, to: true },
    ]);
  });
});
