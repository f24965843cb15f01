/**
 * Kubernetes JSON Schemas for kubeconform, made offline from the OpenAPI document that the
 * `k8s.io/kubernetes` Go module ships (api/openapi-spec/swagger.json), fetched with `go mod download`
 * from the Go module proxy. One file per kind, named as kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}`
 * template expects (deployment-apps-v1.json, service-v1.json), each standalone (the definitions it
 * needs inlined under `definitions`) and strict (no properties the API does not know), like
 * openapi2jsonschema's `-standalone-strict` output. Written once into a cache outside the repository.
 *
 *   npx tsx deploy/tools/kubernetesSchemas.ts   # prints the schema folder
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The Kubernetes release whose API the rendered chart is checked against. */
export const KUBERNETES_MODULE = 'k8s.io/kubernetes@v1.34.2';
const kubernetesVersion = KUBERNETES_MODULE.split('@v')[1]!;
export const schemaCacheDir = path.join(os.homedir(), '.cache', 'bosun', 'kubernetes-json-schema', `v${kubernetesVersion}-standalone-strict`);
/** kubeconform's -schema-location for the folder above. */
export const schemaLocation = path.join(schemaCacheDir, '{{ .ResourceKind }}{{ .KindSuffix }}.json');

type Schema = { [key: string]: unknown };
interface GroupVersionKind { group: string; version: string; kind: string }

/** The folder of schemas, made from the module's OpenAPI document the first time. */
export function ensureKubernetesSchemas(log: (line: string) => void = () => {}): string {
  if (existsSync(path.join(schemaCacheDir, 'deployment-apps-v1.json'))) return schemaCacheDir;
  log(`making Kubernetes JSON Schemas from ${KUBERNETES_MODULE} into ${schemaCacheDir}`);
  const download = JSON.parse(execFileSync('go', ['mod', 'download', '-json', KUBERNETES_MODULE], { encoding: 'utf8' })) as { Dir?: string; Error?: string };
  if (!download.Dir) throw new Error(`go mod download ${KUBERNETES_MODULE}: ${download.Error ?? 'no module directory'}`);
  const swagger = JSON.parse(readFileSync(path.join(download.Dir, 'api', 'openapi-spec', 'swagger.json'), 'utf8')) as { definitions: Record<string, Schema> };
  // Written beside the final folder and renamed into place, so a half-written cache is never used.
  const partial = `${schemaCacheDir}.partial-${process.pid}`;
  mkdirSync(partial, { recursive: true });
  for (const [file, schema] of Object.entries(kindSchemas(swagger.definitions))) writeFileSync(path.join(partial, file), JSON.stringify(schema));
  renameSync(partial, schemaCacheDir);
  return schemaCacheDir;
}

/** File name → standalone strict schema, for every kind the document defines. */
export function kindSchemas(definitions: Record<string, Schema>): Record<string, Schema> {
  const converted = Object.fromEntries(Object.entries(definitions).map(([name, schema]) => [name, convert(schema, name)]));
  const files: Record<string, Schema> = {};
  for (const [name, schema] of Object.entries(definitions)) {
    for (const gvk of (schema['x-kubernetes-group-version-kind'] as GroupVersionKind[] | undefined) ?? []) {
      const needed = [...referencedFrom(name, converted)];
      files[fileNameOf(gvk)] = {
        $schema: 'http://json-schema.org/draft-07/schema#',
        $ref: `#/definitions/${name}`,
        definitions: Object.fromEntries(needed.map((n) => [n, converted[n]])),
      };
    }
  }
  return files;
}

/** kubeconform's ResourceKind + KindSuffix: the kind, the group's first label, the version, lower case. */
function fileNameOf({ group, version, kind }: GroupVersionKind): string {
  const suffix = group ? `-${group.split('.')[0]}-${version}` : `-${version}`;
  return `${kind}${suffix}.json`.toLowerCase();
}

/** The definition and every definition it reaches through $ref. */
function referencedFrom(start: string, definitions: Record<string, unknown>): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    JSON.stringify(definitions[name]).replace(/"#\/definitions\/([^"]+)"/g, (_, ref: string) => {
      visit(ref);
      return '';
    });
  };
  visit(start);
  return seen;
}

/**
 * One OpenAPI 2 schema as JSON Schema: int-or-string and quantities take numbers too (YAML writes
 * `port: 8080`, `cpu: 1`), optional fields may be null, and objects with known properties refuse
 * others (strict), as the API server's field validation does.
 */
function convert(schema: unknown, name?: string): unknown {
  if (Array.isArray(schema)) return schema.map((item) => convert(item));
  if (schema === null || typeof schema !== 'object') return schema;
  const source = schema as Schema;
  if (source.format === 'int-or-string') return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return { oneOf: [{ type: 'string' }, { type: 'number' }] };
  const out: Schema = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === 'properties') out[key] = Object.fromEntries(Object.entries(value as Schema).map(([p, s]) => [p, convert(s)]));
    else if (key === 'type' && typeof value === 'string') out[key] = [value, 'null'];
    else if (key.startsWith('x-kubernetes-') || key === 'format') continue;
    else out[key] = convert(value);
  }
  if (source.properties && source.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

if (require.main === module) console.log(ensureKubernetesSchemas(console.error));
