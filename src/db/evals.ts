/** The `evals` table: every stored eval of a bundle on a golden set, the baselines later evals compare with. */
import type { Queryable } from './pool';

/** An eval as `POST /v1/evals` posts it (src/contract/evals.ts): the verdict and per-case results are kept as given. */
export interface NewEval {
  agent: string;
  bundleId: string;
  suiteHash: string;
  gate: Record<string, unknown>;
  summary: unknown;
  cases: unknown[];
}

export interface EvalFilter {
  agent?: string;
  bundleId?: string;
  suiteHash?: string;
  limit: number;
}

/** Stores an eval posted by `createdBy` (an API key ID); its ID and when it was stored. */
export async function insertEval(
  db: Queryable, tenantId: string, evalId: string, e: NewEval, createdBy: string,
): Promise<{ evalId: string; createdAt: string }> {
  const { rows } = await db.query(
    `INSERT INTO evals (eval_id, tenant_id, agent, bundle_id, suite_hash, gate, summary, cases, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING eval_id AS "evalId", created_at AS "createdAt"`,
    [evalId, tenantId, e.agent, e.bundleId, e.suiteHash, JSON.stringify(e.gate), JSON.stringify(e.summary), JSON.stringify(e.cases), createdBy],
  );
  return rows[0];
}

/** The tenant's evals matching every filter given, newest first, at most `limit`. */
export async function listEvals(db: Queryable, tenantId: string, filter: EvalFilter): Promise<(NewEval & { evalId: string; createdAt: string })[]> {
  const params: unknown[] = [tenantId];
  const conditions = ['tenant_id = $1'];
  if (filter.agent !== undefined) conditions.push(`agent = $${params.push(filter.agent)}`);
  if (filter.bundleId !== undefined) conditions.push(`bundle_id = $${params.push(filter.bundleId)}`);
  if (filter.suiteHash !== undefined) conditions.push(`suite_hash = $${params.push(filter.suiteHash)}`);
  const { rows } = await db.query(
    `SELECT eval_id AS "evalId", agent, bundle_id AS "bundleId", suite_hash AS "suiteHash", gate, summary, cases,
            created_at AS "createdAt"
     FROM evals WHERE ${conditions.join(' AND ')} ORDER BY created_at DESC, eval_id DESC LIMIT $${params.push(filter.limit)}`,
    params,
  );
  return rows;
}
