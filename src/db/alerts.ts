/**
 * The alert store: rules (`alert_rules`), each alert's state and figures (`alerts`), the transitions
 * (`alert_events`) with their delivery, the grounding verdicts of sampled runs
 * (`alert_grounding_samples`), and the signals' figures read from runs and steps. Windows are taken
 * on the database's clock.
 */
import type { DbClient, Queryable } from './pool';
import {
  perTenantSignals, WHOLE_SCOPE,
  type AlertFigures, type AlertRule, type AlertRuleSpec, type AlertSignal, type AlertState, type AlertTransition, type WindowFigures,
} from '../shared/alerts';

const ruleColumns = `rule_id AS "ruleId", source, tenant_id AS "tenantId", agent, bundle_id AS "bundleId", signal,
  window_text AS "window", comparison AS "when", threshold,
  CASE WHEN baseline_window IS NULL THEN NULL ELSE json_build_object('window', baseline_window, 'factor', baseline_factor) END AS baseline,
  min_samples AS "minSamples", webhook_url AS "webhookUrl", description, created_by AS "createdBy", created_at AS "createdAt"`;

/** A rule to store: its spec with the id, source and tenant (null: every tenant) it is stored under. */
export interface NewAlertRule {
  ruleId: string;
  source: AlertRule['source'];
  tenantId: string | null;
  spec: AlertRuleSpec;
  createdBy: string;
}

/** Inserts a rule, or replaces the one with its id (a rules-file rule whose file changed). */
export async function upsertAlertRule(db: Queryable, rule: NewAlertRule): Promise<AlertRule> {
  const s = rule.spec;
  const { rows } = await db.query(
    `INSERT INTO alert_rules (rule_id, source, tenant_id, agent, bundle_id, signal, window_text, comparison, threshold,
                              baseline_window, baseline_factor, min_samples, webhook_url, description, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (rule_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, agent = EXCLUDED.agent, bundle_id = EXCLUDED.bundle_id,
       signal = EXCLUDED.signal, window_text = EXCLUDED.window_text, comparison = EXCLUDED.comparison, threshold = EXCLUDED.threshold,
       baseline_window = EXCLUDED.baseline_window, baseline_factor = EXCLUDED.baseline_factor, min_samples = EXCLUDED.min_samples,
       webhook_url = EXCLUDED.webhook_url, description = EXCLUDED.description, updated_at = now()
     RETURNING ${ruleColumns}`,
    [rule.ruleId, rule.source, rule.tenantId, s.agent, s.bundleId ?? null, s.signal, s.window, s.when, s.threshold ?? null,
     s.baseline?.window ?? null, s.baseline?.factor ?? null, s.minSamples, s.webhookUrl ?? null, s.description ?? null, rule.createdBy],
  );
  return ruleOf(rows[0]);
}

/**
 * Makes the stored rules-file rules exactly `rules` (ids `config:<id>`): upserts each, deletes the
 * ones no longer in the file (with their alerts). Returns how many were removed.
 */
export async function replaceConfigRules(db: DbClient, rules: NewAlertRule[]): Promise<number> {
  for (const rule of rules) await upsertAlertRule(db, rule);
  const { rowCount } = await db.query(`DELETE FROM alert_rules WHERE source = 'config' AND NOT (rule_id = ANY($1))`, [rules.map((r) => r.ruleId)]);
  return rowCount ?? 0;
}

/** Every rule, or only those of `tenantId` (its own rules and rules-file rules naming it). */
export async function listAlertRules(db: Queryable, tenantId?: string): Promise<AlertRule[]> {
  const { rows } = await db.query(
    `SELECT ${ruleColumns} FROM alert_rules WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY created_at, rule_id`,
    [tenantId ?? null],
  );
  return rows.map(ruleOf);
}

export async function findAlertRule(db: Queryable, ruleId: string): Promise<AlertRule | undefined> {
  const { rows } = await db.query(`SELECT ${ruleColumns} FROM alert_rules WHERE rule_id = $1`, [ruleId]);
  return rows[0] && ruleOf(rows[0]);
}

/** Deletes a rule and its alerts (its events stay); false when there was none. */
export async function deleteAlertRule(db: Queryable, ruleId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM alert_rules WHERE rule_id = $1', [ruleId]);
  return rowCount === 1;
}

function ruleOf(row: any): AlertRule {
  return { ...row, createdAt: new Date(row.createdAt).toISOString() };
}

// ── figures ────────────────────────────────────────────────────────────────────────────────────

/**
 * Per signal: the rows it measures (aliased `r` for the run, with `at` the time a row counts at)
 * and the value over them; `allEnvironments` for spend, which staging runs add to as well, while the
 * agents' quality signals watch production runs only (a shadow replay of a worse candidate must not
 * page anyone). Fixed text: nothing a user wrote reaches the SQL but as parameters.
 */
const signalSql: Record<AlertSignal, { from: string; at: string; value: string; allEnvironments?: true }> = {
  task_success_rate: { from: 'runs r', at: 'r.finished_at', value: `avg((r.status = 'completed')::int)` },
  p95_latency_ms: {
    from: 'runs r', at: 'r.finished_at',
    value: 'percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (r.finished_at - r.created_at)) * 1000)',
  },
  cost_per_run_usd: { from: 'runs r', at: 'r.finished_at', value: 'avg(r.cost_usd)' },
  tool_error_rate: {
    from: `run_steps s JOIN runs r ON r.run_id = s.run_id AND s.kind = 'tool' AND s.status IN ('ok', 'error')`,
    at: 's.created_at', value: `avg((s.status = 'error')::int)`,
  },
  cost_per_tenant_hour_usd: {
    from: `run_steps s JOIN runs r ON r.run_id = s.run_id AND s.kind = 'model'`,
    at: 's.created_at', value: 'sum(s.cost_usd) / ($4::float8 / 3600)', allEnvironments: true,
  },
  // Only production runs are judged (runsToJudge).
  grounding_rate: { from: 'alert_grounding_samples r', at: 'r.finished_at', value: 'avg(r.grounded::int)', allEnvironments: true },
};

/**
 * A rule's signal over the window of `windowSeconds` that ends `offsetSeconds` before now (0: the
 * current window; the window's length: the baseline just before it), per scope: one `*` entry for
 * a rule's whole population (samples 0 and value null when nothing happened), or, for a per-tenant
 * signal of a rule for every tenant, an entry per tenant with samples.
 */
export async function signalFigures(
  db: Queryable, rule: Pick<AlertRule, 'signal' | 'agent' | 'bundleId' | 'tenantId'>, windowSeconds: number, offsetSeconds: number,
): Promise<Map<string, WindowFigures>> {
  const sql = signalSql[rule.signal];
  const perTenant = rule.tenantId === null && perTenantSignals.includes(rule.signal);
  const { rows } = await db.query(
    `SELECT ${perTenant ? 'r.tenant_id' : `'${WHOLE_SCOPE}'`} AS scope, count(*)::int AS samples, (${sql.value})::float8 AS value
     FROM ${sql.from}
     WHERE r.agent = $1 AND ($2::text IS NULL OR r.bundle_id = $2) AND ($3::text IS NULL OR r.tenant_id = $3)
       ${sql.allEnvironments ? '' : "AND r.environment = 'production'"}
       AND ${sql.at} > now() - make_interval(secs => $4::float8 + $5::float8) AND ${sql.at} <= now() - make_interval(secs => $5::float8)
     ${perTenant ? 'GROUP BY r.tenant_id' : ''}`,
    [rule.agent, rule.bundleId, rule.tenantId, windowSeconds, offsetSeconds],
  );
  return new Map(rows.map((row) => [row.scope as string, { samples: row.samples, value: row.value }]));
}

// ── alerts and their transitions ───────────────────────────────────────────────────────────────

export interface AlertRow {
  ruleId: string;
  scope: string;
  tenantId: string | null;
  state: AlertState;
  figures: AlertFigures;
  since: string;
  evaluatedAt: string;
}

const alertColumns = `rule_id AS "ruleId", scope, tenant_id AS "tenantId", state, figures, since, evaluated_at AS "evaluatedAt"`;

/** The scopes of a rule whose alert is firing now (they must be evaluated even when nothing happened there). */
export async function firingScopes(db: Queryable, ruleId: string): Promise<string[]> {
  const { rows } = await db.query(`SELECT scope FROM alerts WHERE rule_id = $1 AND state = 'firing'`, [ruleId]);
  return rows.map((r) => r.scope);
}

/**
 * Locks an alert for the rest of the transaction (an advisory lock on its key, so an alert with no
 * row yet is locked too: two evaluations at once record one transition); undefined when it has no row.
 */
export async function lockAlert(db: DbClient, ruleId: string, scope: string): Promise<AlertRow | undefined> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('bosun-alert/' || $1 || '/' || $2))`, [ruleId, scope]);
  const { rows } = await db.query(`SELECT ${alertColumns} FROM alerts WHERE rule_id = $1 AND scope = $2 FOR UPDATE`, [ruleId, scope]);
  return rows[0];
}

/** Stores an alert's latest figures, and its state (`since` moves only when the state changes). */
export async function saveAlert(db: DbClient, a: { ruleId: string; scope: string; tenantId: string | null; state: AlertState; figures: AlertFigures }): Promise<void> {
  await db.query(
    `INSERT INTO alerts (rule_id, scope, tenant_id, state, figures, since, evaluated_at) VALUES ($1, $2, $3, $4, $5, now(), now())
     ON CONFLICT (rule_id, scope) DO UPDATE SET figures = EXCLUDED.figures, evaluated_at = now(),
       since = CASE WHEN alerts.state = EXCLUDED.state THEN alerts.since ELSE now() END, state = EXCLUDED.state`,
    [a.ruleId, a.scope, a.tenantId, a.state, JSON.stringify(a.figures)],
  );
}

export interface NewAlertEvent {
  eventId: string;
  ruleId: string;
  scope: string;
  tenantId: string | null;
  transition: AlertTransition;
  figures: AlertFigures;
  text: string;
  /** Null: nowhere to deliver it (delivery `none`). */
  webhookUrl: string | null;
}

export async function insertAlertEvent(db: Queryable, e: NewAlertEvent): Promise<void> {
  await db.query(
    `INSERT INTO alert_events (event_id, rule_id, scope, tenant_id, transition, figures, text, webhook_url, delivery)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [e.eventId, e.ruleId, e.scope, e.tenantId, e.transition, JSON.stringify(e.figures), e.text, e.webhookUrl, e.webhookUrl ? 'pending' : 'none'],
  );
}

/** Transitions still waiting for their webhook, oldest first. */
export async function pendingAlertEvents(db: Queryable, limit = 100): Promise<string[]> {
  const { rows } = await db.query(`SELECT event_id FROM alert_events WHERE delivery = 'pending' ORDER BY created_at LIMIT $1`, [limit]);
  return rows.map((r) => r.event_id);
}

/** A stored transition, with its delivery. */
export interface AlertEventRow extends NewAlertEvent {
  delivery: 'pending' | 'delivered' | 'failed' | 'none';
  createdAt: string;
}

export async function findAlertEvent(db: Queryable, eventId: string): Promise<AlertEventRow | undefined> {
  const { rows } = await db.query(
    `SELECT event_id AS "eventId", rule_id AS "ruleId", scope, tenant_id AS "tenantId", transition, figures, text,
            webhook_url AS "webhookUrl", delivery, created_at AS "createdAt"
     FROM alert_events WHERE event_id = $1`,
    [eventId],
  );
  return rows[0] && { ...rows[0], createdAt: new Date(rows[0].createdAt).toISOString() };
}

/** Records how a pending transition's delivery ended; a transition already settled stays as it is. */
export async function settleAlertEvent(db: Queryable, eventId: string, outcome: 'delivered' | 'failed', error?: string): Promise<void> {
  await db.query(
    `UPDATE alert_events SET delivery = $2, delivery_error = $3, delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
     WHERE event_id = $1 AND delivery = 'pending'`,
    [eventId, outcome, error ?? null],
  );
}

/** Alerts with their rule, newest change first: every alert, or those of `tenantId`; `state` narrows them. */
export async function listAlerts(db: Queryable, filter: { tenantId?: string; state?: AlertState }) {
  const { rows } = await db.query(
    `SELECT a.rule_id AS "ruleId", a.scope, a.tenant_id AS "tenantId", r.agent, r.bundle_id AS "bundleId", a.state, a.figures,
            a.since, a.evaluated_at AS "evaluatedAt",
            (SELECT text FROM alert_events e WHERE e.rule_id = a.rule_id AND e.scope = a.scope ORDER BY created_at DESC LIMIT 1) AS text
     FROM alerts a JOIN alert_rules r ON r.rule_id = a.rule_id
     WHERE ($1::text IS NULL OR a.tenant_id = $1) AND ($2::text IS NULL OR a.state = $2)
     ORDER BY a.since DESC, a.rule_id, a.scope`,
    [filter.tenantId ?? null, filter.state ?? null],
  );
  return rows.map((row) => ({ ...row, since: new Date(row.since).toISOString(), evaluatedAt: new Date(row.evaluatedAt).toISOString() }));
}

// ── the online judge's samples ─────────────────────────────────────────────────────────────────

/** What the online judge reads of a finished run: its input, answer and tool steps. */
export interface RunToJudge {
  runId: string;
  tenantId: string;
  agent: string;
  bundleId: string;
  status: string;
  input: string;
  output: string | null;
  createdAt: string;
  finishedAt: string;
  costUsd: number;
  steps: { step: number; ordinal: number; kind: 'model' | 'tool'; name: string; status: string; detail: Record<string, unknown> }[];
}

/**
 * Completed production runs a grounding rule watches (its agent, and its tenant if it names one), finished in the last `lookbackSeconds`, not
 * judged yet, and in the sample: a run is in it when the first 32 bits of the MD5 of its ID, as a
 * fraction, are below `rate` (the same runs whichever worker looks). At most `limit`, oldest first.
 */
export async function runsToJudge(db: Queryable, rate: number, lookbackSeconds: number, limit: number): Promise<RunToJudge[]> {
  const { rows } = await db.query(
    `SELECT r.run_id AS "runId", r.tenant_id AS "tenantId", r.agent, r.bundle_id AS "bundleId", r.status, r.input, r.output,
            r.created_at AS "createdAt", r.finished_at AS "finishedAt", r.cost_usd::float8 AS "costUsd",
            coalesce((SELECT json_agg(json_build_object('step', s.step, 'ordinal', s.ordinal, 'kind', s.kind, 'name', s.name,
                                                        'status', s.status, 'detail', s.detail) ORDER BY s.step, s.ordinal)
                      FROM run_steps s WHERE s.run_id = r.run_id), '[]') AS steps
     FROM runs r
     WHERE r.status = 'completed' AND r.environment = 'production' AND r.finished_at > now() - make_interval(secs => $2::float8)
       AND EXISTS (SELECT 1 FROM alert_rules a WHERE a.signal = 'grounding_rate' AND a.agent = r.agent
                                                 AND (a.tenant_id IS NULL OR a.tenant_id = r.tenant_id))
       AND NOT EXISTS (SELECT 1 FROM alert_grounding_samples g WHERE g.run_id = r.run_id)
       AND ('x' || substr(md5(r.run_id::text), 1, 8))::bit(32)::bigint / 4294967296.0 < $1
     ORDER BY r.finished_at LIMIT $3`,
    [rate, lookbackSeconds, limit],
  );
  return rows.map((row) => ({ ...row, createdAt: new Date(row.createdAt).toISOString(), finishedAt: new Date(row.finishedAt).toISOString() }));
}

/** Stores a run's grounding verdict once. */
export async function insertGroundingSample(
  db: Queryable, run: RunToJudge, verdict: { grounded: boolean; failures: string[]; judge: string },
): Promise<void> {
  await db.query(
    `INSERT INTO alert_grounding_samples (run_id, tenant_id, agent, bundle_id, grounded, failures, judge, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (run_id) DO NOTHING`,
    [run.runId, run.tenantId, run.agent, run.bundleId, verdict.grounded, JSON.stringify(verdict.failures), verdict.judge, run.finishedAt],
  );
}
