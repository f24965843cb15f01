/**
 * Environments (issue 15): production (the agent's deployment, live tools) and staging (a candidate
 * bundle, sandboxed tools, staging secrets). Pure: the API, the activities and the contract share it.
 */
export const environments = ['production', 'staging'] as const;
export type Environment = (typeof environments)[number];

/** What a run's request made of it: its environment, whether it is sandboxed, whether it named its bundle. */
export interface RunTraffic {
  environment: Environment;
  /** `sandbox: true`, tapes (every eval case) or staging: no write reaches a live system. */
  sandbox: boolean;
  /** The request named its bundle (`bundleId`) rather than taking the agent's deployment. */
  pinned: boolean;
}

/**
 * Real production traffic: a production run of the agent's deployment, not sandboxed. Only these
 * are selected by shadow replay and mirrored by continuous shadowing (docs/staging.md).
 */
export function isLiveProduction(run: RunTraffic): boolean {
  return run.environment === 'production' && !run.sandbox && !run.pinned;
}

/** Staging runs resolve a secret `NAME` as `STAGING_NAME`: production's credentials never reach a staging run. */
export const STAGING_SECRET_PREFIX = 'STAGING_';

/** The name a secret is looked up by in an environment. */
export function secretNameIn(environment: Environment, name: string): string {
  return environment === 'staging' ? `${STAGING_SECRET_PREFIX}${name}` : name;
}

/**
 * The tenant whose long-term memory a run's memory tools use (docs/memory.md): the run's own in
 * production; in staging never the run's own (production memory, with its personal data): the
 * sandbox tenant the agent's staging deployment names, else the tenant's `<tenantId>:sandbox`.
 */
export function memoryTenantOf(environment: Environment, tenantId: string, sandboxTenant: string | null): string {
  return environment === 'staging' ? (sandboxTenant ?? `${tenantId}:sandbox`) : tenantId;
}

export interface PromotionGate {
  /** The bundle completed at least one staging run. */
  requireStaging: boolean;
  /** The bundle's latest stored eval passed its gate. */
  requireEval: boolean;
}

/** What a bundle has to show for itself when promoted. */
export interface StagingEvidence {
  /** Its completed staging runs. */
  stagingRuns: number;
  /** Whether its latest stored eval passed; null when it has none. */
  evalPassed: boolean | null;
}

/** Why a promotion to production is refused, one line per requirement not met; empty when it may go ahead. */
export function promotionRefusals(bundleId: string, gate: PromotionGate, evidence: StagingEvidence): string[] {
  const missing: string[] = [];
  if (gate.requireStaging && evidence.stagingRuns === 0) {
    missing.push(`staging: ${bundleId} has no completed staging run (deploy it to staging and run it there first)`);
  }
  if (gate.requireEval && evidence.evalPassed === null) missing.push(`eval: ${bundleId} has no stored eval (run bosun eval on it)`);
  if (gate.requireEval && evidence.evalPassed === false) missing.push(`eval: the latest eval of ${bundleId} did not pass its gate`);
  return missing;
}
