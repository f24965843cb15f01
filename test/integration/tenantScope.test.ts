/**
 * Tenant scope enforced by PostgreSQL: tool code runs as `bosun_tool` with the run's tenant set, and
 * row-level security keeps it to that tenant's rows even when the code forgets its WHERE clause. The
 * test database is reached as a superuser (postgres), which bypasses row-level security: the role
 * switch in executeTool is what makes it apply.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createToolActivities, TOOL_ROLE, type ExecuteToolInput } from '../../src/activities/toolCalls';
import { createPool, type Db } from '../../src/db/pool';
import { seedDemoOrders } from '../../src/dev/demoData';
import { defineTool, z, type ToolContext } from '../../src/sdk/tools';
import { tools as supportTools } from '../../examples/support-tools';

describe('tenant scope of tool code, enforced by row-level security', () => {
  let db: Db;
  const mine = `tenant_${randomUUID().slice(0, 8)}`;
  const theirs = `tenant_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    db = createPool(inject('databaseUrl'));
    await seedDemoOrders(db, mine);
    await seedDemoOrders(db, theirs);
    await db.query(`INSERT INTO orders (tenant_id, order_id, customer, item, amount_cents, status) VALUES ($1, '9001', 'Only Theirs', 'x', 100, 'delivered')`, [theirs]);
    await db.query(
      `INSERT INTO refunds (tenant_id, order_id, amount_cents, reason, run_id, idempotency_key) VALUES ($1, '1001', 5, 'theirs', $2, $3)`,
      [theirs, randomUUID(), `theirs:${randomUUID()}`],
    );
  });
  afterAll(() => db?.end());

  async function newCall(args: unknown = { order_id: '1001' }): Promise<ExecuteToolInput> {
    const runId = randomUUID();
    await db.query(
      `INSERT INTO runs (run_id, tenant_id, agent, bundle_id, status, input, created_by) VALUES ($1, $2, 'support', 'support@test', 'running', 'x', 'test')`,
      [runId, mine],
    );
    return { runId, tenantId: mine, bundleId: 'support@test', step: 1, ordinal: 1, toolCallId: `call_${randomUUID()}`, tool: 'lookup_order', args };
  }

  /** A `lookup_order` with the demo tool's tenant scope, doing `work` instead of the lookup. */
  const scopedTool = (work: (ctx: ToolContext) => Promise<unknown>) => defineTool({
    name: 'lookup_order', version: 1, kind: 'read', description: 'Runs the test query as tool code.',
    args: z.object({ order_id: z.string() }), scope: ['tenant:orders', 'tenant:refunds'],
    handler: async (_args, ctx) => work(ctx),
  });

  /** Runs `work` as the body of a tool, through executeTool, and returns what it returned. */
  async function asTool<T>(work: (ctx: ToolContext) => Promise<T>): Promise<T> {
    let seen: T | undefined;
    const { executeTool } = createToolActivities({
      db,
      tools: [scopedTool(async (ctx) => {
        seen = await work(ctx);
        return { done: true };
      })],
    });
    const call = await newCall();
    expect(await executeTool(call)).toBe('ok');
    return seen!;
  }

  const statusesOf = async (tenantId: string) =>
    (await db.query('SELECT order_id, status FROM orders WHERE tenant_id = $1 ORDER BY order_id', [tenantId])).rows;

  it('lets a query without WHERE tenant_id see only the run tenant’s orders and refunds', async () => {
    // The control: Bosun's own connection (a superuser) sees both tenants.
    const all = await db.query('SELECT DISTINCT tenant_id FROM orders WHERE tenant_id IN ($1, $2)', [mine, theirs]);
    expect(all.rows).toHaveLength(2);

    const seen = await asTool(async (ctx) => ({
      who: (await ctx.db.query('SELECT current_user AS role')).rows[0].role,
      orders: (await ctx.db.query('SELECT tenant_id, order_id FROM orders')).rows,
      refunds: (await ctx.db.query('SELECT tenant_id FROM refunds')).rows,
      theirOrder: (await ctx.db.query("SELECT * FROM orders WHERE order_id = '9001'")).rows,
    }));
    expect(seen.who).toBe(TOOL_ROLE);
    expect(seen.orders.map((o: any) => o.order_id).sort()).toEqual(['1001', '1002', '1003', '1004']);
    expect(new Set(seen.orders.map((o: any) => o.tenant_id))).toEqual(new Set([mine]));
    expect(seen.refunds.every((r: any) => r.tenant_id === mine)).toBe(true);
    expect(seen.theirOrder).toEqual([]);
  });

  it('lets an UPDATE without WHERE tenant_id change only the run tenant’s rows', async () => {
    const before = await statusesOf(theirs);
    const updated = await asTool(async (ctx) => (await ctx.db.query("UPDATE orders SET status = 'tampered'")).rowCount);
    expect(updated).toBe(4);
    expect(await statusesOf(theirs)).toEqual(before);
    expect((await statusesOf(mine)).every((o) => o.status === 'tampered')).toBe(true);
    await db.query("UPDATE orders SET status = 'delivered' WHERE tenant_id = $1", [mine]);
  });

  it('refuses rows written for another tenant, deletes, and Bosun’s own tables; nothing is recorded', async () => {
    const attempts: [string, string, unknown[], RegExp][] = [
      ['insert a refund for another tenant',
        `INSERT INTO refunds (tenant_id, order_id, amount_cents, run_id, idempotency_key) VALUES ($1, '1001', 1, $2, $3)`,
        [theirs, randomUUID(), `x:${randomUUID()}`], /row-level security/],
      ['move an order to another tenant', `UPDATE orders SET tenant_id = $1 WHERE order_id = '1002'`, [theirs], /row-level security/],
      ['delete orders', 'DELETE FROM orders', [], /permission denied/],
      ['read runs', 'SELECT * FROM runs', [], /permission denied/],
      ['read transcripts', 'SELECT * FROM run_messages', [], /permission denied/],
      ['read the audit log', 'SELECT * FROM audit_log', [], /permission denied/],
      ['read API keys', 'SELECT * FROM api_keys', [], /permission denied/],
      ['read bundles', 'SELECT * FROM bundles', [], /permission denied/],
    ];
    for (const [what, sql, params, error] of attempts) {
      const { executeTool } = createToolActivities({ db, tools: [scopedTool(async (ctx) => (await ctx.db.query(sql, params)).rows)] });
      const call = await newCall();
      await expect(executeTool(call), what).rejects.toThrow(error);
      const steps = await db.query('SELECT 1 FROM run_steps WHERE run_id = $1', [call.runId]);
      expect(steps.rowCount, what).toBe(0);
    }
    expect((await db.query('SELECT 1 FROM orders WHERE tenant_id = $1', [theirs])).rowCount).toBe(5);
  });

  it('gives a tool without a tenant: scope no database handle at all', async () => {
    const unscoped = defineTool({
      name: 'lookup_order', version: 1, kind: 'read', description: 'Declares no scope, then reaches for the database.',
      args: z.object({ order_id: z.string() }),
      handler: async (_args, ctx) => (await ctx.db.query('SELECT tenant_id FROM orders')).rows,
    });
    const { executeTool } = createToolActivities({ db, tools: [unscoped] });
    const call = await newCall();
    await expect(executeTool(call)).rejects.toThrow(/no tenant: scope/);
    expect((await db.query('SELECT 1 FROM run_messages WHERE run_id = $1', [call.runId])).rowCount).toBe(0);
  });

  it('fails the call, and rolls back what the tool did, when the tool leaves its role or tenant', async () => {
    const escapes: [string, string][] = [
      ['RESET ROLE', 'RESET ROLE'],
      ['another tenant', `SELECT set_config('bosun.tenant_id', '${theirs}', true)`],
    ];
    for (const [what, escape] of escapes) {
      const { executeTool } = createToolActivities({
        db,
        tools: [scopedTool(async (ctx) => {
          await ctx.db.query("UPDATE orders SET status = 'escaped' WHERE order_id = '1003'");
          await ctx.db.query(escape);
          return (await ctx.db.query('SELECT tenant_id, customer FROM orders')).rows;
        })],
      });
      const call = await newCall();
      await expect(executeTool(call), what).rejects.toThrow(/left its tenant scope/);
      expect((await statusesOf(mine)).find((o) => o.order_id === '1003')!.status, what).toBe('delivered');
      expect((await db.query('SELECT 1 FROM run_messages WHERE run_id = $1', [call.runId])).rowCount, what).toBe(0);
    }
  });

  it('keeps the real tools to the tenant too, and records their results as Bosun again', async () => {
    const { executeTool } = createToolActivities({ db, tools: supportTools });
    const call = await newCall({ order_id: '9001' });
    expect(await executeTool(call)).toBe('error');
    const { rows } = await db.query('SELECT content FROM run_messages WHERE run_id = $1', [call.runId]);
    expect(JSON.parse(rows[0].content)).toEqual({ error: 'order 9001 not found' });
    const refund = { ...(await newCall()), tool: 'issue_refund' as const, args: { order_id: '1004', amount_cents: 100 } };
    expect(await executeTool(refund)).toBe('ok');
    const written = await db.query('SELECT tenant_id FROM refunds WHERE run_id = $1', [refund.runId]);
    expect(written.rows).toEqual([{ tenant_id: mine }]);
  });

  it('grants bosun_tool, of the tables Bosun\'s migrations create, exactly those the demo tools’ tenant scopes name, each with forced row-level security', async () => {
    const scoped = new Set(
      supportTools.flatMap((t) => t.manifest.scope.filter((s) => s.startsWith('tenant:')).map((s) => s.slice('tenant:'.length))),
    );
    // Users' own tables (e.g. examples/helpdesk's, made by its worker in this database) are theirs to grant.
    const bosunTables = migrationTables();
    const grants = await db.query(
      `SELECT DISTINCT table_name FROM information_schema.role_table_grants WHERE grantee = $1 AND table_schema = 'public' AND table_name = ANY($2)`,
      [TOOL_ROLE, [...bosunTables]],
    );
    expect(bosunTables.size).toBeGreaterThan(10);
    expect(new Set(grants.rows.map((r) => r.table_name))).toEqual(scoped);
    const tables = await db.query(
      `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY($1) AND relkind = 'r' ORDER BY relname`,
      [[...scoped]],
    );
    expect(tables.rows.every((t) => t.relrowsecurity && t.relforcerowsecurity)).toBe(true);
    const role = await db.query('SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1', [TOOL_ROLE]);
    expect(role.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, rolcanlogin: false });
  });
});

/** Every table Bosun's own migrations create. */
function migrationTables(): Set<string> {
  const dir = path.resolve(__dirname, '../../src/db/migrations');
  const sql = readdirSync(dir).filter((f) => f.endsWith('.sql')).map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n');
  return new Set([...sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/gi)].map((m) => m[1]!.toLowerCase()));
}
