import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BundleError, canonicalJson, loadBundle, loadBundles } from '../../src/bundles/loadBundles';
import { runPolicyOf } from '../../src/shared/bundle';
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

function writeBundle(dir: string, yaml: string, prompt = 'You help.') {
  writeFileSync(path.join(dir, 'bundle.yaml'), yaml);
  writeFileSync(path.join(dir, 'prompt.md'), prompt);
  return path.join(dir, 'bundle.yaml');
}

const validYaml = `name: helper
prompt: prompt.md
model: { id: gpt-4o-mini }
tools: [{ name: lookup_order }, { name: issue_refund }]
limits: { maxSteps: 5 }
`;

describe('bundles', () => {
  it('hashes canonical content into the ID: same content same ID, one changed byte a new one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bundle-'));
    const first = loadBundle(writeBundle(dir, validYaml));
    expect(first.id).toMatch(/^helper@[0-9a-f]{12}$/);
    const reordered = loadBundle(writeBundle(dir, `limits: { maxSteps: 5 }\n${validYaml.replace('limits: { maxSteps: 5 }\n', '')}`));
    expect(reordered.id).toBe(first.id);
    expect(loadBundle(writeBundle(dir, validYaml, 'You help!')).id).not.toBe(first.id);
  });

  it('refuses an invalid bundle with every problem listed', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bundle-'));
    const file = writeBundle(dir, 'name: Bad Name\nprompt: prompt.md\nmodel: { id: "" }\ntools: [{ name: rm_rf }]\nlimits: { maxSteps: 0 }\n');
    try {
      loadBundle(file);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BundleError);
      expect((err as BundleError).problems.map((p) => p.split(':')[0]).sort()).toEqual(['limits.maxSteps', 'model.id', 'name', 'tools.0.name']);
      expect((err as BundleError).problems.join()).toMatch(/unknown tool "rm_rf"/);
    }
  });

  it('gates writes behind approval and never reads', () => {
    const support = loadBundles(path.resolve(__dirname, '../../agents')).currentFor('support')!;
    expect(runPolicyOf(support, 1000).tools).toEqual([
      { name: 'lookup_order', kind: 'read', requiresApproval: false },
      { name: 'issue_refund', kind: 'write', requiresApproval: true },
    ]);
  });

  it('writes canonical JSON with sorted keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: undefined } })).toBe('{"a":{"d":[2,{"e":0,"f":1}]},"b":1}');
  });
});
