/**
 * The memory store against the real PostgreSQL: search ranking (full-text and trigram), curation of
 * twin saves, expiry, namespaces and tenants kept apart, and deletion for a data subject.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deleteMemory, deleteSubjectMemories, listMemories, purgeExpiredMemories, saveMemory, searchMemories, vectorSearchAvailable, type NewMemory,
} from '../../src/db/memory';
import { inTransaction, type Db } from '../../src/db/pool';
import type { MemorySource } from '../../src/shared/memory';
import { newTenantId, openTenantDb } from '../support/tenantDb';

describe('the memory store', () => {
  let db: Db;
  const tenantId = newTenantId();
  beforeAll(async () => (db = await openTenantDb(tenantId)));
  afterAll(() => db?.end());

  const operator: MemorySource = { kind: 'api', keyId: 'key_test' };
  const save = (m: Partial<NewMemory> & { text: string; namespace: string }) =>
    inTransaction(db, (client) => saveMemory(client, { memoryId: randomUUID(), tenantId, trust: 'agent', source: operator, ...m }));
  const search = (namespace: string, text: string, limit = 10) =>
    searchMemories(db, { tenantId, namespaces: [namespace], text, limit });

  it('ranks the record that matches the query best first, and finds misspelt words through trigrams', async () => {
    const ns = `rank:${randomUUID()}`;
    const seats = await save({ namespace: ns, text: 'The customer prefers window seats on long flights.' });
    await save({ namespace: ns, text: 'The customer lives in Lisbon and flies TAP.' });
    await save({ namespace: ns, text: 'Invoices go to the billing address in Porto.' });
    // Each shares one word with the query: found by trigrams, ranked below the full match.
    await save({ namespace: ns, text: 'Window cleaning is booked for Friday.' });
    await save({ namespace: ns, text: 'Seats in row 12 are broken.' });

    const hits = await search(ns, 'window seats');
    expect(hits.length).toBeGreaterThanOrEqual(3);
    expect(hits[0]!.memoryId).toBe(seats.record.memoryId);
    expect(hits.map((h) => h.text)).toEqual(expect.arrayContaining(['Window cleaning is booked for Friday.', 'Seats in row 12 are broken.']));
    expect(hits.map((h) => h.text)).not.toContain('Invoices go to the billing address in Porto.');
    // Best first.
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThan(hits[i]!.score);
    // Stemming: "preference" finds "prefers".
    expect((await search(ns, 'seat preference'))[0]!.memoryId).toBe(seats.record.memoryId);

    // "Lisbn" is no English word full-text search knows; its trigrams still find the record.
    const typo = await search(ns, 'Lisbn');
    expect(typo.map((h) => h.text)).toEqual(['The customer lives in Lisbon and flies TAP.']);
    expect(await search(ns, 'submarine')).toEqual([]);
  });

  it('updates a repeated or near-identical save instead of adding a twin, and keeps a different fact apart', async () => {
    const ns = `curate:${randomUUID()}`;
    const first = await save({ namespace: ns, text: 'The user prefers aisle seats.' });
    expect(first.action).toBe('created');

    const same = await save({ namespace: ns, text: '  the user prefers AISLE seats.  ', trust: 'approved' });
    expect(same).toMatchObject({ action: 'repeated', record: { memoryId: first.record.memoryId, trust: 'approved', text: 'The user prefers aisle seats.' } });

    const near = await save({ namespace: ns, text: 'The user prefers aisle seats!!' });
    expect(near).toMatchObject({ action: 'updated', record: { memoryId: first.record.memoryId, text: 'The user prefers aisle seats!!', trust: 'agent' } });

    const other = await save({ namespace: ns, text: 'The user is allergic to peanuts.' });
    expect(other.action).toBe('created');

    // Concurrent twins: one record, whatever the order.
    const twins = await Promise.all([1, 2, 3].map(() => save({ namespace: ns, text: 'Ships to Oslo by default.' })));
    expect(twins.filter((t) => t.action === 'created')).toHaveLength(1);
    expect(new Set(twins.map((t) => t.record.memoryId)).size).toBe(1);

    const { memories } = await listMemories(db, tenantId, { namespace: ns, limit: 50 });
    expect(memories).toHaveLength(3);
    // The same text in another namespace is another memory.
    expect((await save({ namespace: `${ns}:other`, text: 'The user is allergic to peanuts.' })).action).toBe('created');
  });

  it('keeps a record\'s expiry on a repeat that names none, and takes the one a repeat names', async () => {
    const ns = `expiry:${randomUUID()}`;
    const in30Days = new Date(Date.now() + 30 * 86_400_000);
    const first = await save({ namespace: ns, text: 'The gate code is 2210.', expiresAt: in30Days });
    expect(first.record.expiresAt).toEqual(in30Days);

    const repeated = await save({ namespace: ns, text: 'the gate code is 2210.' });
    expect(repeated).toMatchObject({ action: 'repeated', record: { memoryId: first.record.memoryId, expiresAt: in30Days } });
    const near = await save({ namespace: ns, text: 'The gate code is 2210!' });
    expect(near).toMatchObject({ action: 'updated', record: { memoryId: first.record.memoryId, expiresAt: in30Days } });

    const in7Days = new Date(Date.now() + 7 * 86_400_000);
    const renamed = await save({ namespace: ns, text: 'The gate code is 2210!', expiresAt: in7Days });
    expect(renamed).toMatchObject({ action: 'repeated', record: { expiresAt: in7Days } });

    // A permanent record stays permanent.
    await save({ namespace: ns, text: 'Deliveries go to the back door.' });
    expect((await save({ namespace: ns, text: 'Deliveries go to the back door.' })).record.expiresAt).toBeNull();
  });

  it('never returns an expired record, and the purge deletes it', async () => {
    const ns = `expiry:${randomUUID()}`;
    const gone = await save({ namespace: ns, text: 'Temporary door code 4411.', expiresAt: new Date(Date.now() - 1000) });
    const kept = await save({ namespace: ns, text: 'Permanent door code 9000.', expiresAt: new Date(Date.now() + 3_600_000) });
    expect((await search(ns, 'door code')).map((h) => h.memoryId)).toEqual([kept.record.memoryId]);
    expect((await listMemories(db, tenantId, { namespace: ns, limit: 10 })).memories.map((m) => m.memoryId)).toEqual([kept.record.memoryId]);
    // A save repeating an expired record is a new record, not a revival.
    expect((await save({ namespace: ns, text: 'Temporary door code 4411.' })).action).toBe('created');

    expect(await purgeExpiredMemories(db, 1000)).toBeGreaterThanOrEqual(1);
    const { rows } = await db.query('SELECT 1 FROM memories WHERE memory_id = $1', [gone.record.memoryId]);
    expect(rows).toEqual([]);
  });

  it("keeps namespaces and tenants apart, and deletes a data subject's records with their search entries", async () => {
    const ns = `user:${randomUUID().slice(0, 8)}`;
    const subject = `subject_${randomUUID().slice(0, 8)}`;
    const about = await save({ namespace: ns, subject, text: 'Dana Fischer wants invoices in German.' });
    await save({ namespace: `${ns}x`, text: 'Dana Fischer wants invoices in German.' });
    const otherTenant = newTenantId();
    await inTransaction(db, (client) =>
      saveMemory(client, { memoryId: randomUUID(), tenantId: otherTenant, namespace: ns, text: 'Dana Fischer wants invoices in German.', trust: 'agent', source: operator }));

    expect((await search(ns, 'invoices German')).map((h) => h.memoryId)).toEqual([about.record.memoryId]);

    expect(await deleteSubjectMemories(db, tenantId, subject, ns)).toEqual([about.record.memoryId]);
    expect(await search(ns, 'invoices German')).toEqual([]);
    // The index entries went with the row: nothing in the table still matches for the namespace.
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM memories WHERE tenant_id = $1 AND namespace = $2 AND (search @@ websearch_to_tsquery('english', 'invoices') OR text % 'Dana Fischer wants invoices in German.')`,
      [tenantId, ns],
    );
    expect(rows[0].n).toBe(0);
    // The other tenant's record with the same text is untouched, and its ID is not the tenant's to delete.
    const theirs = await searchMemories(db, { tenantId: otherTenant, namespaces: [ns], text: 'invoices German', limit: 5 });
    expect(theirs).toHaveLength(1);
    expect(await deleteMemory(db, tenantId, theirs[0]!.memoryId)).toBe(false);
  });

  it('reports whether pgvector is installed (it is not on this machine: search is full-text and trigram only)', async () => {
    const { rows } = await db.query(`SELECT 1 FROM pg_extension WHERE extname = 'vector'`);
    expect(await vectorSearchAvailable(db)).toBe(rows.length > 0);
  });
});
