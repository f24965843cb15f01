/**
 * Keeps docker-compose.yml and the Dockerfile honest against the code: variable names the config
 * schema knows, hosts that are services, an image built from this repository's Dockerfile, and
 * commands that are package scripts. No Docker engine is needed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../../src/config';
import { lowLatencyDynamicConfig } from '../../src/dev/temporalServer';

const root = path.resolve(__dirname, '../..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
const services = compose.services ?? {};
const serviceNames = Object.keys(services);
const dockerfile = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const scripts = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The Bosun processes and the package script each one runs. */
const bosunServices = { api: 'api', worker: 'worker', 'scripted-model': 'scripted-model' } as const;
const configured = ['api', 'worker'] as const;

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number | string; published?: number | string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: string[];
}
interface ComposeFile {
  services?: Record<string, ComposeService>;
}

/** Compose interpolation with an empty host environment: `${VAR:-default}` gives the default. */
function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced: string | undefined) => {
    if (match === '$$') return '$';
    if (braced === undefined) return '';
    const m = /^[A-Za-z_][A-Za-z0-9_]*(?:(:?[-?])([\s\S]*))?$/.exec(braced);
    if (!m) throw new Error(`unsupported interpolation ${match}`);
    const [, op, arg] = m;
    if (!op) return '';
    if (op.endsWith('-')) return arg ?? '';
    throw new Error(`docker-compose.yml requires a host variable: ${match}`);
  });
}

/** Name → value after interpolation; `undefined` for a bare name, which compose leaves unset when the host has none. */
function environmentOf(service: ComposeService): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf('=');
      if (eq < 0) env.set(entry, undefined);
      else env.set(entry.slice(0, eq), interpolate(entry.slice(eq + 1)));
    }
  } else {
    for (const [name, value] of Object.entries(raw)) env.set(name, value === null ? undefined : interpolate(String(value)));
  }
  return env;
}

/** What the container's process.env would hold (without the image's own variables). */
function processEnvOf(service: ComposeService): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of environmentOf(service)) if (value !== undefined) env[name] = value;
  return env;
}

function publishedPorts(service: ComposeService): { target: number; published: string | undefined }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { target: Number(interpolate(String(port.target))), published: port.published === undefined ? undefined : interpolate(String(port.published)) };
    }
    const parts = interpolate(String(port)).replace(/\/(tcp|udp)$/, '').split(':');
    return { target: Number(parts[parts.length - 1]), published: parts.length > 1 ? parts[parts.length - 2] : undefined };
  });
}

function dependsOn(service: ComposeService): string[] {
  const deps = service.depends_on ?? [];
  return Array.isArray(deps) ? deps : Object.keys(deps);
}

/** Every service `service` starts after, directly or through the ones it depends on. */
function startsAfter(service: ComposeService): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const next of dependsOn(services[name] ?? {})) visit(next);
  };
  for (const name of dependsOn(service)) visit(name);
  return seen;
}

/** The condition `service` waits for on `dependency` (compose's default: service_started). */
function conditionOn(service: ComposeService, dependency: string): string | undefined {
  const deps = service.depends_on ?? [];
  if (Array.isArray(deps)) return deps.includes(dependency) ? 'service_started' : undefined;
  return deps[dependency] ? (deps[dependency].condition ?? 'service_started') : undefined;
}

/** The tag of an image reference after interpolation (`temporalio/server:1.30.1` → 1.30.1). */
const imageOf = (service: ComposeService) => {
  const [name, tag] = interpolate(service.image ?? '').split(':');
  return { name, tag };
};

/** The text of a service's command after interpolation (a list joins with newlines: a `sh -ec` script). */
const scriptOf = (service: ComposeService) => interpolate(Array.isArray(service.command) ? service.command.join('\n') : (service.command ?? ''));

/** Host of a URL, or of a bare `host:port` address such as TEMPORAL_ADDRESS. */
function hostAndPort(value: string): { host: string; port: string } {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `tcp://${value}`);
  return { host: url.hostname, port: url.port };
}

function commandText(command: string | string[] | undefined): string | undefined {
  if (command === undefined) return undefined;
  return Array.isArray(command) ? command.join(' ') : command;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function parseDockerfile(text: string): { instruction: string; args: string }[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [instruction = '', ...rest] = line.split(/\s+/);
      return { instruction: instruction.toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of the stage named `name` (`FROM ... AS name`), without its FROM. */
function stage(name: string): { instruction: string; args: string }[] {
  const start = dockerfile.findIndex((i) => i.instruction === 'FROM' && new RegExp(`\\sAS\\s+${name}$`, 'i').test(i.args));
  if (start < 0) throw new Error(`the Dockerfile has no stage "${name}"`);
  const end = dockerfile.findIndex((i, index) => index > start && i.instruction === 'FROM');
  return dockerfile.slice(start + 1, end < 0 ? undefined : end);
}

function finalStage(): { instruction: string; args: string }[] {
  return dockerfile.slice(dockerfile.map((i) => i.instruction).lastIndexOf('FROM') + 1);
}

/** What the build stage copies in (sources of COPY, without a trailing slash). */
const buildStageCopies = stage('build')
  .filter((i) => i.instruction === 'COPY' && !i.args.startsWith('--from'))
  .flatMap((i) => i.args.split(/\s+/).slice(0, -1).map((source) => source.replace(/\/$/, '')));

/** The folders `npm run build` compiles (tsconfig.build.json "include"). */
const buildIncludes = (JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { include: string[] }).include;

/** The package script's TypeScript entry point (`tsx src/api/main.ts` → src/api/main.ts). */
function sourceEntryOf(script: string): string {
  const entry = /^tsx (\S+)$/.exec(scripts[script] ?? '')?.[1];
  if (!entry) throw new Error(`package script ${script} does not run a TypeScript entry point with tsx`);
  return entry;
}

const compiledFormOf = (source: string): string => `dist/${source.replace(/\.ts$/, '.js')}`;

/**
 * The entry point of `node --conditions=bosun-compiled [--import tsx] dist/....js`; throws for any
 * other command (npm, tsx, a missing condition: tool modules would get another `bosun/tools`).
 */
function compiledEntryOf(command: string | undefined): string {
  const entry = /^node --conditions=bosun-compiled (?:--import tsx )?(dist\/\S+\.js)$/.exec(command ?? '')?.[1];
  if (!entry) throw new Error(`not a compiled entry point run with the bosun-compiled condition: ${command}`);
  return entry;
}

/** The CMD of the final stage, as one command line. */
function dockerfileCmd(): string | undefined {
  const lastFrom = dockerfile.map((i) => i.instruction).lastIndexOf('FROM');
  const cmd = dockerfile.slice(lastFrom).filter((i) => i.instruction === 'CMD').pop();
  if (!cmd) return undefined;
  return cmd.args.startsWith('[') ? (JSON.parse(cmd.args) as string[]).join(' ') : cmd.args;
}

/** What a service runs: its own command, else the image's CMD. */
function effectiveCommand(name: string): string | undefined {
  return commandText(services[name]?.command) ?? dockerfileCmd();
}

function service(name: string): ComposeService {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

describe('docker-compose.yml', () => {
  it('defines the deployment services', () => {
    for (const name of ['postgres', 'temporal-schema', 'temporal', 'temporal-namespace', 'temporal-ui', 'api', 'worker', 'scripted-model']) {
      expect(serviceNames, name).toContain(name);
    }
  });

  it('names only variables the config schema reads in the api and worker services', () => {
    const known = Object.keys(configSchema.shape);
    for (const name of configured) {
      const names = [...environmentOf(service(name)).keys()];
      expect(names.length, name).toBeGreaterThan(0);
      for (const variable of names) expect(known, `${name}: ${variable}`).toContain(variable);
    }
  });

  it('tells the api and the worker where PostgreSQL and Temporal are', () => {
    for (const name of configured) {
      const env = environmentOf(service(name));
      for (const variable of ['DATABASE_URL', 'TEMPORAL_ADDRESS']) {
        expect(env.get(variable), `${name}: ${variable}`).toBeTruthy();
      }
    }
  });

  it('addresses dependencies by service name and starts after them', () => {
    for (const [name, svc] of Object.entries(services)) {
      const env = environmentOf(svc);
      for (const variable of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'OPENAI_BASE_URL']) {
        const value = env.get(variable);
        if (!value) continue;
        const { host } = hostAndPort(value);
        expect(serviceNames, `${name}: ${variable}=${value}`).toContain(host);
        expect([...startsAfter(svc)], `${name} uses ${host}`).toContain(host);
      }
    }
  });

  it('runs temporalio/server after admin-tools set up both of its databases, never the deprecated auto-setup image', () => {
    for (const svc of Object.values(services)) expect(svc.image ?? '').not.toMatch(/auto-setup/);
    const server = service('temporal');
    const schema = service('temporal-schema');
    expect(imageOf(server).name).toBe('temporalio/server');
    expect(imageOf(schema)).toEqual({ name: 'temporalio/admin-tools', tag: imageOf(server).tag });
    expect(conditionOn(server, 'temporal-schema')).toBe('service_completed_successfully');
    const env = environmentOf(server);
    const script = scriptOf(schema);
    for (const [db, schemaDir] of [[env.get('DBNAME'), 'temporal'], [env.get('VISIBILITY_DBNAME'), 'visibility']] as const) {
      expect(db).toBeTruthy();
      for (const step of ['create', 'setup-schema -v 0.0', `update-schema -d $schemas/${schemaDir}/versioned`]) {
        expect(script, `${db}: ${step}`).toContain(`--db ${db} ${step}`);
      }
    }
    expect(env.get('POSTGRES_SEEDS')).toBe('postgres');
    expect(env.get('POSTGRES_PWD')).toBe(environmentOf(service('postgres')).get('POSTGRES_PASSWORD'));
  });

  it("starts the api and the worker only after the namespace they use is registered", () => {
    const namespaceService = service('temporal-namespace');
    expect(imageOf(namespaceService).name).toBe('temporalio/admin-tools');
    expect(scriptOf(namespaceService)).toMatch(/temporal operator namespace create/);
    for (const name of configured) {
      expect(conditionOn(service(name), 'temporal-namespace'), name).toBe('service_completed_successfully');
      expect(environmentOf(service(name)).get('TEMPORAL_NAMESPACE')).toBe(environmentOf(namespaceService).get('TEMPORAL_NAMESPACE'));
    }
  });

  it("gives the Temporal server the dev server's low-latency dynamic config", () => {
    const server = service('temporal');
    const target = environmentOf(server).get('DYNAMIC_CONFIG_FILE_PATH');
    const mount = (server.volumes ?? []).map((v) => v.split(':')).find(([, inContainer]) => inContainer === target);
    expect(mount, `a volume mounted at ${target}`).toBeDefined();
    const file = parse(readFileSync(path.resolve(root, mount![0]!), 'utf8')) as Record<string, { value: unknown }[]>;
    for (const setting of lowLatencyDynamicConfig) {
      const [key, value] = setting.split('=');
      expect(String(file[key!]?.[0]?.value), key).toBe(value);
    }
  });

  it("points the Temporal UI at the API's codec server, from an origin the API allows", () => {
    const endpoint = new URL(environmentOf(service('temporal-ui')).get('TEMPORAL_CODEC_ENDPOINT')!);
    const api = loadConfig(processEnvOf(service('api')));
    expect(endpoint.pathname).toBe('/codec');
    expect(publishedPorts(service('api')).map((p) => p.published?.split('-')[0])).toContain(endpoint.port);
    const uiPort = publishedPorts(service('temporal-ui'))[0]!.published;
    expect(api.codecServer.corsOrigins).toContain(`${endpoint.protocol}//${endpoint.hostname}:${uiPort}`);
  });

  it('lets the api and the worker scale: no fixed container names, and a host port for each api replica', () => {
    for (const name of configured) expect((services[name] as { container_name?: string }).container_name, name).toBeUndefined();
    const apiPorts = publishedPorts(service('api')).filter((p) => p.published);
    expect(apiPorts.some((p) => /^\d+-\d+$/.test(p.published!))).toBe(true);
  });

  it('points the model client at the port the scripted model listens on', () => {
    const value = environmentOf(service('worker')).get('OPENAI_BASE_URL');
    expect(value).toBeTruthy();
    const { host, port } = hostAndPort(value!);
    expect(host).toBe('scripted-model');
    const modelPort = environmentOf(service('scripted-model')).get('BOSUN_MODEL_PORT') ?? '8300';
    expect(port).toBe(modelPort);
    expect(new URL(value!).pathname).toBe('/v1');
  });

  it('publishes the port the api listens on', () => {
    const port = loadConfig(processEnvOf(service('api'))).api.port;
    const published = publishedPorts(service('api')).filter((p) => p.published);
    expect(published.map((p) => p.target)).toContain(port);
  });

  it('gives the api and the worker a configuration loadConfig accepts, on the same cluster and queue', () => {
    const api = loadConfig(processEnvOf(service('api')));
    const worker = loadConfig(processEnvOf(service('worker')));
    expect(worker.temporal).toEqual(api.temporal);
    expect(worker.databaseUrl).toBe(api.databaseUrl);
  });

  it('builds the Bosun services from the repository Dockerfile', () => {
    for (const name of Object.keys(bosunServices)) {
      const build = service(name).build;
      expect(build, name).toBeDefined();
      const context = path.resolve(root, typeof build === 'string' ? build : (build?.context ?? '.'));
      const file = path.resolve(context, typeof build === 'object' && build.dockerfile ? build.dockerfile : 'Dockerfile');
      expect(file, name).toBe(path.join(root, 'Dockerfile'));
      expect(existsSync(file)).toBe(true);
    }
  });

  it("runs each Bosun service from the compiled form of its package script's entry point", () => {
    for (const [name, script] of Object.entries(bosunServices)) {
      expect(compiledEntryOf(effectiveCommand(name)), name).toBe(compiledFormOf(sourceEntryOf(script)));
    }
  });

  it('loads by default only tool modules the build compiles', () => {
    const modules = loadConfig(processEnvOf(service('worker'))).tools.modules;
    expect(modules.length).toBeGreaterThan(0);
    for (const module of modules) {
      const source = /^\.\/dist\/(.+)$/.exec(module)?.[1];
      expect(source, `${module} is in dist`).toBeDefined();
      expect(buildIncludes, module).toContain(source);
      expect(buildStageCopies, module).toContain(source);
    }
  });
});

describe('Dockerfile', () => {
  const runs = [dockerfileCmd(), ...Object.keys(bosunServices).map((name) => commandText(services[name]?.command))].filter(
    (c): c is string => c !== undefined,
  );
  const copied = dockerfile
    .filter((i) => i.instruction === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));

  it('has a CMD', () => {
    expect(dockerfileCmd()).toBeTruthy();
  });

  it('runs only compiled entry points of sources its build stage compiles', () => {
    expect(runs.length).toBeGreaterThan(0);
    for (const command of runs) {
      const entry = compiledEntryOf(command);
      const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(path.join(root, source)), source).toBe(true);
      expect(buildStageCopies.some((copiedSource) => source.startsWith(`${copiedSource}/`)), `${source} is copied into the build stage`).toBe(true);
    }
  });

  it('builds in a build stage and runs its dist, without TypeScript sources, in the final stage', () => {
    expect(stage('build').some((i) => i.instruction === 'RUN' && /\bnpm run build\b/.test(i.args))).toBe(true);
    // The build needs tsc: the build stage installs the dev dependencies too.
    expect(stage('build').some((i) => i.instruction === 'RUN' && /\bnpm ci\b/.test(i.args) && !/--omit[= ]dev/.test(i.args))).toBe(true);
    expect(finalStage().some((i) => i.instruction === 'COPY' && /^--from=build\s+\/app\/dist\s+\.\/dist$/.test(i.args))).toBe(true);
    const finalCopies = finalStage().filter((i) => i.instruction === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(finalCopies.some((source) => /^(src|examples)\b/.test(source)), finalCopies.join(' ')).toBe(false);
  });

  it('copies the agent bundles the api and the worker load at start-up', () => {
    for (const name of configured) {
      const { agentsDir } = loadConfig(processEnvOf(service(name)));
      expect(copied, name).toContain(agentsDir.replace(/^\.\//, '').replace(/\/$/, ''));
    }
  });

  it('installs from the lockfile', () => {
    expect(dockerfile.some((i) => i.instruction === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(copied).toContain('package-lock.json');
  });

  it('runs as a non-root user', () => {
    const user = dockerfile.filter((i) => i.instruction === 'USER').pop()?.args;
    expect(user).toBeTruthy();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
  });
});
