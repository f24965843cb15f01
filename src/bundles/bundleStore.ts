/** Published bundles in PostgreSQL: immutable rows, one per tenant and content hash. */
import type { Db, Queryable } from '../db/pool';
import { bundleContentSchema, bundleProblems, grantsOf, grantProblems, pricingProblems, type Bundle, type PinnedContent } from '../shared/bundle';
import { builtInModelPrices, type ModelPrices } from '../shared/pricing';
import { bundleIdOf } from './bundleId';
import { pinMcpTools, type McpListing } from './mcpPins';
import { pinHttpTool, pinRegisteredTools } from './toolPins';
import type { PinnedTool } from '../shared/toolSpec';
import { listRegisteredTools, type RegisteredTool } from '../db/toolRegistry';

export type ValidatedBundle = { ok: true; bundle: Bundle } | { ok: false; problems: string[] };

/**
 * Everything wrong with a bundle at once: its shape, its prompt variables, models that neither it
 * nor `prices` (the process's price table) gives a price, and tools: names, versions and schemas
 * not in `registered` (the tool registry, src/db/toolRegistry.ts; see toolPins.ts), secrets and
 * network they need. A valid bundle comes back pinned, with the ID its content and pins hash to.
 */
export function validateBundle(
  raw: unknown, registered: readonly RegisteredTool[], prices: ModelPrices = builtInModelPrices, mcp: McpPins = { pins: [], problems: [] },
): ValidatedBundle {
  const parsed = bundleContentSchema.safeParse(withoutPins(raw));
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`) };
  }
  const content = parsed.data;
  const problems = [...bundleProblems(content), ...pricingProblems(content, prices)];
  const pinned = pinRegisteredTools(content, registered);
  if (!pinned.ok || mcp.problems.length) return { ok: false, problems: [...problems, ...(pinned.ok ? [] : pinned.problems), ...mcp.problems] };
  const withPins: PinnedContent = { ...content, pinnedTools: [...pinned.pins, ...(content.httpTools ?? []).map(pinHttpTool), ...mcp.pins] };
  problems.push(...grantProblems(content, grantsOf(withPins)));
  return problems.length ? { ok: false, problems } : { ok: true, bundle: { ...withPins, id: bundleIdOf(withPins) } };
}

/**
 * The content as authored: pins a request carries (a published bundle posted again as it was
 * fetched) are dropped, never trusted; publishing pins from the registry.
 */
function withoutPins(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !('pinnedTools' in raw)) return raw;
  const { pinnedTools: _dropped, ...authored } = raw as Record<string, unknown>;
  return authored;
}

/** The pins of a bundle's MCP tools, listed from their servers (src/bundles/mcpPins.ts), and the servers that could not be. */
export type McpPins = { pins: PinnedTool[]; problems: string[] };

/**
 * validateBundle against the tool registry in PostgreSQL and the bundle's MCP servers, listed now
 * with `mcp` (servers cannot be listed without it: a problem each).
 */
export async function validateForPublish(db: Queryable, raw: unknown, prices?: ModelPrices, mcp?: McpListing): Promise<ValidatedBundle> {
  const parsed = bundleContentSchema.safeParse(withoutPins(raw));
  const mcpPins = parsed.success ? await pinMcpTools(parsed.data, mcp) : undefined;
  return validateBundle(raw, await listRegisteredTools(db), prices, mcpPins);
}

/** Stores a bundle unless this tenant already has that exact content; true when it is new. */
export async function saveBundle(db: Queryable, tenantId: string, bundle: Bundle, publishedBy: string): Promise<boolean> {
  const { id, ...content } = bundle;
  const { rowCount } = await db.query(
    `INSERT INTO bundles (tenant_id, bundle_id, agent, content, published_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING`,
    [tenantId, id, bundle.name, JSON.stringify(content), publishedBy],
  );
  return rowCount === 1;
}

export async function findBundle(db: Queryable, tenantId: string, bundleId: string): Promise<Bundle | undefined> {
  const { rows } = await db.query('SELECT content FROM bundles WHERE tenant_id = $1 AND bundle_id = $2', [tenantId, bundleId]);
  return rows[0] ? { ...rows[0].content, id: bundleId } : undefined;
}

export interface BundleSummary {
  bundleId: string;
  agent: string;
  description: string | null;
  publishedBy: string;
  publishedAt: string;
}

/** Whether the tenant has published any bundle of `agent`: what makes an agent known. */
export async function agentPublished(db: Queryable, tenantId: string, agent: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM bundles WHERE tenant_id = $1 AND agent = $2 LIMIT 1', [tenantId, agent]);
  return rows.length > 0;
}

export async function listBundles(db: Queryable, tenantId: string, agent: string): Promise<BundleSummary[]> {
  const { rows } = await db.query(
    `SELECT bundle_id AS "bundleId", agent, content->>'description' AS description, published_by AS "publishedBy",
            published_at AS "publishedAt"
     FROM bundles WHERE tenant_id = $1 AND agent = $2 ORDER BY published_at DESC, bundle_id`,
    [tenantId, agent],
  );
  return rows;
}

/**
 * The worker's view: bundles by ID, kept warm. A bundle's content never changes, so an entry never
 * goes stale; the least recently used are dropped past `capacity`.
 */
export function createBundleCache(db: Db, capacity = 200) {
  const cache = new Map<string, Bundle>();
  return {
    async get(bundleId: string): Promise<Bundle | undefined> {
      const hit = cache.get(bundleId);
      if (hit) {
        cache.delete(bundleId);
        cache.set(bundleId, hit);
        return hit;
      }
      // The ID is a hash of the content, so any tenant's row holds the same bundle.
      const { rows } = await db.query('SELECT content FROM bundles WHERE bundle_id = $1 LIMIT 1', [bundleId]);
      if (!rows[0]) return undefined;
      const bundle: Bundle = { ...rows[0].content, id: bundleId };
      cache.set(bundleId, bundle);
      if (cache.size > capacity) cache.delete(cache.keys().next().value!);
      return bundle;
    },
  };
}

export type BundleCache = ReturnType<typeof createBundleCache>;
