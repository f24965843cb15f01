import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

/** Custom search attributes that let operators filter runs in the Temporal UI. */
export const TenantIdKey = defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD);
export const AgentNameKey = defineSearchAttributeKey('AgentName', SearchAttributeType.KEYWORD);
export const BundleIdKey = defineSearchAttributeKey('BundleId', SearchAttributeType.KEYWORD);
export const RunStatusKey = defineSearchAttributeKey('RunStatus', SearchAttributeType.KEYWORD);
/** production or staging (src/shared/environments.ts): set when a run starts. */
export const EnvironmentKey = defineSearchAttributeKey('Environment', SearchAttributeType.KEYWORD);

export const bosunSearchAttributes = [TenantIdKey, AgentNameKey, BundleIdKey, RunStatusKey, EnvironmentKey];

/** Whose a workflow is, as the Temporal UI filters it: tenant, agent and bundle (a rollout's canary bundle). */
export function ownerSearchAttributes(owner: { tenantId: string; agent: string; bundleId: string }): SearchAttributePair[] {
  return [
    { key: TenantIdKey, value: owner.tenantId },
    { key: AgentNameKey, value: owner.agent },
    { key: BundleIdKey, value: owner.bundleId },
  ];
}
