/**
 * The example user project (examples/helpdesk) end to end: its own worker process, started from its
 * own directory so `bosun/worker` resolves through its node_modules as in a user's checkout,
 * registers its two tools; its bundle is published through the REST API and pins them; a run reads
 * a ticket, waits for approval before closing it, closes it once, and is audited.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { helpdeskDemoRules } from '../../src/dev/demoScript';
import type { ModelScript } from '../../src/dev/scriptedModel';
import { tools as helpdeskTools } from '../../examples/helpdesk/tools';
import { type ApiResponse, type TestStack } from '../support/testStack';
import { useTestStack } from '../support/useTestStack';

const repoRoot = path.resolve(__dirname, '../..');
const exampleDir = path.join(repoRoot, 'examples/helpdesk');
const agentDir = path.join(exampleDir, 'agents/helpdesk');

/** "close ticket HD-n" → find_ticket → close_ticket → a one-line answer; an error ends the run politely. */
const helpdeskScript: ModelScript = { rules: helpdeskDemoRules };

/**
 * What `npm install` makes of the example's `"bosun": "file:../.."`: a symlink node_modules/bosun →
 * the repository. Made here rather than by running npm, which would also fetch pg and tsx from the
 * registry and reify Bosun's own dependencies into the shared node_modules; the example finds those
 * two where npm put them for Bosun, in the repository's node_modules, by Node's upward lookup.
 */
function linkBosunAsNpmDoes(): void {
  const link = path.join(exampleDir, 'node_modules/bosun');
  if (existsSync(link) && realpathSync(link) === realpathSync(repoRoot)) return;
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(path.relative(path.dirname(link), repoRoot), link, 'dir');
}

/**
 * The example's `npm run worker` (`tsx worker.ts`), run from its own directory: its tsconfig, its
 * node_modules, none of the repository's path aliases. Resolves once it polls; rejects if it exits first.
 */
function startExampleWorker(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker.ts'], { cwd: exampleDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = new Promise<void>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (line.includes('polling task queue')) resolve();
      });
    }
    void exited.then((code) => reject(new Error(`the example worker exited (${code}) before polling:\n${output.join('\n')}`)));
  });
  async function stop(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  return { ready, output, stop };
}

/** Polls `GET /v1/tools` until a live worker has registered each of `wanted` (name, version, schema). */
async function waitForRegisteredTools(stack: TestStack, wanted: { name: string; version: number; schemaHash: string }[]) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { body } = await stack.api('GET', '/v1/tools');
    const live = wanted.filter((w) => body.tools.some((t: any) =>
      t.name === w.name && t.version === w.version && t.schemaHash === w.schemaHash && t.builds.some((b: any) => b.live)));
    if (live.length === wanted.length) return body.tools;
    if (Date.now() > deadline) throw new Error(`tools not registered in time; GET /v1/tools: ${JSON.stringify(body.tools.map((t: any) => t.name))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the example project (examples/helpdesk) through the real stack', () => {
  const stack = useTestStack({ script: helpdeskScript });
  let worker: ReturnType<typeof startExampleWorker> | undefined;
  const manifests = helpdeskTools.map((t) => t.manifest);
  let registered: any[];
  let published: ApiResponse;
  let bundleId: string;

  beforeAll(async () => {
    linkBosunAsNpmDoes();
    // The stack's own worker has the demo's tools; this one only its own (and Bosun's built-in http_fetch).
    worker = startExampleWorker({ ...stack.env, BOSUN_TOOL_MODULES: '' });
    await worker.ready;
    registered = await waitForRegisteredTools(stack, manifests);
    published = await stack.api('POST', '/v1/bundles', readBundleDir(agentDir));
    bundleId = published.body.bundleId;
  });
  afterAll(() => worker?.stop());

  async function seedTicket(tenantId: string, ticketId: string): Promise<void> {
    await stack.db.query(
      `INSERT INTO helpdesk_tickets (tenant_id, ticket_id, customer_email, subject, body)
       VALUES ($1, $2, 'ada@example.com', 'Cannot log in', 'My password no longer works.')`,
      [tenantId, ticketId],
    );
  }
  const notesOf = async (runId: string): Promise<number> =>
    (await stack.db.query('SELECT count(*)::int AS n FROM helpdesk_ticket_notes WHERE run_id = $1', [runId])).rows[0].n;
  const statusOf = async (ticketId: string): Promise<string> =>
    (await stack.db.query('SELECT status FROM helpdesk_tickets WHERE tenant_id = $1 AND ticket_id = $2', [stack.tenantId, ticketId])).rows[0].status;

  it("lists the example's tools in GET /v1/tools and pins them when its bundle is published", () => {
    expect(registered.find((t) => t.name === 'close_ticket').manifest).toMatchObject({ kind: 'write', approvalByDefault: true });
    expect(published.status).toBe(201);
    expect(bundleId).toMatch(/^helpdesk@[0-9a-f]{12}$/);
    expect(published.body.bundle.pinnedTools.map((p: any) => [p.name, p.version, p.schemaHash]))
      .toEqual(manifests.map((m) => [m.name, m.version, m.schemaHash]));
  });

  it('reads the ticket, waits for approval, closes it exactly once, and audits both calls', async () => {
    await seedTicket(stack.tenantId, 'HD-1001');
    const start = await stack.api('POST', '/v1/runs', { agent: 'helpdesk', input: 'Please close ticket HD-1001', bundleId });
    expect(start.status).toBe(202);
    const { runId } = start.body;

    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    expect(parked.pendingApprovals).toHaveLength(1);
    expect(parked.pendingApprovals[0]).toMatchObject({ tool: 'close_ticket', arguments: { ticket_id: 'HD-1001' } });
    expect(parked.steps.map((s: any) => `${s.kind}:${s.name}:${s.status}`)).toEqual(['model:gpt-4o-mini:ok', 'tool:find_ticket:ok', 'model:gpt-4o-mini:ok']);
    expect(await notesOf(runId)).toBe(0);
    expect(await statusOf('HD-1001')).toBe('open');

    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed');
    expect(done.output).toBe('Closed ticket HD-1001.');
    expect(done.steps.filter((s: any) => s.kind === 'tool').map((s: any) => `${s.name}:${s.status}`)).toEqual(['find_ticket:ok', 'close_ticket:ok']);
    expect(await notesOf(runId)).toBe(1);
    expect(await statusOf('HD-1001')).toBe('closed');

    const audit = await stack.api('GET', `/v1/audit?runId=${runId}`);
    expect(audit.status).toBe(200);
    const calls = audit.body.entries.filter((e: any) => e.action === 'tool.called');
    expect(calls.map((e: any) => `${e.target}:${e.status}`)).toEqual(['find_ticket:ok', 'close_ticket:ok']);
    expect(calls[0].detail).toMatchObject({ toolVersion: 1, schemaHash: manifests[0]!.schemaHash, scope: ['tenant:helpdesk_tickets'] });
    // find_ticket's redaction rule: the model saw the customer's address, the audit log did not keep it.
    expect(JSON.stringify(calls)).not.toContain('ada@example.com');
    expect(stack.model.requests.some((r) => JSON.stringify(r.messages).includes('ada@example.com'))).toBe(true);
  });

  it("keeps find_ticket to the run's tenant: schema.sql's row-level security hides another tenant's ticket", async () => {
    await seedTicket(`other_${stack.tenantId}`, 'HD-2002');
    const start = await stack.api('POST', '/v1/runs', { agent: 'helpdesk', input: 'Please close ticket HD-2002', bundleId });
    const done = await stack.waitForStatus(start.body.runId, 'completed');
    expect(done.output).toBe('Sorry: ticket HD-2002 not found.');
    expect(done.steps.filter((s: any) => s.kind === 'tool').map((s: any) => `${s.name}:${s.status}`)).toEqual(['find_ticket:error']);
  });

  it('refuses a bundle naming an unknown tool, an unregistered version and an unregistered schema, listing each', async () => {
    const res = await stack.api('POST', '/v1/bundles', {
      ...readBundleDir(agentDir),
      tools: [
        { name: 'find_tickets', version: 1 },
        { name: 'find_ticket', version: 2 },
        { name: 'close_ticket', version: 1, schemaHash: '0123456789abcdef' },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.problems).toEqual([
      expect.stringMatching(/^tools\.0: unknown tool "find_tickets"/),
      expect.stringMatching(/^tools\.1: find_ticket v2 is not registered by any worker \(registered versions: 1\)/),
      expect.stringMatching(/^tools\.2: close_ticket v1 has no registered schema 0123456789abcdef/),
    ]);
  });
});
