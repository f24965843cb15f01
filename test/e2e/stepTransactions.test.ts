/**
 * What a model step costs PostgreSQL: callModel against the real database, on a pool that counts
 * what it is asked. A step with a budget to reserve against and a provider limit to take a slot of
 * writes its rows in one transaction before the call (step.started, the reservation, the slot)
 * and one after it (the reply, its step row, the run's totals, the settlement, step.finished, the
 * provider's real tokens); a retry that finds the reply stored, in one. Counts past these are a
 * regression (issue 11: "each step's rows written in one transaction").
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelCallGuard } from '../../src/activities/model/callGuard';
import { createModelActivities } from '../../src/activities/model/callModel';
import { createBundleCache } from '../../src/bundles/bundleStore';
import { loadConfig } from '../../src/config';
import { setBudget } from '../../src/db/budgets';
import type { Db } from '../../src/db/pool';
import { seedAgents } from '../../src/dev/demoData';
import { startScriptedModel, type ScriptedModelServer } from '../../src/dev/scriptedModel';
import { makeAgentsDir } from '../support/agentsDir';
import { insertTestRun, newTenantId, openTenantDb } from '../support/tenantDb';
import { registerStackTools } from '../support/tools';

/** Transactions as PostgreSQL counts them (xact_commit + xact_rollback) and statements, of what went through one pool. */
interface Tally {
  transactions: number;
  statements: number;
}

/**
 * The pool, counting: a query on the pool is a transaction of its own; on a checked-out client,
 * BEGIN … COMMIT/ROLLBACK is one, and every other statement outside one is one too.
 */
function counting(db: Db): { db: Db; tally: Tally } {
  const tally: Tally = { transactions: 0, statements: 0 };
  const count = (inTransaction: boolean, text: string): boolean => {
    const keyword = text.trim().split(/\s+/)[0]!.toUpperCase();
    if (keyword === 'BEGIN') return true;
    if (keyword === 'COMMIT' || keyword === 'ROLLBACK') {
      tally.transactions++;
      return false;
    }
    tally.statements++;
    if (!inTransaction) tally.transactions++;
    return inTransaction;
  };
  const textOf = (args: unknown[]) => (typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text);
  const counted = new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') {
        return (...args: unknown[]) => {
          count(false, textOf(args));
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      if (prop === 'connect') {
        return async () => {
          const client = await target.connect();
          let open = false;
          return new Proxy(client, {
            get(c, p) {
              if (p === 'query') {
                return (...args: unknown[]) => {
                  open = count(open, textOf(args));
                  return (c.query as (...a: unknown[]) => unknown).apply(c, args);
                };
              }
              const value = Reflect.get(c, p);
              return typeof value === 'function' ? value.bind(c) : value;
            },
          });
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: counted, tally };
}

describe('the PostgreSQL cost of a model step', () => {
  let db: Db;
  let model: ScriptedModelServer;
  let bundleId: string;
  const tenantId = newTenantId();
  const agents = makeAgentsDir({
    clerk: { prompt: 'You help with orders.', bundle: { model: { id: 'gpt-4o-mini' }, tools: [{ name: 'lookup_order', version: 1 }], limits: { maxSteps: 4 } } },
  });
  let counted: ReturnType<typeof counting>;
  let callModel: ReturnType<typeof createModelActivities>['callModel'];

  beforeAll(async () => {
    db = await openTenantDb(tenantId);
    await registerStackTools(db);
    model = await startScriptedModel({
      rules: [
        { when: { role: 'tool', tool: 'lookup_order' }, reply: { content: 'Order 1001 is on its way.' } },
        { when: { role: 'user' }, reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"1001"}' }] } },
      ],
    });
    bundleId = (await seedAgents(db, tenantId, agents.dir))[0]!.id;
    // Every guard on: a hard budget to reserve against and a provider limit to take a slot of.
    await setBudget(db, { tenantId, environment: 'production' }, 'day', { limitUsd: 100, mode: 'hard', onExceeded: 'fail' });
    counted = counting(db);
    const bundles = createBundleCache(db);
    ({ callModel } = createModelActivities({
      db: counted.db, bundles, modelClient: () => new OpenAI({ apiKey: 'test', baseURL: model.url, maxRetries: 0 }),
      prices: loadConfig({}).model.prices,
      modelCalls: createModelCallGuard({ db: counted.db, limits: { default: { requestsPerMinute: 10_000 } }, defaultBaseUrl: model.url }),
    }));
    await bundles.get(bundleId);
  });
  afterAll(async () => {
    await model?.close();
    await db?.end();
    agents.remove();
  });

  const newRun = (input: string): Promise<string> => insertTestRun(db, tenantId, 'running', input, bundleId);

  /** What `work` asked of the counted pool. */
  async function measure(work: () => Promise<unknown>): Promise<Tally> {
    const before = { ...counted.tally };
    await work();
    return { transactions: counted.tally.transactions - before.transactions, statements: counted.tally.statements - before.statements };
  }

  it('writes a step in two transactions, one before the call and one after it, and a stored step is read in one', async () => {
    const runId = await newRun('Where is order 1001?');
    const first = await measure(() => callModel({ runId, bundleId, step: 1 }));
    expect(model.requests).toHaveLength(1);
    expect(first.transactions).toBe(2);
    // BEGIN and COMMIT not counted: 26 statements since the thread turn comes with the run's row lock
    // (27 before that); before folding, 33 in 12 transactions.
    expect(first.statements).toBeLessThanOrEqual(26);

    // What the two transactions wrote: the whole step, reserved, settled and slotted.
    const { rows: events } = await db.query('SELECT type FROM run_events WHERE run_id = $1 ORDER BY seq', [runId]);
    expect(events.map((e) => e.type)).toEqual(['step.started', 'step.finished']);
    const { rows: [reservation] } = await db.query('SELECT settled_at FROM budget_reservations WHERE reservation_id = $1', [`${runId}:1`]);
    expect(reservation.settled_at).not.toBeNull();

    // A retry finds the reply stored: one transaction, no second call.
    const retry = await measure(() => callModel({ runId, bundleId, step: 1 }));
    expect(retry).toEqual({ transactions: 1, statements: 1 });
    expect(model.requests).toHaveLength(1);
  });

  it('ends a run with its answer in the same two transactions', async () => {
    const runId = await newRun('Where is order 1001?');
    await callModel({ runId, bundleId, step: 1 });
    await db.query(
      `INSERT INTO run_messages (run_id, step, ordinal, role, content, tool_call_id) VALUES ($1, 1, 1, 'tool', '{"order_id":"1001"}', $2)`,
      [runId, (await db.query(`SELECT tool_calls FROM run_messages WHERE run_id = $1 AND step = 1 AND ordinal = 0`, [runId])).rows[0].tool_calls[0].id],
    );
    const answer = await measure(() => callModel({ runId, bundleId, step: 2, endsRunOnAnswer: true }));
    expect(answer.transactions).toBe(2);
    const { rows: [run] } = await db.query('SELECT status, output FROM runs WHERE run_id = $1', [runId]);
    expect(run).toEqual({ status: 'completed', output: 'Order 1001 is on its way.' });
  });
});
