/** What a tool's handler gets from Bosun beside its arguments: its declared secrets only, a logger that masks them, a stable idempotency key. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createToolActivities } from '../../src/activities/toolCalls';
import type { Db } from '../../src/db/pool';
import { defineTool, z, type ToolContext } from '../../src/sdk/tools';
import { envSecretStore } from '../../src/secrets/secretStore';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';

const token = `tok_${randomUUID()}`;
const seen: ToolContext[] = [];
const chatty = defineTool({
  name: 'chatty', version: 1, kind: 'read', description: 'Logs what it holds.',
  args: z.object({}).strict(),
  secrets: ['CHATTY_TOKEN'],
  async handler(_args, ctx) {
    seen.push(ctx);
    ctx.log.info(`calling with ${ctx.secrets.CHATTY_TOKEN}`, { header: `Bearer ${ctx.secrets.CHATTY_TOKEN}` });
    ctx.heartbeat({ progress: 1 });
    return { ok: true };
  },
});

describe('the context a tool gets', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  it('holds the declared secret, logs it masked, and keeps one idempotency key across retries', async () => {
    const secrets = envSecretStore({ BOSUN_SECRET_CHATTY_TOKEN: token, BOSUN_SECRET_OTHER: 'not-for-chatty' });
    const { executeTool } = createToolActivities({ db, tools: [chatty], secrets });
    const runId = await insertTestRun(db, tenantId, 'running');
    const call = { runId, tenantId, bundleId: 'chatty@test', step: 1, ordinal: 1, toolCallId: 'call_1', tool: 'chatty', args: {} };
    // Outside an activity the tool's logger writes the process's JSON log on stdout.
    const info = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let logged: string;
    try {
      expect(await executeTool(call)).toBe('ok');
      logged = JSON.stringify(info.mock.calls);
    } finally {
      info.mockRestore();
    }
    expect(seen[0]!.secrets).toEqual({ CHATTY_TOKEN: token });
    expect(seen[0]!.idempotencyKey).toBe(`${runId}:call_1`);
    expect(seen[0]!.toolCallId).toBe('call_1');
    expect(logged).toContain('calling with [secret:CHATTY_TOKEN]');
    expect(logged).toContain('Bearer [secret:CHATTY_TOKEN]');
    expect(logged).not.toContain(token);
  });
});
