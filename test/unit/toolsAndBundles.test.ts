import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { canonicalJson } from '../../src/bundles/bundleId';
import { validateBundle } from '../../src/bundles/bundleStore';
import { defineTool, z, type BosunTool } from '../../src/sdk/tools';
import { renderSystemPrompt, runPolicyOf } from '../../src/shared/bundle';
import { diffJson } from '../../src/shared/diff';
import { legacyToolPins } from '../../src/shared/legacyTools';
import { parseToolArguments } from '../../src/shared/toolArguments';
import { toolTaskQueue } from '../../src/shared/toolSpec';
import { issueRefund, lookupOrder } from '../../examples/support-tools/orders';
import { registeredFrom, stackRegistry, stackTools } from '../support/tools';

describe('parseToolArguments against a pinned schema', () => {
  const refund = issueRefund.manifest.parameters;
  it('accepts arguments that match the schema', () => {
    expect(parseToolArguments(refund, '{"order_id":"1001","amount_cents":500}')).toEqual({
      ok: true, args: { order_id: '1001', amount_cents: 500 },
    });
  });
  it.each([
    ['not JSON', '{order', /not valid JSON/],
    ['a wrong type', '{"order_id":1001}', /^order_id: /],
    ['a negative amount', '{"order_id":"1001","amount_cents":-5}', /^amount_cents: /],
    ['an extra key', '{"order_id":"1001","amount_cents":5,"to_account":"x"}', /to_account/],
  ])('refuses %s', (_name, raw, problem) => {
    const parsed = parseToolArguments(refund, raw);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problems.some((p) => problem.test(p))).toBe(true);
  });

  // The demo tools' zod `args` are the old compiled-in catalog's schemas, moved as they were: the
  // JSON Schema the workflow now checks must decide every call as they did.
  const table: [string, unknown][] = [
    ['lookup_order', { order_id: '1001' }],
    ['lookup_order', { order_id: '123456789012' }],
    ['lookup_order', { order_id: '1234567890123' }],
    ['lookup_order', { order_id: '' }],
    ['lookup_order', { order_id: 'A1001' }],
    ['lookup_order', { order_id: '1001\n' }],
    ['lookup_order', { order_id: '١٢٣' }],
    ['lookup_order', { order_id: 1001 }],
    ['lookup_order', { order_id: null }],
    ['lookup_order', {}],
    ['lookup_order', { order_id: '1001', extra: true }],
    ['lookup_order', []],
    ['lookup_order', null],
    ['lookup_order', '1001'],
    ['issue_refund', { order_id: '1001', amount_cents: 500 }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, reason: 'broken on arrival' }],
    ['issue_refund', { order_id: '1001', amount_cents: 10_000_000 }],
    ['issue_refund', { order_id: '1001', amount_cents: 10_000_001 }],
    ['issue_refund', { order_id: '1001', amount_cents: 1 }],
    ['issue_refund', { order_id: '1001', amount_cents: 0 }],
    ['issue_refund', { order_id: '1001', amount_cents: -5 }],
    ['issue_refund', { order_id: '1001', amount_cents: 1.5 }],
    ['issue_refund', { order_id: '1001', amount_cents: '500' }],
    ['issue_refund', { order_id: '1001' }],
    ['issue_refund', { amount_cents: 500 }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, reason: 'x'.repeat(500) }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, reason: 'x'.repeat(501) }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, reason: '😀'.repeat(300) }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, reason: null }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, reason: 7 }],
    ['issue_refund', { order_id: '1001', amount_cents: 500, to_account: 'x' }],
  ];
  const demoTools: Record<string, BosunTool> = { lookup_order: lookupOrder, issue_refund: issueRefund };
  it.each(table)('decides %s on %j as its zod schema does', (name, args) => {
    const tool = demoTools[name]!;
    const zodAccepts = tool.args.safeParse(args).success;
    expect(parseToolArguments(tool.manifest.parameters, JSON.stringify(args)).ok).toBe(zodAccepts);
    // Runs from before pinning check against the legacy pins: the same decisions there too.
    expect(parseToolArguments(legacyToolPins[tool.manifest.name]!.parameters, JSON.stringify(args)).ok).toBe(zodAccepts);
  });
  it('has both decisions in the table', () => {
    const decisions = new Set(table.map(([name, args]) => demoTools[name]!.args.safeParse(args).success));
    expect(decisions).toEqual(new Set([true, false]));
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

const idOf = (raw: unknown, registered = stackRegistry) => {
  const validated = validateBundle(raw, registered);
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

  it("pins each tool's schema into the ID: a schema changed under the same version gives a new ID", () => {
    const id = idOf(validBundle);
    const widened = defineTool({
      name: 'lookup_order', version: 1, kind: 'read', description: lookupOrder.manifest.description,
      args: z.object({ order_id: z.string(), include_refunds: z.boolean().optional() }).strict(),
      scope: ['tenant:orders', 'tenant:refunds'], handler: async () => ({}),
    });
    const registry = registeredFrom(stackTools.map((t) => (t.manifest.name === 'lookup_order' ? widened : t)));
    expect(idOf(validBundle, registry)).not.toBe(id);
    // Tools the bundle does not grant are not in it.
    expect(idOf(validBundle, registeredFrom(stackTools.filter((t) => t.manifest.name !== 'http_fetch')))).toBe(id);
    const validated = validateBundle(validBundle, stackRegistry);
    expect(validated.ok && validated.bundle.pinnedTools).toEqual([lookupOrder.manifest, issueRefund.manifest]);
  });

  it('refuses an invalid bundle with every problem listed', () => {
    const shapeless = validateBundle({ ...validBundle, name: 'Bad Name', model: { id: '' }, limits: { maxSteps: 0 }, extra: 1 }, stackRegistry);
    expect(shapeless.ok).toBe(false);
    expect(!shapeless.ok && shapeless.problems.map((p) => p.split(':')[0]).sort()).toEqual(['body', 'limits.maxSteps', 'model.id', 'name']);

    const wrong = validateBundle({
      ...validBundle,
      systemPrompt: 'Hi {{shop}}, {{tone}} and {{ shop }}',
      tools: [
        { name: 'rm_rf', version: 1 },
        { name: 'lookup_order', version: 2 },
        { name: 'issue_refund', version: 1 },
        { name: 'issue_refund', version: 1 },
        { name: 'http_fetch', version: 1, schemaHash: '0123456789abcdef' },
      ],
    }, stackRegistry);
    expect(wrong.ok).toBe(false);
    expect(!wrong.ok && wrong.problems).toEqual([
      'tools.3.name: "issue_refund" is granted twice (tool names must be unique in a bundle)',
      'variables.tone: the prompt uses {{tone}} but gives it no value',
      'tools.0: unknown tool "rm_rf": no worker has registered it (start a worker that has it, then publish)',
      'tools.1: lookup_order v2 is not registered by any worker (registered versions: 1)',
      `tools.4: http_fetch v1 has no registered schema 0123456789abcdef (registered: ${stackRegistry[0]!.schemaHash})`,
    ]);
    // With no worker registered at all, every granted tool is unknown.
    const unregistered = validateBundle(validBundle, []);
    expect(!unregistered.ok && unregistered.problems.map((p) => p.split(':')[0])).toEqual(['tools.0', 'tools.1']);
  });

  it('reads a bundle directory into the publish body', () => {
    const raw = readBundleDir(path.resolve(__dirname, '../../agents/support'));
    expect(raw.systemPrompt).toMatch(/customer support agent of \{\{shop\}\}/);
    const validated = validateBundle(raw, stackRegistry);
    expect(validated.ok && renderSystemPrompt(validated.bundle)).toMatch(/agent of Northwind Outfitters/);
  });

  it('gates writes behind approval and never reads', () => {
    const validated = validateBundle(validBundle, stackRegistry);
    if (!validated.ok) throw new Error(validated.problems.join('; '));
    expect(runPolicyOf(validated.bundle, 1000, 'main').tools).toEqual([
      {
        name: 'lookup_order', kind: 'read', requiresApproval: false,
        parameters: lookupOrder.manifest.parameters, taskQueue: toolTaskQueue('main', lookupOrder.manifest),
      },
      {
        name: 'issue_refund', kind: 'write', requiresApproval: true,
        parameters: issueRefund.manifest.parameters, taskQueue: toolTaskQueue('main', issueRefund.manifest),
      },
    ]);
    // A bundle from before pinning: the same gates, with neither schema nor queue (its runs check and call as before).
    const { pinnedTools: _pins, ...legacy } = validated.bundle;
    expect(runPolicyOf(legacy, 1000, 'main').tools).toEqual([
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
