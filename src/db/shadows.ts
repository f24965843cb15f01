/**
 * The `shadows`, `shadow_runs` and `shadowing_settings` tables (issue 15): a shadow replay (or an
 * agent's standing continuous shadow), the production runs it selected, the staging run that
 * replays each (prepared by the API, started by the shadow's workflow), and continuous shadowing.
 */
import { terminalStatuses, type RunStatus } from '../shared/domain';
import type { PendingShadowApproval } from '../shared/shadowing';
import type { Queryable } from './pool';

export type ShadowKind = 'replay' | 'continuous';

export interface ShadowRow {
  shadowId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  kind: ShadowKind;
  selection: Record<string, unknown>;
  createdBy: string;
  createdAt: string;
  /** When every replay had ended; null while they run (always for a continuous shadow). */
  completedAt: string | null;
}

/** An original's edited approval, anonymised: its tool's k-th approval (1-based) was approved with `arguments`. */
export interface ShadowEdit {
  tool: string;
  k: number;
  arguments: Record<string, unknown>;
}

/** A replay prepared by the API before the shadow's workflow starts it. */
export interface PreparedShadowRun {
  originalRunId: string;
  /** The anonymised input and read tapes. */
  input: string;
  tapes: unknown[];
  edits: ShadowEdit[];
}

export interface ProductionRunSelection {
  agent: string;
  statuses: readonly RunStatus[];
  since?: string;
  until?: string;
  /** At most this many runs, those first by their hash (`runHash`). */
  sample: number;
  /** Only the runs whose hash is below this rate (0 < rate ≤ 1); every matching run when absent. */
  rate?: number;
}

/**
 * A run's place in every sample, in [0, 1): the first 32 bits of the MD5 of its run ID, over 2^32.
 * Fixed per run, so a selection is repeatable, and a higher rate selects a superset of a lower one.
 */
const runHash = `(('x' || substr(md5(run_id::text), 1, 8))::bit(32)::bigint / 4294967296.0)`;

/**
 * The tenant's real production runs of the agent that match (never a sandbox run, an eval case's,
 * nor one pinned to a bundle by its request: src/shared/environments.ts isLiveProduction), sampled by the hash of their run ID (those
 * below `rate`, then the first `sample` by hash): their IDs, inputs and bundles. The same selection
 * over the same runs answers the same runs.
 */
export async function selectProductionRuns(
  db: Queryable, tenantId: string, selection: ProductionRunSelection,
): Promise<{ runId: string; input: string; bundleId: string }[]> {
  const { rows } = await db.query(
    `SELECT run_id AS "runId", input, bundle_id AS "bundleId" FROM runs
     WHERE tenant_id = $1 AND agent = $2 AND environment = 'production' AND NOT sandbox AND NOT pinned AND status = ANY($3::text[])
       AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
       AND ($7::float8 IS NULL OR ${runHash} < $7)
     ORDER BY ${runHash}, run_id LIMIT $6`,
    [tenantId, selection.agent, selection.statuses, selection.since ?? null, selection.until ?? null, selection.sample, selection.rate ?? null],
  );
  return rows;
}

/** What a shadow's Idempotency-Key is bound to: the key and the SHA-256 (hex) of its request. */
export interface ShadowKey {
  key: string;
  requestFingerprint: string;
}

/**
 * Records the shadow; with `idempotency`, bound to the tenant's key, which a shadow older than
 * `keyTtlMs` (ms) first lets go of. Undefined, and nothing written, when another shadow holds the
 * key: a concurrent request with it waits here until the first commits (a unique index).
 */
export async function insertShadow(
  db: Queryable, shadow: Omit<ShadowRow, 'createdAt' | 'completedAt' | 'kind'> & { kind?: ShadowKind },
  idempotency?: ShadowKey & { keyTtlMs: number },
): Promise<ShadowRow | undefined> {
  if (idempotency) {
    await db.query(
      `UPDATE shadows SET idempotency_key = NULL WHERE tenant_id = $1 AND idempotency_key = $2 AND NOT ${keyHeld('$3')}`,
      [shadow.tenantId, idempotency.key, idempotency.keyTtlMs],
    );
  }
  const { rows } = await db.query(
    `INSERT INTO shadows (shadow_id, tenant_id, agent, bundle_id, selection, created_by, kind, idempotency_key, request_fingerprint)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING ${shadowColumns}`,
    [shadow.shadowId, shadow.tenantId, shadow.agent, shadow.bundleId, JSON.stringify(shadow.selection), shadow.createdBy, shadow.kind ?? 'replay',
     idempotency?.key ?? null, idempotency?.requestFingerprint ?? null],
  );
  return rows[0];
}

/** `created_at` within the key's time to live (ms): the condition under which a shadow still holds its key. */
const keyHeld = (ttlParam: string) => `created_at > now() - ${ttlParam} * interval '1 millisecond'`;

/** The shadow holding the tenant's key (created within `keyTtlMs`), with the fingerprint of the request it is bound to. */
export async function shadowHoldingKey(
  db: Queryable, tenantId: string, key: string, keyTtlMs: number,
): Promise<{ shadow: ShadowRow; requestFingerprint: string } | undefined> {
  const { rows } = await db.query(
    `SELECT ${shadowColumns}, request_fingerprint AS "requestFingerprint" FROM shadows
     WHERE tenant_id = $1 AND idempotency_key = $2 AND ${keyHeld('$3')}`,
    [tenantId, key, keyTtlMs],
  );
  if (!rows[0]) return undefined;
  const { requestFingerprint, ...shadow } = rows[0];
  return { shadow, requestFingerprint };
}

const shadowColumns = `shadow_id AS "shadowId", tenant_id AS "tenantId", agent, bundle_id AS "bundleId", kind, selection,
  created_by AS "createdBy", created_at AS "createdAt", completed_at AS "completedAt"`;

export async function findShadow(db: Queryable, tenantId: string, agent: string, shadowId: string): Promise<ShadowRow | undefined> {
  const { rows } = await db.query(`SELECT ${shadowColumns} FROM shadows WHERE tenant_id = $1 AND agent = $2 AND shadow_id = $3`, [tenantId, agent, shadowId]);
  return rows[0];
}

/** The shadow by ID alone (its workflow's activities know no more), or undefined. */
export async function shadowById(db: Queryable, shadowId: string): Promise<ShadowRow | undefined> {
  const { rows } = await db.query(`SELECT ${shadowColumns} FROM shadows WHERE shadow_id = $1`, [shadowId]);
  return rows[0];
}

/** Marks the shadow complete (every replay ended), once. */
export async function completeShadow(db: Queryable, shadowId: string): Promise<void> {
  await db.query('UPDATE shadows SET completed_at = now() WHERE shadow_id = $1 AND completed_at IS NULL', [shadowId]);
}

/** Stores a replay to start: its anonymised input and tapes, and its original's anonymised edits. */
export async function prepareShadowRun(db: Queryable, shadowId: string, run: PreparedShadowRun): Promise<void> {
  await db.query(
    'INSERT INTO shadow_runs (shadow_id, original_run_id, input, tapes, edits) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
    [shadowId, run.originalRunId, run.input, JSON.stringify(run.tapes), JSON.stringify(run.edits)],
  );
}

/** The originals of the shadow, in the order they were prepared. */
export async function shadowOriginals(db: Queryable, shadowId: string): Promise<string[]> {
  return (await shadowLinks(db, shadowId)).map((l) => l.originalRunId);
}

/** The shadow's originals, each with its replay's run ID (null until started), in the order they were prepared. */
export async function shadowLinks(db: Queryable, shadowId: string): Promise<{ originalRunId: string; runId: string | null }[]> {
  const { rows } = await db.query(
    'SELECT original_run_id AS "originalRunId", run_id AS "runId" FROM shadow_runs WHERE shadow_id = $1 ORDER BY created_at, original_run_id',
    [shadowId],
  );
  return rows;
}

/** A prepared replay: started already (its `runId`), refused, or still to start with `input` and `tapes`. */
export async function preparedShadowRun(
  db: Queryable, shadowId: string, originalRunId: string,
): Promise<{ runId: string | null; refused: string | null; input: string | null; tapes: unknown[] | null } | undefined> {
  const { rows } = await db.query(
    'SELECT run_id AS "runId", refused, input, tapes FROM shadow_runs WHERE shadow_id = $1 AND original_run_id = $2', [shadowId, originalRunId],
  );
  return rows[0];
}

/**
 * Links a replayed run to the production run it replays (a mirrored one has no prepared row: it is
 * made here) and lets go of the prepared input and tapes, which the run keeps. A link made already stays.
 */
export async function linkShadowRun(db: Queryable, shadowId: string, originalRunId: string, runId: string): Promise<void> {
  await db.query(
    `INSERT INTO shadow_runs (shadow_id, original_run_id, run_id) VALUES ($1, $2, $3)
     ON CONFLICT (shadow_id, original_run_id) DO UPDATE SET run_id = EXCLUDED.run_id, input = NULL, tapes = NULL WHERE shadow_runs.run_id IS NULL`,
    [shadowId, originalRunId, runId],
  );
}

/** Records why a prepared replay could not be started (the start path refused it); it counts as ended. */
export async function refuseShadowRun(db: Queryable, shadowId: string, originalRunId: string, reason: string): Promise<void> {
  await db.query(
    'UPDATE shadow_runs SET refused = $3, input = NULL, tapes = NULL WHERE shadow_id = $1 AND original_run_id = $2 AND run_id IS NULL',
    [shadowId, originalRunId, reason],
  );
}

/**
 * The shadow's (original, replay) pairs whose replay ran the shadow's candidate bundle (a standing
 * shadow's earlier candidates' mirrors are left out), in the order they were started; with
 * `latest`, only the latest that many (a continuous shadow's standing report).
 */
export async function shadowPairs(db: Queryable, shadowId: string, latest?: number): Promise<{ originalRunId: string; runId: string }[]> {
  const { rows } = await db.query(
    `SELECT * FROM (
       SELECT original_run_id AS "originalRunId", s.run_id AS "runId", r.created_at FROM shadow_runs s
       JOIN runs r ON r.run_id = s.run_id JOIN shadows sh ON sh.shadow_id = s.shadow_id AND sh.bundle_id = r.bundle_id
       WHERE s.shadow_id = $1 ORDER BY r.created_at DESC, s.run_id DESC LIMIT $2) latest
     ORDER BY created_at, "runId"`,
    [shadowId, latest ?? null],
  );
  return rows.map(({ originalRunId, runId }) => ({ originalRunId, runId }));
}

/** How many replays the shadow has (started or not) and how many ended (or were refused). */
export async function shadowProgressOf(db: Queryable, shadowId: string): Promise<{ runs: number; ended: number }> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS runs,
            count(*) FILTER (WHERE s.refused IS NOT NULL OR r.status = ANY($2::text[]))::int AS ended
     FROM shadow_runs s LEFT JOIN runs r ON r.run_id = s.run_id WHERE s.shadow_id = $1`,
    [shadowId, terminalStatuses],
  );
  return rows[0];
}

/** The shadow a replayed (or mirrored) run belongs to, if any. */
export async function shadowOfRun(db: Queryable, runId: string): Promise<{ shadowId: string; kind: ShadowKind; tenantId: string; agent: string } | undefined> {
  const { rows } = await db.query(
    `SELECT s.shadow_id AS "shadowId", s.kind, s.tenant_id AS "tenantId", s.agent FROM shadow_runs l JOIN shadows s USING (shadow_id) WHERE l.run_id = $1`,
    [runId],
  );
  return rows[0];
}

/** The edited approvals of a (production) run, each by its tool and position: what a replay of it is approved with. */
export async function editedApprovalsOf(db: Queryable, runId: string): Promise<ShadowEdit[]> {
  const { rows } = await db.query(
    `SELECT tool, k::int, edited_arguments AS arguments FROM (
       SELECT tool, edited_arguments, row_number() OVER (PARTITION BY tool ORDER BY requested_at, approval_id) AS k
       FROM approvals WHERE run_id = $1) a
     WHERE edited_arguments IS NOT NULL`,
    [runId],
  );
  return rows;
}

/**
 * Pending approvals of the shadow's replayed runs, each with what became of the same tool's call at
 * the same position in the original run (the k-th request of a tool ↔ its k-th in the original):
 * `approved`, `rejected`, `pending`, ... or null when the original asked none (yet: `originalEnded`
 * says whether it still may), and the original's edit of it, anonymised, if any.
 */
export async function pendingShadowApprovals(db: Queryable, shadowId: string): Promise<PendingShadowApproval[]> {
  const { rows } = await db.query(
    `WITH replay AS (
       SELECT a.run_id, a.approval_id, a.tool, a.status, s.original_run_id, s.edits,
              row_number() OVER (PARTITION BY a.run_id, a.tool ORDER BY a.requested_at, a.approval_id) AS k
       FROM shadow_runs s JOIN approvals a ON a.run_id = s.run_id WHERE s.shadow_id = $1),
     original AS (
       SELECT a.run_id, a.tool, a.status,
              row_number() OVER (PARTITION BY a.run_id, a.tool ORDER BY a.requested_at, a.approval_id) AS k
       FROM approvals a WHERE a.run_id IN (SELECT original_run_id FROM shadow_runs WHERE shadow_id = $1 AND run_id IS NOT NULL))
     SELECT r.run_id AS "runId", r.approval_id AS "approvalId", r.tool, o.status AS original,
            (orig.status = ANY($2::text[])) AS "originalEnded",
            (SELECT e->'arguments' FROM jsonb_array_elements(r.edits) e WHERE e->>'tool' = r.tool AND (e->>'k')::int = r.k) AS "editedArguments"
     FROM replay r JOIN runs orig ON orig.run_id = r.original_run_id
     LEFT JOIN original o ON o.run_id = r.original_run_id AND o.tool = r.tool AND o.k = r.k
     WHERE r.status = 'pending'`,
    [shadowId, terminalStatuses],
  );
  return rows.map(({ editedArguments, ...row }) => ({ ...row, ...(editedArguments && { editedArguments }) }));
}

export interface ShadowingSetting {
  agent: string;
  enabled: boolean;
  rate: number;
  names: string[];
  patterns: string[];
  updatedBy: string;
  updatedAt: string;
}

const settingColumns = `agent, enabled, rate, names, patterns, updated_by AS "updatedBy", updated_at AS "updatedAt"`;

/** The agent's continuous shadowing setting; undefined: off. */
export async function getShadowingSetting(db: Queryable, tenantId: string, agent: string): Promise<ShadowingSetting | undefined> {
  const { rows } = await db.query(`SELECT ${settingColumns} FROM shadowing_settings WHERE tenant_id = $1 AND agent = $2`, [tenantId, agent]);
  return rows[0];
}

/**
 * Stores the agent's setting. An absent `rate`, `names` or `patterns` keeps the stored one (for a
 * new setting: rate 0, no names, no patterns).
 */
export async function putShadowingSetting(
  db: Queryable, tenantId: string,
  setting: Omit<ShadowingSetting, 'updatedAt' | 'rate' | 'names' | 'patterns'> & Partial<Pick<ShadowingSetting, 'rate' | 'names' | 'patterns'>>,
): Promise<ShadowingSetting> {
  const json = (list: string[] | undefined) => (list === undefined ? null : JSON.stringify(list));
  const { rows } = await db.query(
    `INSERT INTO shadowing_settings (tenant_id, agent, enabled, rate, patterns, names, updated_by)
     VALUES ($1, $2, $3, COALESCE($4::float8, 0), COALESCE($5::jsonb, '[]'), COALESCE($6::jsonb, '[]'), $7)
     ON CONFLICT (tenant_id, agent) DO UPDATE SET enabled = $3, rate = COALESCE($4::float8, shadowing_settings.rate),
       patterns = COALESCE($5::jsonb, shadowing_settings.patterns), names = COALESCE($6::jsonb, shadowing_settings.names),
       updated_by = $7, updated_at = now()
     RETURNING ${settingColumns}`,
    [tenantId, setting.agent, setting.enabled, setting.rate ?? null, json(setting.patterns), json(setting.names), setting.updatedBy],
  );
  return rows[0];
}

/**
 * The agent's standing continuous shadow, made on first use, its candidate moved to the agent's
 * staging bundle now (`bundleId`, the one the caller read, when none is staged any more): its
 * report covers that bundle's mirrors only (shadowPairs).
 */
export async function continuousShadowOf(
  db: Queryable, shadow: { shadowId: string; tenantId: string; agent: string; bundleId: string; createdBy: string },
): Promise<ShadowRow> {
  const { rows } = await db.query(
    `INSERT INTO shadows (shadow_id, tenant_id, agent, bundle_id, selection, created_by, kind) VALUES ($1, $2, $3, $4, '{}', $5, 'continuous')
     ON CONFLICT (tenant_id, agent) WHERE kind = 'continuous' DO UPDATE SET bundle_id = COALESCE(
       (SELECT bundle_id FROM staging_deployments WHERE tenant_id = $2 AND agent = $3), EXCLUDED.bundle_id)
     RETURNING ${shadowColumns}`,
    [shadow.shadowId, shadow.tenantId, shadow.agent, shadow.bundleId, shadow.createdBy],
  );
  return rows[0];
}

export async function findContinuousShadow(db: Queryable, tenantId: string, agent: string): Promise<ShadowRow | undefined> {
  const { rows } = await db.query(`SELECT ${shadowColumns} FROM shadows WHERE tenant_id = $1 AND agent = $2 AND kind = 'continuous'`, [tenantId, agent]);
  return rows[0];
}
