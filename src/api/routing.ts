import { createHash } from 'node:crypto';
import type { Deployment } from '../bundles/deployments';

export type Arm = 'stable' | 'canary';

/**
 * Picks the bundle for a new run. Deterministic on the routing key, so one conversation or tenant
 * passing the same key always lands on the same side of a canary.
 */
export function chooseBundle(deployment: Deployment, routingKey: string): { bundleId: string; arm: Arm } {
  if (!deployment.canaryBundleId || deployment.canaryWeight <= 0) return { bundleId: deployment.stableBundleId, arm: 'stable' };
  const bucket = createHash('sha256').update(`${deployment.agent}\0${routingKey}`).digest().readUInt32BE(0) % 10_000;
  return bucket < deployment.canaryWeight * 100
    ? { bundleId: deployment.canaryBundleId, arm: 'canary' }
    : { bundleId: deployment.stableBundleId, arm: 'stable' };
}
