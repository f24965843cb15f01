/** Pinning at publish (src/bundles/toolPins.ts): which registered schema a bundle's tool gets, and the pin of an HTTP tool. */
import { describe, expect, it } from 'vitest';
import { pinHttpTool, pinRegisteredTools } from '../../src/bundles/toolPins';
import type { RegisteredTool } from '../../src/db/toolRegistry';
import { defineTool, z } from '../../src/sdk/tools';
import type { HttpToolDeclaration } from '../../src/shared/httpTools';

/** find_ticket at `version`, with `args` (its schema differs with them), as a worker of each of `builds` registered it. */
function registration(version: number, args: z.ZodObject, builds: { buildId: string; live: boolean }[]): RegisteredTool {
  const { manifest } = defineTool({ name: 'find_ticket', version, kind: 'read', description: 'Find a ticket.', args, handler: async () => ({}) });
  return {
    name: manifest.name, version, schemaHash: manifest.schemaHash, manifest,
    builds: builds.map((b) => ({ ...b, taskQueue: 'main', lastSeenAt: '2026-01-01T00:00:00.000Z' })),
  };
}
const byNumber = z.object({ ticket: z.number() });
const byText = z.object({ ticket: z.string() });
const live = (buildId: string) => ({ buildId, live: true });
const gone = (buildId: string) => ({ buildId, live: false });

describe('pinRegisteredTools', () => {
  const v1 = registration(1, byText, [live('b1')]);
  const v3 = registration(3, byText, [live('b3')]);

  it('pins the registered manifest of each granted tool, in order', () => {
    const other = registration(1, byNumber, [live('b1')]);
    const renamed = { ...other, name: 'count_tickets', manifest: { ...other.manifest, name: 'count_tickets' } };
    const pinned = pinRegisteredTools({ tools: [{ name: 'count_tickets', version: 1 }, { name: 'find_ticket', version: 3 }] }, [v1, v3, renamed]);
    expect(pinned).toEqual({ ok: true, pins: [renamed.manifest, v3.manifest] });
  });

  it('names every tool it cannot pin at once: unknown names, versions (with the registered ones) and schemas', () => {
    const v3ByNumber = registration(3, byNumber, [live('b4')]);
    const pinned = pinRegisteredTools({
      tools: [
        { name: 'find_ticket', version: 1 },
        { name: 'rm_rf', version: 1 },
        { name: 'find_ticket', version: 2 },
        { name: 'find_ticket', version: 3, schemaHash: '0000000000000000' },
      ],
    }, [v3, v1, v3ByNumber]);
    expect(pinned).toEqual({
      ok: false,
      problems: [
        'tools.1: unknown tool "rm_rf": no worker has registered it (start a worker that has it, then publish)',
        'tools.2: find_ticket v2 is not registered by any worker (registered versions: 1, 3)',
        `tools.3: find_ticket v3 has no registered schema 0000000000000000 (registered: ${v3.schemaHash}, ${v3ByNumber.schemaHash})`,
      ],
    });
    expect(pinRegisteredTools({ tools: [{ name: 'find_ticket', version: 1 }] }, [])).toMatchObject({ ok: false, problems: [expect.stringMatching(/^tools\.0: unknown tool/)] });
  });

  describe('a version registered with two schemas', () => {
    const old = (builds: { buildId: string; live: boolean }[]) => registration(1, byNumber, builds);
    const fresh = (builds: { buildId: string; live: boolean }[]) => registration(1, byText, builds);
    const granted = { tools: [{ name: 'find_ticket', version: 1 }] };

    it('pins the one live workers have when only one is live', () => {
      expect(pinRegisteredTools(granted, [old([gone('b1')]), fresh([gone('b1'), live('b2')])])).toEqual({ ok: true, pins: [fresh([]).manifest] });
      expect(pinRegisteredTools(granted, [old([live('b1')]), fresh([gone('b2')])])).toEqual({ ok: true, pins: [old([]).manifest] });
    });

    it('pins the one the bundle names by schemaHash, live or not', () => {
      const chosen = { tools: [{ name: 'find_ticket', version: 1, schemaHash: old([]).schemaHash }] };
      expect(pinRegisteredTools(chosen, [old([gone('b1')]), fresh([live('b2')])])).toEqual({ ok: true, pins: [old([]).manifest] });
    });

    it('refuses to guess when both are live, or neither is, naming both schemas', () => {
      const problem = `tools.0: find_ticket v1 is registered with 2 schemas (${old([]).schemaHash}, ${fresh([]).schemaHash}); ` +
        'choose one with schemaHash (and bump the version when a schema changes)';
      expect(pinRegisteredTools(granted, [old([live('b1')]), fresh([live('b2')])])).toEqual({ ok: false, problems: [problem] });
      expect(pinRegisteredTools(granted, [old([gone('b1')]), fresh([gone('b2')])])).toEqual({ ok: false, problems: [problem] });
    });
  });
});

describe('pinHttpTool', () => {
  const declaration: HttpToolDeclaration = {
    name: 'find_ticket',
    description: 'Find a ticket in the helpdesk.',
    method: 'GET',
    url: 'https://helpdesk.example/tickets/{ticket}',
    args: { type: 'object', properties: { ticket: { type: 'string' } }, required: ['ticket'] },
    headers: { Authorization: { secret: 'HELPDESK_TOKEN', scheme: 'Bearer' }, 'X-Team': 'support', 'X-Key': { secret: 'HELPDESK_TOKEN' } },
    kind: 'read',
    timeoutMs: 5000,
  };

  it('pins what the model sees, the secrets its headers name, and the network scope', () => {
    expect(pinHttpTool(declaration)).toEqual({
      name: 'find_ticket',
      version: 1,
      description: 'Find a ticket in the helpdesk.',
      kind: 'read',
      parameters: declaration.args,
      schemaHash: expect.stringMatching(/^[0-9a-f]{16}$/),
      source: { type: 'http' },
      secrets: ['HELPDESK_TOKEN'],
      scope: ['network:allow-list'],
      approvalByDefault: false,
      timeoutMs: 5000,
      sandbox: 'live',
    });
  });

  it('gates writes by default, and never sends them from a sandbox run', () => {
    for (const kind of ['write', 'destructive'] as const) {
      expect(pinHttpTool({ ...declaration, method: 'POST', kind })).toMatchObject({ approvalByDefault: true, sandbox: 'none' });
    }
    const { timeoutMs: _timeout, headers: _headers, ...bare } = declaration;
    expect(pinHttpTool(bare)).toMatchObject({ secrets: [] });
    expect(pinHttpTool(bare)).not.toHaveProperty('timeoutMs');
  });

  it('hashes everything that decides the request', () => {
    const hash = pinHttpTool(declaration).schemaHash;
    expect(pinHttpTool({ ...declaration }).schemaHash).toBe(hash);
    for (const change of [
      { description: 'Find a ticket.' },
      { kind: 'write' as const },
      { args: { ...declaration.args, required: [] } },
      { method: 'DELETE' as const },
      { url: 'https://helpdesk.example/v2/tickets/{ticket}' },
      { headers: { ...declaration.headers, 'X-Team': 'billing' } },
    ]) {
      expect(pinHttpTool({ ...declaration, ...change }).schemaHash, JSON.stringify(change)).not.toBe(hash);
    }
  });
});
