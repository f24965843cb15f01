import { storableOptionalText, storableRecord } from '../shared/storable';
import type { Db, Queryable } from './pool';

export interface AuditEntry {
  tenantId: string;
  /** Who acted: an API key ID, `worker`, or `system:<what>`. */
  actor: string;
  action: string;
  runId?: string;
  bundleId?: string;
  target?: string;
  status?: string;
  latencyMs?: number;
  /** Already redacted: no secret and no unredacted tool data belongs here. */
  detail?: Record<string, unknown>;
}

/**
 * Appends to the audit log, inside the caller's transaction when it has one. Text PostgreSQL cannot
 * store is replaced (src/shared/storable.ts), and the detail notes how many as `replacedCharacters`.
 */
export async function appendAudit(db: Queryable, entry: AuditEntry): Promise<void> {
  const target = storableOptionalText(entry.target ?? null);
  await db.query(
    `INSERT INTO audit_log (tenant_id, actor, action, run_id, bundle_id, target, status, latency_ms, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [entry.tenantId, entry.actor, entry.action, entry.runId ?? null, entry.bundleId ?? null, target.value,
     entry.status ?? null, entry.latencyMs ?? null, JSON.stringify(storableRecord(entry.detail ?? {}, target.replaced))],
  );
}

export interface AuditQuery {
  runId?: string;
  since?: string;
  limit: number;
}

export async function readAudit(db: Db, tenantId: string, query: AuditQuery) {
  const params: unknown[] = [tenantId];
  const conditions = ['tenant_id = $1'];
  if (query.runId) conditions.push(`run_id = $${params.push(query.runId)}`);
  if (query.since) conditions.push(`created_at >= $${params.push(query.since)}`);
  const { rows } = await db.query(
    `SELECT id, actor, action, run_id AS "runId", bundle_id AS "bundleId", target, status, latency_ms AS "latencyMs",
            detail, created_at AS "createdAt"
     FROM audit_log WHERE ${conditions.join(' AND ')} ORDER BY id LIMIT $${params.push(query.limit)}`,
    params,
  );
  return rows;
}
