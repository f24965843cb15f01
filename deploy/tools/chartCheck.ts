/**
 * Renders the Helm chart (deploy/helm/bosun) with `helm template` and validates every rendered
 * manifest against the Kubernetes JSON Schemas with kubeconform. helm and kubeconform are built
 * once with `go install` into ~/.cache/bosun/bin (as .ci/run does); the schemas come from
 * kubernetesSchemas.ts. The test test/integration/helmChart.test.ts and CI use it; by hand:
 *
 *   npm run check:chart
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KUBERNETES_MODULE, ensureKubernetesSchemas, schemaLocation } from './kubernetesSchemas';

export const HELM_MODULE = 'helm.sh/helm/v3/cmd/helm@v3.22.0';
export const KUBECONFORM_MODULE = 'github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0';
const toolCacheDir = path.join(os.homedir(), '.cache', 'bosun', 'bin');
export const chartDir = path.resolve(__dirname, '../helm/bosun');
/** The values files CI renders: the defaults, and every optional part switched on. */
export const chartValueSets: Record<string, string[]> = { defaults: [], full: [path.join(chartDir, 'ci', 'full-values.yaml')] };
const kubernetesVersion = KUBERNETES_MODULE.split('@v')[1]!;

/** The cached binary, built with `go install` the first time. */
export function ensureGoTool(module: string, log: (line: string) => void = () => {}): string {
  const name = path.basename(module.split('@')[0]!);
  const binary = path.join(toolCacheDir, name);
  if (existsSync(binary)) return binary;
  log(`building ${module} into ${toolCacheDir} with go install (once)`);
  mkdirSync(toolCacheDir, { recursive: true });
  execFileSync('go', ['install', module], { env: { ...process.env, GOBIN: toolCacheDir }, stdio: ['ignore', 'ignore', 'inherit'] });
  return binary;
}

/** `helm template` of the chart with these values files: the manifests as one YAML stream. Throws with helm's message. */
export function renderChart(valuesFiles: readonly string[], log?: (line: string) => void): string {
  const helm = ensureGoTool(HELM_MODULE, log);
  // A helm built with go install assumes Kubernetes 1.20; render for the version the schemas describe.
  const args = ['template', 'bosun', chartDir, '--namespace', 'bosun', '--kube-version', kubernetesVersion, ...valuesFiles.flatMap((f) => ['--values', f])];
  return execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface ManifestResult { kind: string; name: string; status: string; msg: string }

/** kubeconform's verdict on each manifest of a YAML stream (strict: unknown fields are errors). */
export function validateManifests(yaml: string, log?: (line: string) => void): ManifestResult[] {
  const kubeconform = ensureGoTool(KUBECONFORM_MODULE, log);
  ensureKubernetesSchemas(log);
  const run = spawnSync(kubeconform, ['-strict', '-output', 'json', '-verbose', '-schema-location', schemaLocation, '-'], { input: yaml, encoding: 'utf8' });
  if (run.error) throw run.error;
  const report = JSON.parse(run.stdout) as { resources: ManifestResult[] };
  return report.resources;
}

/** Problems of the chart across every value set: one line per manifest that is not valid, or that failed to render. */
export function checkChart(log?: (line: string) => void): { manifests: number; problems: string[] } {
  let manifests = 0;
  const problems: string[] = [];
  for (const [name, files] of Object.entries(chartValueSets)) {
    let results: ManifestResult[];
    try {
      results = validateManifests(renderChart(files, log), log);
    } catch (err) {
      problems.push(`${name}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
      continue;
    }
    manifests += results.length;
    if (results.length === 0) problems.push(`${name}: no manifests rendered`);
    for (const r of results) if (r.status !== 'statusValid') problems.push(`${name}: ${r.kind} ${r.name}: ${r.status} ${r.msg}`);
  }
  return { manifests, problems };
}

if (require.main === module) {
  const { manifests, problems } = checkChart(console.error);
  for (const problem of problems) console.error(problem);
  console.log(`${manifests} manifests checked against Kubernetes ${kubernetesVersion}: ${problems.length === 0 ? 'all valid' : `${problems.length} problems`}`);
  process.exit(problems.length === 0 ? 0 : 1);
}
