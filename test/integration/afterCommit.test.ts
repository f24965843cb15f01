/** afterCommit: what follows a write exactly once runs after its transaction commits, never after a rollback. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterCommit, inTransaction, type Db } from '../../src/db/pool';
import { newTenantId, openTenantDb } from '../support/tenantDb';

describe('afterCommit', () => {
  let db: Db;
  beforeAll(async () => (db = await openTenantDb(newTenantId())));
  afterAll(() => db?.end());

  it('runs its hooks once the transaction has committed, in order', async () => {
    const seen: string[] = [];
    await inTransaction(db, async (client) => {
      afterCommit(client, () => seen.push('first'));
      afterCommit(client, () => {
        throw new Error('a failing hook changes nothing');
      });
      afterCommit(client, () => seen.push('second'));
      await client.query('SELECT 1');
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual(['first', 'second']);
  });

  it('never runs them when the transaction rolls back, nor in a later transaction on the same connection', async () => {
    const seen: string[] = [];
    await expect(inTransaction(db, async (client) => {
      afterCommit(client, () => seen.push('rolled back'));
      throw new Error('the write failed');
    })).rejects.toThrow('the write failed');
    await inTransaction(db, async () => undefined);
    expect(seen).toEqual([]);
  });

  it('runs at once outside a transaction (an autocommitted statement)', () => {
    const seen: string[] = [];
    afterCommit(db, () => seen.push('now'));
    expect(seen).toEqual(['now']);
  });
});
