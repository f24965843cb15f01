/**
 * The tool registry (table tool_registrations, migration 014): which tools the workers have, by
 * name, version, schema hash, task queue and build. Workers register at start and refresh while
 * they run; publishing pins bundles against it; admission asks it whether a live worker has a
 * run's tools.
 */
import type { PinnedTool } from '../shared/toolSpec';
import type { Queryable } from './pool';

export interface ToolRegistration {
  manifest: PinnedTool;
  taskQueue: string;
}

/** A worker is live while it refreshed its registrations within this long (it refreshes every 10 s). */
export const REGISTRATION_LIVE_MS = 45_000;

/** Records (or refreshes) that a worker of `buildId` has these tools, each on its task queue. */
export async function registerTools(db: Queryable, buildId: string, tools: readonly ToolRegistration[]): Promise<void> {
  if (!tools.length) return;
  await db.query(
    `INSERT INTO tool_registrations (name, version, schema_hash, task_queue, build_id, manifest)
     SELECT t->>'name', (t->>'version')::int, t->>'schemaHash', t->>'taskQueue', $1, t->'manifest'
     FROM jsonb_array_elements($2::jsonb) AS t
     ON CONFLICT (name, version, schema_hash, task_queue, build_id) DO UPDATE SET last_seen_at = now(), manifest = EXCLUDED.manifest`,
    [buildId, JSON.stringify(tools.map(({ manifest, taskQueue }) => ({
      name: manifest.name, version: manifest.version, schemaHash: manifest.schemaHash, taskQueue, manifest,
    })))],
  );
}

export interface RegisteredTool {
  name: string;
  version: number;
  schemaHash: string;
  manifest: PinnedTool;
  /** The builds that registered it, and whether a worker of each is live now. */
  builds: { buildId: string; taskQueue: string; live: boolean; lastSeenAt: string }[];
}

/** Every registered tool, newest version first within a name; `names` narrows it. */
export async function listRegisteredTools(db: Queryable, names?: readonly string[]): Promise<RegisteredTool[]> {
  const { rows } = await db.query(
    `SELECT name, version, schema_hash, (array_agg(manifest ORDER BY last_seen_at DESC))[1] AS manifest,
            jsonb_agg(jsonb_build_object('buildId', build_id, 'taskQueue', task_queue,
                      'live', last_seen_at > now() - make_interval(secs => $2 / 1000.0),
                      'lastSeenAt', to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                      ORDER BY build_id, task_queue) AS builds
     FROM tool_registrations WHERE $1::text[] IS NULL OR name = ANY($1)
     GROUP BY name, version, schema_hash ORDER BY name, version DESC, max(last_seen_at) DESC`,
    [names ?? null, REGISTRATION_LIVE_MS],
  );
  return rows.map((r) => ({ name: r.name, version: r.version, schemaHash: r.schema_hash, manifest: r.manifest, builds: r.builds }));
}

/** Of these task queues, those no live worker has registered a tool on. */
export async function queuesWithoutLiveWorker(db: Queryable, taskQueues: readonly string[]): Promise<string[]> {
  if (!taskQueues.length) return [];
  const { rows } = await db.query(
    `SELECT q FROM unnest($1::text[]) AS q
     WHERE NOT EXISTS (SELECT 1 FROM tool_registrations r
                       WHERE r.task_queue = q AND r.last_seen_at > now() - make_interval(secs => $2 / 1000.0))`,
    [taskQueues, REGISTRATION_LIVE_MS],
  );
  return rows.map((r) => r.q);
}
