/** The `bosun` CLI as a user runs it: a child process talking to a real stack over HTTP. */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { defaultRolloutStages } from '../../src/shared/rolloutSettings';
import { startTcpProxy } from '../support/tcpProxy';
import { startTestStack, type TestStack } from '../support/testStack';

const bin = path.resolve(__dirname, '../../bin/bosun.js');
const supportDir = path.resolve(__dirname, '../../agents/support');
const unknownRunId = '00000000-0000-0000-0000-000000000000';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

describe('the bosun CLI', () => {
  let stack: TestStack;
  let tmp: string;
  beforeAll(async () => {
    stack = await startTestStack();
    tmp = mkdtempSync(path.join(tmpdir(), 'bosun-cli-'));
  });
  afterAll(async () => {
    await stack?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, BOSUN_URL: stack.baseUrl, BOSUN_API_KEY: stack.apiKey });

  function spawnCli(args: string[], { env = cliEnv(), cwd = process.cwd() }: CliOptions = {}) {
    const child = spawn(process.execPath, [bin, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const result: CliResult = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (chunk) => (result.stdout += chunk));
    child.stderr.on('data', (chunk) => (result.stderr += chunk));
    const exited = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ ...result, code })));
    return { child, result, exited };
  }

  /** Runs the CLI to its end; whatever it did, it must not have printed the API key. */
  async function bosun(args: string[], options?: CliOptions): Promise<CliResult> {
    const done = await spawnCli(args, options).exited;
    expect(done.stdout + done.stderr).not.toContain(stack.apiKey);
    return done;
  }

  async function bosunJson(args: string[]): Promise<any> {
    const { code, stdout, stderr } = await bosun([...args, '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(stdout);
  }

  /** A copy of agents/support with its description changed, so it hashes to a new bundle ID. */
  function modifiedSupportBundle(description: string): string {
    const dir = mkdtempSync(path.join(tmp, 'support-'));
    cpSync(supportDir, dir, { recursive: true });
    const yaml = readFileSync(path.join(dir, 'bundle.yaml'), 'utf8');
    writeFileSync(path.join(dir, 'bundle.yaml'), yaml.replace(/^description: .*$/m, `description: ${description}`));
    return dir;
  }

  const seededBundleId = () => stack.bundles.find((b) => b.name === 'support')!.id;

  /** Polls `GET /v1/agents/support` until `done` holds; rollouts act on signals asynchronously. */
  async function deploymentWhere(done: (deployment: any) => boolean, timeoutMs = 15_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await stack.api('GET', '/v1/agents/support');
      if (done(body)) return body;
      if (Date.now() > deadline) throw new Error(`deployment not reached in time; last seen: ${JSON.stringify(body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  describe('usage', () => {
    it('prints the usage with --help and a group usage with <group> --help', async () => {
      const all = await bosun(['--help']);
      expect(all.code).toBe(0);
      for (const command of ['bundle publish <dir>', 'deploy <agent> <bundleId>', 'rollout status <agent>', 'runs watch <runId>', '--json']) {
        expect(all.stdout).toContain(command);
      }
      const runs = await bosun(['runs', '--help']);
      expect(runs.code).toBe(0);
      expect(runs.stdout).toMatch(/^Usage: bosun runs <command>/);
      expect(runs.stdout).toContain('runs approve <runId> [approvalId]');
      expect(runs.stdout).not.toContain('bundle publish');
    });

    it('exits 2 with the usage for an unknown command, missing arguments or an unknown option', async () => {
      const unknown = await bosun(['launch', 'support']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^bosun: unknown command "launch"\n/);
      expect(unknown.stderr).toContain('Usage: bosun <command>');
      expect(unknown.stdout).toBe('');

      const missing = await bosun(['runs', 'show']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^bosun: missing <runId> for "runs show"\n/);
      expect(missing.stderr).toContain('Usage: bosun runs <command>');

      const option = await bosun(['runs', 'list', '--bogus']);
      expect(option.code).toBe(2);
      expect(option.stderr).toContain("Unknown option '--bogus'");

      expect((await bosun([])).code).toBe(2);
      expect((await bosun(['bundle', 'frobnicate'])).stderr).toMatch(/^bosun: unknown command "bundle frobnicate"/);
    });
  });

  describe('bundles and deployments', () => {
    let newBundleId: string;
    const description = 'Support agent, CLI test edition.';

    it('publishes a bundle directory, then finds it already published', async () => {
      const dir = modifiedSupportBundle(description);
      const first = await bosun(['bundle', 'publish', dir]);
      expect(first).toMatchObject({ code: 0, stderr: '' });
      const match = /^published (support@[0-9a-f]{12}) \(new\)\n$/.exec(first.stdout);
      expect(match).not.toBeNull();
      newBundleId = match![1]!;
      expect(newBundleId).not.toBe(seededBundleId());

      const again = await bosun(['bundle', 'publish', dir]);
      expect(again).toMatchObject({ code: 0, stdout: `${newBundleId} was already published (unchanged)\n` });
      expect(await bosunJson(['bundle', 'publish', dir])).toMatchObject({ bundleId: newBundleId, created: false, bundle: { description } });
    });

    it('lists, shows and diffs bundles', async () => {
      const list = await bosun(['bundle', 'list', 'support']);
      expect(list.code).toBe(0);
      const lines = list.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^BUNDLE\s+PUBLISHED\s+BY\s+DESCRIPTION$/);
      expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual([newBundleId, seededBundleId()]);
      expect((await bosunJson(['bundle', 'list', 'support'])).bundles).toHaveLength(2);

      const shown = await bosun(['bundle', 'show', newBundleId]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(new RegExp(`^bundle\\s+${newBundleId}$`, 'm'));
      expect(shown.stdout).toMatch(/^description\s+Support agent, CLI test edition\.$/m);
      expect(shown.stdout).toMatch(/^tools\s+lookup_order v1, issue_refund v1 \(approval: always\)$/m);
      expect(shown.stdout).toContain('  You are the customer support agent of {{shop}}');

      const diff = await bosun(['bundle', 'diff', seededBundleId(), newBundleId]);
      expect(diff.code).toBe(0);
      const [header, ...rows] = diff.stdout.trimEnd().split('\n');
      expect(header).toMatch(/^PATH\s+FROM\s+TO$/);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatch(/^description\s+"Answers order questions.*…\s+"Support agent, CLI test edition\."$/);
      expect(await bosunJson(['bundle', 'diff', seededBundleId(), newBundleId])).toEqual({
        from: seededBundleId(),
        to: newBundleId,
        changes: [{ path: 'description', from: 'Answers order questions and issues refunds after a human approves them.', to: description }],
      });
    });

    it('says when a bundle does not exist', async () => {
      const res = await bosun(['bundle', 'show', 'support@000000000000']);
      expect(res).toMatchObject({ code: 1, stdout: '', stderr: 'bosun: Bundle not found.\n' });
    });

    it('prints every problem of an invalid bundle and exits 1', async () => {
      const dir = mkdtempSync(path.join(tmp, 'invalid-'));
      writeFileSync(path.join(dir, 'prompt.md'), 'Hello from {{place}}.');
      writeFileSync(
        path.join(dir, 'bundle.yaml'),
        ['name: Not A Name', 'prompt: prompt.md', 'model: { id: gpt-4o-mini, temperature: 5 }', 'tools: []', 'limits: { maxSteps: 0 }'].join('\n'),
      );
      const expected = await stack.api('POST', '/v1/bundles', readBundleDir(dir));
      const problems: string[] = expected.body.error.problems;
      expect(problems.length).toBeGreaterThanOrEqual(3);

      const res = await bosun(['bundle', 'publish', dir]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe(`bosun: The request is invalid:\n${problems.map((p) => `  - ${p}\n`).join('')}`);
      expect(res.stderr).toMatch(/^ {2}- name: /m);
      expect(res.stderr).toMatch(/^ {2}- model\.temperature: /m);
      expect(res.stderr).toMatch(/^ {2}- limits\.maxSteps: /m);
    });

    it('reports a directory without bundle.yaml', async () => {
      const res = await bosun(['bundle', 'publish', path.join(tmp, 'nowhere')]);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/^bosun: cannot read the bundle in .*nowhere\/bundle\.yaml:\n {2}- ENOENT/);
    });

    it('deploys a bundle at once and rolls it back', async () => {
      const deployed = await bosun(['deploy', 'support', newBundleId]);
      expect(deployed.code).toBe(0);
      expect(deployed.stdout).toContain(`deployed ${newBundleId} to support\n`);
      expect(deployed.stdout).toMatch(new RegExp(`^stable\\s+${newBundleId}$`, 'm'));
      expect(await bosunJson(['rollout', 'status', 'support'])).toMatchObject({ stableBundleId: newBundleId, canaryBundleId: null });
      const onNew = await stack.api('POST', '/v1/runs', { agent: 'support', input: 'Where is order 9999?' });
      expect(onNew.body.bundleId).toBe(newBundleId);

      const rolledBack = await bosun(['rollback', 'support']);
      expect(rolledBack.code).toBe(0);
      expect(rolledBack.stdout).toContain(`rolled back support: new runs use ${seededBundleId()}`);
      const status = await bosun(['rollout', 'status', 'support']);
      expect(status.stdout).toMatch(new RegExp(`^stable\\s+${seededBundleId()}$`, 'm'));
      expect(status.stdout).toMatch(/^canary\s+\(none\)$/m);
      expect((await stack.api('GET', '/v1/agents/support')).body.stableBundleId).toBe(seededBundleId());
    });

    it('runs a canary rollout: deploy --canary, rollout status, pause, resume and abort', async () => {
      const started = await bosun(['deploy', 'support', newBundleId, '--canary', '--stages', '20,100', '--hold', '600', '--min-runs', '5']);
      expect(started).toMatchObject({ code: 0, stderr: '' });
      const rolloutId = /^started canary rollout ([0-9a-f-]{36}): /.exec(started.stdout)?.[1];
      expect(started.stdout).toContain(`: ${newBundleId} against stable ${seededBundleId()}\n`);
      expect(started.stdout).toMatch(/^stages: 20% for 600s and 5 runs → 100% for 600s and 5 runs$/m);
      const stored = await stack.api('GET', `/v1/agents/support/rollouts/${rolloutId}`);
      expect(stored.body.stages).toEqual([{ weight: 20, holdSeconds: 600, minRuns: 5 }, { weight: 100, holdSeconds: 600, minRuns: 5 }]);

      await deploymentWhere((d) => d.canaryWeight === 20);
      const running = await bosun(['rollout', 'status', 'support']);
      expect(running.stdout).toMatch(new RegExp(`^canary\\s+${newBundleId} \\(20% of new runs\\)$`, 'm'));
      expect(running.stdout).toMatch(new RegExp(`^rollout\\s+${rolloutId}: running, stage 1 of 2$`, 'm'));

      const blocked = await bosun(['deploy', 'support', seededBundleId()]);
      expect(blocked).toMatchObject({ code: 1, stderr: `bosun: Rollout ${rolloutId} is in progress; abort it or roll back first.\n` });

      const paused = await bosun(['rollout', 'pause', 'support', '--reason', 'checking a ticket']);
      expect(paused).toMatchObject({ code: 0, stdout: `asked rollout ${rolloutId} of support to pause; see it with: bosun rollout status support\n` });
      await deploymentWhere((d) => d.rollout?.status === 'paused');
      const pausedStatus = await bosun(['rollout', 'status', 'support']);
      expect(pausedStatus.stdout).toMatch(new RegExp(`^rollout\\s+${rolloutId}: paused, stage 1 of 2$`, 'm'));
      expect(pausedStatus.stdout).toMatch(/^last step\s+paused at .+: checking a ticket$/m);

      expect((await bosun(['rollout', 'resume', 'support'])).code).toBe(0);
      await deploymentWhere((d) => d.rollout?.status === 'running');
      expect((await bosun(['rollout', 'abort', 'support', '--reason', 'enough'])).code).toBe(0);
      await deploymentWhere((d) => d.rolloutId === null);
      expect(await bosunJson(['rollout', 'status', 'support'])).toMatchObject({ stableBundleId: seededBundleId(), canaryBundleId: null, rollout: null });
      expect((await stack.api('GET', `/v1/agents/support/rollouts/${rolloutId}`)).body.status).toBe('aborted');

      const noRollout = await bosun(['rollout', 'abort', 'support']);
      expect(noRollout).toMatchObject({ code: 1, stderr: 'bosun: Active rollout not found.\n' });
    });

    it("starts a canary on the API's default stages, and rollback ends it", async () => {
      const rollout = await bosunJson(['deploy', 'support', newBundleId, '--canary']);
      expect(rollout).toMatchObject({ agent: 'support', canaryBundleId: newBundleId, stableBundleId: seededBundleId(), stages: defaultRolloutStages });

      const rolledBack = await bosun(['rollback', 'support']);
      expect(rolledBack.stdout).toContain(`rolled back support: new runs use ${seededBundleId()}\n`);
      expect(rolledBack.stdout).toMatch(/^canary\s+\(none\)$/m);
      expect((await stack.api('GET', `/v1/agents/support/rollouts/${rollout.rolloutId}`)).body.status).toBe('rolled_back');
    });

    it("refuses to deploy another agent's bundle, and canary flags without --canary", async () => {
      const wrong = await bosun(['deploy', 'looper', seededBundleId()]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toBe(`bosun: The request is invalid:\n  - bundleId: no bundle ${seededBundleId()} for agent "looper"\n`);

      const flags = await bosun(['deploy', 'support', seededBundleId(), '--stages', '10,100']);
      expect(flags.code).toBe(2);
      expect(flags.stderr).toMatch(/^bosun: --stages only applies with --canary\n\nUsage: bosun deploy \[options\]/);

      const weights = await bosun(['deploy', 'support', seededBundleId(), '--canary', '--stages', '10,all']);
      expect(weights.code).toBe(2);
      expect(weights.stderr).toMatch(/^bosun: --stages must be percentages such as 5,25,50,100, not "10,all"\n/);

      const falling = await bosun(['deploy', 'support', seededBundleId(), '--canary', '--stages', '50,20']);
      expect(falling.code).toBe(1);
      expect(falling.stderr).toMatch(/^bosun: The request is invalid:\n {2}- stages: weights must rise/);
    });
  });

  describe('runs', () => {
    it('starts a run, watches it park on approval, approves it and watches it complete', async () => {
      const started = await bosun(['runs', 'start', 'support', 'Refund order 1001']);
      expect(started.code).toBe(0);
      const runId = /^started run ([0-9a-f-]{36}) on support@[0-9a-f]{12} \(queued\)$/m.exec(started.stdout)?.[1];
      expect(runId).toBeDefined();

      const watch = spawnCli(['runs', 'watch', runId!]);
      const approvalLine = await waitForLine(watch.result, /approval ([0-9a-f-]{36}) pending: issue_refund \{.*"order_id":"1001"/);
      const approvalId = approvalLine[1]!;
      expect(watch.result.stdout).toMatch(/status awaiting_approval/);
      expect(watch.result.stdout).toMatch(/step 1\.\d+ {2}tool lookup_order {2}ok/);

      const approved = await bosun(['runs', 'approve', runId!, '--comment', 'looks right']);
      expect(approved).toMatchObject({ code: 0, stderr: '' });
      expect(approved.stdout).toMatch(new RegExp(`^approved ${approvalId} on run ${runId} \\(as key_[0-9a-f]+\\)\\n$`));

      const watched = await watch.exited;
      expect(watched.code).toBe(0);
      const statuses = [...watched.stdout.matchAll(/ {2}status (\w+)$/gm)].map((m) => m[1]);
      // A poll may or may not catch the brief `running` after the approval; it only prints changes.
      expect(statuses.at(-1)).toBe('completed');
      expect(statuses.indexOf('awaiting_approval')).toBeGreaterThanOrEqual(0);
      expect(statuses.indexOf('awaiting_approval')).toBeLessThan(statuses.length - 1);
      expect(statuses.every((s, i) => i === 0 || s !== statuses[i - 1])).toBe(true);
      expect(watched.stdout).toMatch(/tool issue_refund {2}ok/);
      expect(watched.stdout.trimEnd().split('\n').at(-1)).toBe('output: Done: I refunded 12900 cents for order 1001.');

      const shown = await bosun(['runs', 'show', runId!]);
      expect(shown.stdout).toMatch(/^status\s+completed$/m);
      expect(shown.stdout).toMatch(new RegExp(`^${approvalId}\\s+issue_refund\\s+approved\\s+.*looks right$`, 'm'));
      const json = await bosunJson(['runs', 'show', runId!]);
      expect(json).toMatchObject({ runId, status: 'completed', approvals: [{ approvalId, status: 'approved', comment: 'looks right' }] });

      const again = await bosun(['runs', 'reject', runId!]);
      expect(again).toMatchObject({ code: 1, stderr: `bosun: run ${runId} has no pending approval (it is completed)\n` });
      const decided = await bosun(['runs', 'reject', runId!, approvalId]);
      expect(decided).toMatchObject({ code: 1, stderr: 'bosun: This approval is already approved.\n' });
    });

    it('watches through a dropped connection, resuming the event stream where it broke off', async () => {
      const runId = await stack.startRun('Refund order 1003');
      // The watcher reaches the API through a proxy the test cuts, as a network or a restarting API drops it.
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(stack.baseUrl).port) });
      try {
        const watch = spawnCli(['runs', 'watch', runId], { env: { ...cliEnv(), BOSUN_URL: `http://127.0.0.1:${proxy.port}` } });
        const approvalId = (await waitForLine(watch.result, /approval ([0-9a-f-]{36}) pending: issue_refund/))[1]!;

        await proxy.cut();
        // The rest of the run happens while the watcher cannot reach the API.
        expect((await stack.decide(runId, approvalId, 'approve')).status).toBe(202);
        await stack.waitForStatus(runId, 'completed');
        await proxy.restore();

        const watched = await watch.exited;
        expect(watched).toMatchObject({ code: 0, stderr: '' });
        const lines = watched.stdout.trimEnd().split('\n');
        const events = lines.slice(0, -1).map((line) => line.replace(/^\d\d:\d\d:\d\d {2}/, ''));
        expect(events.filter((l) => l.startsWith('step ')).map((l) => l.replace(/ \(\d+ ms\)$/, ''))).toEqual([
          'step 1.0  model gpt-4o-mini  ok', 'step 1.1  tool lookup_order  ok',
          'step 2.0  model gpt-4o-mini  ok', 'step 2.1  tool issue_refund  ok', 'step 3.0  model gpt-4o-mini  ok',
        ]);
        expect(events.filter((l) => l.startsWith('approval '))).toHaveLength(1);
        expect(events.filter((l) => l.startsWith('status '))).toEqual(['status running', 'status awaiting_approval', 'status running', 'status completed']);
        expect(lines.at(-1)).toMatch(/^output: Done: I refunded \d+ cents for order 1003\.$/);
      } finally {
        await proxy.close();
      }

      // With --json, the stream's events themselves, one JSON line each, up to run.finished.
      const json = await bosun(['runs', 'watch', runId, '--json']);
      const streamed = json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(streamed.map((e) => e.id)).toEqual(Array.from({ length: streamed.length }, (_, i) => String(i + 1)));
      expect(streamed.at(-1)).toMatchObject({ event: 'run.finished', data: { runId, status: 'completed' } });
    });

    it('rejects through the CLI, naming the approval', async () => {
      const { runId } = await bosunJson(['runs', 'start', 'support', 'Refund order 1002']);
      const parked = await stack.waitForStatus(runId, 'awaiting_approval');
      const { approvalId } = parked.pendingApprovals[0];
      const rejected = await bosun(['runs', 'reject', runId, approvalId, '--comment', 'not eligible']);
      expect(rejected.stdout).toMatch(new RegExp(`^rejected ${approvalId} on run ${runId}`));
      const done = await stack.waitForStatus(runId, 'completed');
      expect(done.approvals[0]).toMatchObject({ status: 'rejected', comment: 'not eligible' });
    });

    it('starts a run once per idempotency key', async () => {
      const args = ['runs', 'start', 'support', 'Where is order 9998?', '--idempotency-key', 'cli-test-key'];
      const first = await bosunJson(args);
      const second = await bosunJson(args);
      expect(first).toMatchObject({ agent: 'support', status: 'queued' });
      expect(second.runId).toBe(first.runId);
    });

    it('lists runs with filters, one page or all of them', async () => {
      const runIds = [];
      for (const order of ['9001', '9002', '9003']) runIds.push((await bosunJson(['runs', 'start', 'support', `Where is order ${order}?`])).runId);
      for (const runId of runIds) await stack.waitForStatus(runId, 'completed');

      const table = await bosun(['runs', 'list', '--agent', 'support', '--status', 'completed']);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^RUN\s+AGENT\s+BUNDLE\s+STATUS\s+COST\s+CREATED\s+INPUT$/);
      for (const runId of runIds) expect(table.stdout).toMatch(new RegExp(`^${runId}\\s+support\\s+support@\\w+\\s+completed\\s+\\$`, 'm'));

      const total = (await stack.api('GET', '/v1/runs?limit=200')).body.runs.length;
      expect(total).toBeGreaterThan(3);
      const page = await bosunJson(['runs', 'list', '--limit', '2']);
      expect(page.runs).toHaveLength(2);
      expect(page.nextCursor).toEqual(expect.any(String));
      const all = await bosunJson(['runs', 'list', '--limit', '2', '--all']);
      expect(all.runs).toHaveLength(total);
      expect(new Set(all.runs.map((r: any) => r.runId)).size).toBe(total);
      expect(all.nextCursor).toBeNull();

      const firstPage = await bosun(['runs', 'list', '--limit', '2']);
      expect(firstPage.stdout.trimEnd().split('\n')).toHaveLength(3);
      expect(firstPage.stderr).toMatch(/^more runs match: pass --all/);
    });

    it('exits 1 with the API message for an unknown run or a bad filter', async () => {
      const unknown = await bosun(['runs', 'show', unknownRunId]);
      expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'bosun: Run not found.\n' });

      const badStatus = await bosun(['runs', 'list', '--status', 'sleeping']);
      expect(badStatus.code).toBe(1);
      expect(badStatus.stderr).toMatch(/^bosun: The request is invalid:\n {2}- status: /);
    });
  });

  describe('keys', () => {
    it('creates a key shown once, lists keys without secrets, and revokes a key at once', async () => {
      const created = await bosun(['keys', 'create', '--roles', 'runner,approver', '--name', 'ops laptop']);
      expect(created.code).toBe(0);
      const [, keyId, key] = /^created (key_[0-9a-f]+) \(runner, approver\)\n(bsn_\S+)\n/.exec(created.stdout)!;
      expect((await bosun(['runs', 'list', '--key', key!])).code).toBe(0);

      const listed = await bosun(['keys', 'list']);
      expect(listed.stdout).toMatch(new RegExp(`^${keyId}\\s+ops laptop\\s+runner,approver\\s`, 'm'));
      expect(listed.stdout).not.toContain(key!);

      expect(await bosun(['keys', 'revoke', keyId!])).toMatchObject({ code: 0, stdout: `revoked ${keyId}; it stops working on its next request\n` });
      expect((await bosun(['runs', 'list', '--key', key!])).code).toBe(1);
      expect((await bosun(['keys', 'revoke', keyId!])).stderr).toBe('bosun: Key not found.\n');
      expect((await bosun(['keys', 'create', '--roles', 'root'])).code).toBe(2);
    });
  });

  describe('the API key', () => {
    it('is read from .data/dev-api-key when neither --key nor BOSUN_API_KEY is given', async () => {
      const cwd = mkdtempSync(path.join(tmp, 'checkout-'));
      mkdirSync(path.join(cwd, '.data'));
      writeFileSync(path.join(cwd, '.data', 'dev-api-key'), `${stack.apiKey}\n`);
      const { BOSUN_API_KEY: _, ...env } = cliEnv();
      const res = await bosun(['bundle', 'list', 'support'], { env, cwd });
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(seededBundleId());
    });

    it('is refused with a clear message when wrong, and never printed even when the API echoes it', async () => {
      const wrong = await bosun(['runs', 'list', '--key', 'not-the-key']);
      expect(wrong).toEqual({ code: 1, stdout: '', stderr: 'bosun: Send a valid API key as "Authorization: Bearer <key>".\n' });

      const echoed = await bosun(['runs', 'start', 'support', `order 9997, my key is ${stack.apiKey}`, '--json']);
      expect(echoed.code).toBe(0);
      expect(echoed.stdout).toContain('my key is [api key]');
    });
  });
});

/** Resolves with the match once the child's stdout has a line matching `pattern`. */
async function waitForLine(result: CliResult, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(result.stdout);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in time; output so far:\n${result.stdout}${result.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
