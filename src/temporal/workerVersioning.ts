import type { WorkflowService } from '@temporalio/client';

export interface WorkerVersion {
  deploymentName: string;
  buildId: string;
}

/**
 * Makes `version` its deployment's current version, so new runs start on it while runs pinned to
 * older versions finish there. The server only knows a version once its worker has polled, so this
 * retries until then.
 */
export async function makeCurrentVersion(
  connection: { workflowService: WorkflowService },
  namespace: string,
  version: WorkerVersion,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName: version.deploymentName,
        buildId: version.buildId,
        identity: `bosun-worker-${version.buildId}`,
      });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
