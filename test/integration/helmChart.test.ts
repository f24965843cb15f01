/**
 * The Helm chart, rendered by the real `helm template` and checked by the real kubeconform against
 * the Kubernetes JSON Schemas (deploy/tools/chartCheck.ts, as CI runs it), and read for what a
 * deployment needs: probes, disruption budgets, secrets only by reference, scrape annotations, TLS
 * files where the TEMPORAL_TLS_* variables point.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { chartValueSets, checkChart, renderChart, validateManifests } from '../../deploy/tools/chartCheck';
import { configSchema } from '../../src/config';

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
interface Container {
  name: string;
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  volumeMounts: { name: string; mountPath: string }[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: {
    replicas?: number;
    selector?: { matchLabels: Record<string, string> };
    minAvailable?: number;
    maxUnavailable?: number;
    template?: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { containers: Container[]; volumes: { name: string; secret?: { secretName: string } }[] };
    };
  };
}

const log = (line: string) => console.log(line);
const manifestsOf = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as Manifest).filter(Boolean);
const render = (set: keyof typeof chartValueSets) => manifestsOf(renderChart(chartValueSets[set]!, log));
const find = (manifests: Manifest[], kind: string, name: string) => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  return found;
};
const containerOf = (deployment: Manifest) => deployment.spec.template!.spec.containers[0]!;
const envOf = (deployment: Manifest) => new Map(containerOf(deployment).env.map((e) => [e.name, e]));

/**
 * Variables the chart sets that src/config.ts's schema does not list: the Temporal client's own
 * (read by @temporalio/envconfig, to which src/config.ts hands the environment).
 */
const readElsewhere = [
  'TEMPORAL_API_KEY', 'TEMPORAL_TLS', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_NAME',
];

// helm and kubeconform are built with go install the first time (minutes); later runs take seconds.
describe('deploy/helm/bosun', { timeout: 900_000 }, () => {
  it('renders with the defaults and with every option on, and kubeconform finds every manifest valid', () => {
    const { manifests, problems } = checkChart(log);
    expect(problems).toEqual([]);
    expect(manifests).toBeGreaterThanOrEqual(10);
  });

  it('kubeconform refuses a broken manifest: an unknown field, a wrong type, a missing required field', () => {
    const yaml = renderChart([], log);
    const broken = [
      yaml.replace('imagePullPolicy: IfNotPresent', 'imagePullPolcy: IfNotPresent'),
      yaml.replace(/replicas: 2/, 'replicas: two'),
      yaml.replace(/\n {6}containers:\n {8}- name: api\n/, '\n      containers:\n        - nameless: api\n'),
    ];
    for (const stream of broken) {
      expect(stream).not.toBe(yaml);
      const statuses = validateManifests(stream, log).map((r) => r.status);
      expect(statuses).toContain('statusInvalid');
    }
  });

  it('runs the API with /healthz liveness and /readyz readiness on its port, behind a Service, with a disruption budget', () => {
    const manifests = render('defaults');
    const api = find(manifests, 'Deployment', 'bosun-api');
    const container = containerOf(api);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const port = container.ports.find((p) => p.name === 'http')!.containerPort;
    expect(envOf(api).get('BOSUN_API_PORT')?.value).toBe(String(port));
    expect(api.spec.template!.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    const service = find(manifests, 'Service', 'bosun-api');
    expect(service.spec.selector).toEqual(api.spec.selector!.matchLabels);
    const pdb = find(manifests, 'PodDisruptionBudget', 'bosun-api');
    expect(pdb.spec.selector).toEqual(api.spec.selector);
    expect(pdb.spec.minAvailable).toBeLessThan(api.spec.replicas!);
  });

  it('runs the worker with its metrics port scraped and a disruption budget that lets one go at a time', () => {
    const manifests = render('defaults');
    const worker = find(manifests, 'Deployment', 'bosun-worker');
    const metricsPort = containerOf(worker).ports.find((p) => p.name === 'metrics')!.containerPort;
    expect(envOf(worker).get('BOSUN_METRICS_PORT')?.value).toBe(String(metricsPort));
    expect(worker.spec.template!.metadata.annotations).toMatchObject({ 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': '/metrics' });
    expect(find(manifests, 'PodDisruptionBudget', 'bosun-worker').spec).toMatchObject({ maxUnavailable: 1, selector: worker.spec.selector });
  });

  it('sets only variables Bosun reads', () => {
    const known = [...Object.keys(configSchema.shape), ...readElsewhere];
    const manifests = render('full');
    for (const name of ['bosun-api', 'bosun-worker']) {
      for (const variable of envOf(find(manifests, 'Deployment', name)).keys()) expect(known, `${name}: ${variable}`).toContain(variable);
    }
  });

  it('takes every secret from an existing Kubernetes Secret, never as a value', () => {
    const manifests = render('full');
    const secretVars = ['DATABASE_URL', 'TEMPORAL_API_KEY', 'BOSUN_ENCRYPTION_KEYS', 'BOSUN_API_KEYS', 'OPENAI_API_KEY'];
    const seen = new Set<string>();
    for (const name of ['bosun-api', 'bosun-worker']) {
      for (const [variable, entry] of envOf(find(manifests, 'Deployment', name))) {
        if (!secretVars.includes(variable)) continue;
        seen.add(variable);
        expect(entry.value, `${name}: ${variable}`).toBeUndefined();
        expect(entry.valueFrom?.secretKeyRef?.name, `${name}: ${variable}`).toBeTruthy();
      }
    }
    expect([...seen].sort()).toEqual([...secretVars].sort());
  });

  it('mounts the Temporal TLS secret where the TEMPORAL_TLS_* paths point, in both processes', () => {
    const manifests = render('full');
    for (const name of ['bosun-api', 'bosun-worker']) {
      const deployment = find(manifests, 'Deployment', name);
      const env = envOf(deployment);
      expect(env.get('TEMPORAL_TLS')?.value).toBe('true');
      const volume = deployment.spec.template!.spec.volumes.find((v) => v.secret?.secretName === 'temporal-mtls');
      expect(volume, name).toBeDefined();
      const mount = containerOf(deployment).volumeMounts.find((m) => m.name === volume!.name)!;
      for (const variable of ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH']) {
        expect(env.get(variable)?.value?.startsWith(`${mount.mountPath}/`), `${name}: ${variable}`).toBe(true);
      }
    }
  });
});
