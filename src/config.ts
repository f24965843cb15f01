import { z } from 'zod';
import { parseDuration } from './shared/duration';

/**
 * Every environment variable Bosun reads, in one schema. Processes call `loadConfig` once at start-up
 * and pass the result down; nothing else reads `process.env`.
 */
export const configSchema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/bosun'),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('bosun-agents'),
  BOSUN_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** `key:tenant[:role+role],...` (roles: runner, approver, admin; all three when absent); seeded hashed. */
  BOSUN_API_KEYS: z.string().default(''),
  BOSUN_AGENTS_DIR: z.string().min(1).default('agents'),
  /** How long an approval waits before it counts as rejected, e.g. `24h`, `15m`, `30s`. */
  BOSUN_APPROVAL_TIMEOUT: z
    .string()
    .default('24h')
    .refine((value) => parseDuration(value) !== undefined, 'must be a duration such as 24h, 15m or 30s'),
  /**
   * Worker Versioning: with a build ID the worker joins deployment BOSUN_DEPLOYMENT_NAME as that
   * version, and runs stay pinned to the version they started on. Unversioned when absent.
   */
  BOSUN_BUILD_ID: z.string().regex(/^[\w.-]{1,100}$/).optional(),
  BOSUN_DEPLOYMENT_NAME: z.string().regex(/^[\w.-]{1,100}$/).default('bosun'),
  /** Make this worker's build the deployment's current version once it polls (new runs go to it). */
  BOSUN_PROMOTE_BUILD: z.enum(['true', 'false']).default('true'),
  /** Verbosity of the Temporal SDK's own log lines in the worker. */
  BOSUN_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  /** USD per million tokens, by model id: `{"gpt-4o-mini":{"input":0.15,"output":0.6}}`. */
  BOSUN_MODEL_PRICES: z.string().optional(),
});

export type Env = z.infer<typeof configSchema>;

const modelPriceSchema = z.record(
  z.string(),
  z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }),
);
export type ModelPrices = z.infer<typeof modelPriceSchema>;

const defaultModelPrices: ModelPrices = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
};

export const roles = ['runner', 'approver', 'admin'] as const;
export type Role = (typeof roles)[number];

export interface ApiKeySeed {
  key: string;
  tenantId: string;
  roles: Role[];
}

export interface Config {
  databaseUrl: string;
  temporal: { address: string; namespace: string; taskQueue: string };
  workerVersion: { deploymentName: string; buildId: string; promote: boolean } | undefined;
  api: { port: number; keys: ApiKeySeed[] };
  agentsDir: string;
  approvalTimeoutMs: number;
  logLevel: Env['BOSUN_LOG_LEVEL'];
  model: { apiKey: string; baseUrl: string | undefined; prices: ModelPrices };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // `FOO=` (as docker-compose writes `${FOO:-}`) means unset, not an empty value.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = configSchema.safeParse(given);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, taskQueue: e.TEMPORAL_TASK_QUEUE },
    workerVersion: e.BOSUN_BUILD_ID
      ? { deploymentName: e.BOSUN_DEPLOYMENT_NAME, buildId: e.BOSUN_BUILD_ID, promote: e.BOSUN_PROMOTE_BUILD === 'true' }
      : undefined,
    api: { port: e.BOSUN_API_PORT, keys: parseApiKeys(e.BOSUN_API_KEYS) },
    agentsDir: e.BOSUN_AGENTS_DIR,
    approvalTimeoutMs: parseDuration(e.BOSUN_APPROVAL_TIMEOUT)!,
    logLevel: e.BOSUN_LOG_LEVEL,
    // The OpenAI SDK insists on a key; the scripted model server ignores it.
    model: { apiKey: e.OPENAI_API_KEY ?? 'not-needed', baseUrl: e.OPENAI_BASE_URL, prices: parsePrices(e.BOSUN_MODEL_PRICES) },
  };
}

function parseApiKeys(raw: string): ApiKeySeed[] {
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  return entries.map((entry) => {
    const [key, tenantId, roleList, ...rest] = entry.split(':');
    const given = roleList === undefined ? [...roles] : roleList.split('+');
    const valid = given.every((r): r is Role => (roles as readonly string[]).includes(r));
    if (!key || !tenantId || rest.length > 0 || !valid || given.length === 0) {
      // Only a prefix of the key: the rest of it is a secret.
      throw new ConfigError([`BOSUN_API_KEYS: entry "${entry.slice(0, 4)}…" must look like key:tenant or key:tenant:runner+approver+admin`]);
    }
    return { key, tenantId, roles: given as Role[] };
  });
}

function parsePrices(raw: string | undefined): ModelPrices {
  if (!raw) return defaultModelPrices;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(['BOSUN_MODEL_PRICES: not valid JSON']);
  }
  const parsed = modelPriceSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `BOSUN_MODEL_PRICES.${i.path.join('.')}: ${i.message}`));
  return { ...defaultModelPrices, ...parsed.data };
}
