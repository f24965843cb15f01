/**
 * The secret-leak scan. A bundle's http_fetch sends a partner API token (kept in a Vault-compatible
 * store) to a local partner server, which checks it, echoes it back once, and redirects once to a
 * host that must not get it. Then the token, and the Vault token, are searched for everywhere a
 * run leaves a trace: every Temporal history of the tenant, every column of every PostgreSQL table,
 * everything the model was sent, every API answer, and the output of the worker and of this process
 * (which serves the API). Each place is also checked for something it must contain, so an empty or
 * undecoded scan cannot pass.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { lookupOrder } from '../../examples/support-tools/orders';
import { withHandler } from '../support/tools';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createToolActivities, type ExecuteToolInput } from '../../src/activities/toolCalls';
import { createHttpFetchTool } from '../../src/activities/tools/httpFetch';
import { createPool } from '../../src/db/pool';
import { envSecretStore } from '../../src/secrets/secretStore';
import type { Bundle } from '../../src/shared/bundle';
import { fetchScript, makeAgentsDir } from '../support/agentsDir';
import { startTestStack, type TestStack } from '../support/testStack';

type History = temporal.api.history.v1.IHistory;

const secret = `pat_${randomBytes(18).toString('hex')}`;
const vaultToken = `hvs.${randomBytes(16).toString('hex')}`;

/** The value itself, and how it reads inside base64 at each of the three alignments. */
function formsOf(value: string): string[] {
  const forms = [value];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), Buffer.from(value)]).toString('base64');
    // Skip the characters that depend on the bytes around the value.
    forms.push(b64.slice(Math.ceil((shift * 4) / 3) + 1, -4));
  }
  return forms;
}
const forbidden = [...formsOf(secret), ...formsOf(vaultToken)];
const leaksIn = (text: string) => forbidden.filter((form) => text.includes(form));

interface Hit {
  server: string;
  path: string;
  authorization: string | undefined;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Every text a history holds: its protobuf bytes, its JSON export, and every payload decoded. */
function textsOf(history: History): string[] {
  const decoded: string[] = [];
  const walk = (value: unknown) => {
    if (value instanceof Uint8Array) return void decoded.push(Buffer.from(value).toString('utf8'));
    if (!value || typeof value !== 'object') return;
    for (const child of Object.values(value)) walk(child);
  };
  walk(history);
  return [Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1'), historyToJSON(history), ...decoded];
}

describe('secrets never leak', () => {
  let stack: TestStack;
  let agents: ReturnType<typeof makeAgentsDir>;
  const servers: http.Server[] = [];
  const hits: Hit[] = [];
  let vaultReads = 0;
  let partner = '';
  let other = '';
  /** What this process (the API's) printed while the runs ran. */
  const printed: string[] = [];
  const apiAnswers: string[] = [];
  const runIds: string[] = [];

  beforeAll(async () => {
    const vault = http.createServer((req, res) => {
      vaultReads += 1;
      const ok = req.headers['x-vault-token'] === vaultToken && req.url === '/v1/secret/data/bosun/PARTNER_API_TOKEN';
      res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { data: { data: { value: secret }, metadata: { version: 1 } } } : { errors: ['permission denied'] }));
    });
    const otherServer = http.createServer((req, res) => {
      hits.push({ server: 'other', path: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"landed":true}');
    });
    const partnerServer = http.createServer((req, res) => {
      hits.push({ server: 'partner', path: req.url ?? '', authorization: req.headers.authorization });
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers.authorization !== `Bearer ${secret}`) return json(401, { error: 'bad token' });
      if (req.url === '/orders/42') return json(200, { order: '42', status: 'shipped' });
      // A careless partner: it echoes the request headers, the token included.
      if (req.url === '/echo') return json(200, { received: req.headers });
      if (req.url === '/hop') return void res.writeHead(302, { location: `${other}/landing` }).end();
      return json(404, { error: 'no such thing' });
    });
    servers.push(vault, otherServer, partnerServer);
    const vaultAddr = `http://127.0.0.1:${await listen(vault)}`;
    const otherPort = await listen(otherServer);
    const partnerPort = await listen(partnerServer);
    other = `http://127.0.0.1:${otherPort}`;
    partner = `http://127.0.0.1:${partnerPort}`;

    agents = makeAgentsDir({
      partner: {
        prompt: 'You look orders up in the partner API.',
        bundle: {
          model: { id: 'gpt-4o-mini' },
          tools: [{ name: 'http_fetch', version: 1 }],
          limits: { maxSteps: 4 },
          secrets: ['PARTNER_API_TOKEN'],
          network: {
            allowHosts: [`127.0.0.1:${partnerPort}`, `127.0.0.1:${otherPort}`],
            allowPrivate: true,
            auth: { secret: 'PARTNER_API_TOKEN', hosts: [`127.0.0.1:${partnerPort}`] },
          },
        },
      },
    });

    // Everything this process prints from here on: the API runs in it.
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
        printed.push(String(chunk));
        return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write);
    }
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      const original = console[method].bind(console);
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        printed.push(args.map(String).join(' '));
        original(...args);
      });
    }

    stack = await startTestStack({
      agentsDir: agents.dir,
      script: fetchScript,
      // The most talkative worker there is: every log line is scanned.
      workerEnv: { BOSUN_SECRETS_BACKEND: 'vault', BOSUN_VAULT_ADDR: vaultAddr, BOSUN_VAULT_TOKEN: vaultToken, BOSUN_LOG_LEVEL: 'DEBUG' },
      // The API's log too, its access log included.
      env: { BOSUN_LOG_LEVEL: 'DEBUG' },
    });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await stack?.close();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    agents?.remove();
  });

  async function api(method: string, route: string, body?: unknown) {
    const res = await stack.api(method, route, body);
    apiAnswers.push(JSON.stringify(res.body ?? null));
    return res;
  }

  async function fetchRun(url: string): Promise<any> {
    const start = await api('POST', '/v1/runs', { agent: 'partner', input: `Please fetch ${url}` });
    expect(start.status).toBe(202);
    runIds.push(start.body.runId);
    const done = await stack.waitForStatus(start.body.runId, 'completed');
    apiAnswers.push(JSON.stringify(done));
    return done;
  }

  it('gives the token to the partner, inside the activity, from Vault', async () => {
    const done = await fetchRun(`${partner}/orders/42`);
    expect(done.output).toBe('Fetched with status 200.');
    expect(hits).toEqual([{ server: 'partner', path: '/orders/42', authorization: `Bearer ${secret}` }]);
    expect(vaultReads).toBe(1);
    const step = done.steps.find((s: any) => s.kind === 'tool');
    expect(step).toMatchObject({ name: 'http_fetch', status: 'ok', detail: { arguments: { url: `${partner}/orders/42` }, result: { status: 200, body: '[redacted]' } } });
  });

  it('masks the token when a server echoes it back, before the model, the rows or the audit see it', async () => {
    const done = await fetchRun(`${partner}/echo`);
    expect(done.output).toBe('Fetched with status 200.');
    const told = stack.model.requests.at(-1)!.messages.at(-1)!;
    expect(told.role).toBe('tool');
    expect(told.content).toContain('Bearer [secret:PARTNER_API_TOKEN]');
    // Cached: no second trip to Vault within the TTL.
    expect(vaultReads).toBe(1);
  });

  it('does not send the token where a partner redirects', async () => {
    const done = await fetchRun(`${partner}/hop`);
    expect(done.output).toBe('Fetched with status 200.');
    expect(hits.slice(-2)).toEqual([
      { server: 'partner', path: '/hop', authorization: `Bearer ${secret}` },
      { server: 'other', path: '/landing', authorization: undefined },
    ]);
  });

  it('appears in no Temporal history of the tenant', async () => {
    const query = `TenantId = "${stack.tenantId}"`;
    let ids: string[] = [];
    const deadline = Date.now() + 15_000;
    while (!runIds.every((id) => ids.includes(id))) {
      if (Date.now() > deadline) throw new Error(`visibility never listed every run: ${ids.join(', ')}`);
      ids = [];
      for await (const w of stack.temporal.workflow.list({ query })) ids.push(w.workflowId);
      await new Promise((r) => setTimeout(r, 200));
    }
    const texts: string[] = [];
    for (const id of ids) texts.push(...textsOf(await stack.temporal.workflow.getHandle(id).fetchHistory()));
    const all = texts.join('\n');
    // Decoded for real: the tool call's URL is in there (in the model's reply, a local activity's
    // result since local steps, or the tool activity's input in runs from before).
    expect(all).toContain(`${partner}/orders/42`);
    expect(leaksIn(all)).toEqual([]);
  });

  it('appears in no column of any PostgreSQL table', async () => {
    const { rows: tables } = await stack.db.query(
      `SELECT table_schema, table_name FROM information_schema.tables
       WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['audit_log', 'run_messages', 'run_steps', 'run_events', 'runs', 'bundles']));
    const found: string[] = [];
    let scanned = '';
    for (const { table_schema, table_name } of tables) {
      const { rows } = await stack.db.query(`SELECT t::text AS row FROM "${table_schema}"."${table_name}" t`);
      for (const { row } of rows) {
        if (leaksIn(row).length) found.push(`${table_name}: ${row.slice(0, 200)}`);
        if (row.includes(stack.tenantId) || runIds.some((id) => row.includes(id))) scanned += row;
      }
    }
    expect(found).toEqual([]);
    // The rows were really read: the partner's answer is in the transcript, the masked echo too, and the audit log has the calls.
    expect(scanned).toContain('shipped');
    expect(scanned).toContain('[secret:PARTNER_API_TOKEN]');
    const audit = await stack.db.query(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'tool.called' AND run_id = ANY($1)`, [runIds]);
    expect(audit.rows[0].n).toBe(3);
  });

  it('is never in what the model was sent', () => {
    const sent = JSON.stringify(stack.model.requests);
    expect(sent).toContain('shipped');
    expect(leaksIn(sent)).toEqual([]);
  });

  it('is in no API answer', async () => {
    await api('GET', '/v1/runs?agent=partner');
    for (const runId of runIds) {
      await api('GET', `/v1/runs/${runId}`);
      await api('GET', `/v1/audit?runId=${runId}`);
      const events = await fetch(`${stack.baseUrl}/v1/runs/${runId}/events`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      apiAnswers.push(await events.text());
    }
    const bundleId = stack.bundles.find((b) => b.name === 'partner')!.id;
    const bundle = await api('GET', `/v1/bundles/${bundleId}`);
    expect(JSON.stringify(bundle.body)).toContain('PARTNER_API_TOKEN');
    const all = apiAnswers.join('\n');
    expect(all).toContain('Fetched with status 200.');
    expect(all).toContain('tool.called');
    expect(all).toContain(`"action":"tool.called"`);
    expect(leaksIn(all)).toEqual([]);
  });

  it('is in no line the worker or the API process printed', () => {
    console.log('bosun-capture-check');
    expect(printed.join('\n')).toContain('bosun-capture-check');
    const worker = stack.workerOutput.join('\n');
    // The worker's debug log was captured, tool calls of these runs included.
    expect(worker).toContain('worker polling task queue');
    // JSON log lines: the SDK's activity lines and Bosun's own, with the run's ID as a field.
    expect(worker).toContain('"activityType":"executeTool"');
    for (const runId of runIds) expect(worker).toContain(`"runId":"${runId}"`);
    // The API's access log (debug level here) was captured too, with the runs it served.
    for (const runId of runIds) expect(printed.join('\n')).toContain(`"runId":"${runId}"`);
    expect(leaksIn(stack.workerOutput.join('\n'))).toEqual([]);
    expect(leaksIn(printed.join('\n'))).toEqual([]);
  });
});

describe('secrets inside the tool activity', () => {
  const bundle = {
    id: 'partner@test', secrets: ['PARTNER_API_TOKEN', 'UNUSED_SECRET'], tools: [{ name: 'http_fetch', version: 1 }, { name: 'lookup_order', version: 1 }],
    network: { allowHosts: ['partner.example'], auth: { secret: 'PARTNER_API_TOKEN', hosts: ['partner.example'] } },
  } as unknown as Bundle;
  const store = envSecretStore({ BOSUN_SECRET_PARTNER_API_TOKEN: secret, BOSUN_SECRET_UNUSED_SECRET: vaultToken });
  const call = (tool: 'http_fetch' | 'lookup_order', args: unknown): ExecuteToolInput => ({
    runId: randomUUID(), tenantId: 't', bundleId: bundle.id, step: 1, ordinal: 1, toolCallId: 'call_1', tool, args,
  });

  it('hands a tool exactly the secrets it declares, and scrubs them from a failure (which Temporal keeps unencrypted)', async () => {
    const db = createPool(inject('databaseUrl'), 2);
    try {
      const received: Record<string, Readonly<Record<string, string>>> = {};
      const { executeTool } = createToolActivities({
        db,
        bundles: { get: async () => bundle },
        secrets: store,
        tools: [
          withHandler(createHttpFetchTool(), async (_args, ctx) => {
            received.http_fetch = ctx.secrets;
            throw new Error(`partner said no to ${ctx.secrets.PARTNER_API_TOKEN}`);
          }),
          withHandler(lookupOrder, async (_args, ctx) => {
            received.lookup_order = ctx.secrets;
            throw new Error('stop here');
          }),
        ],
      });
      const failure = await executeTool(call('http_fetch', { url: 'http://partner.example/' })).catch((e: Error) => e);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toBe('partner said no to [secret:PARTNER_API_TOKEN]');
      expect(leaksIn(`${(failure as Error).message}\n${(failure as Error).stack}`)).toEqual([]);
      await expect(executeTool(call('lookup_order', { order_id: '1' }))).rejects.toThrow('stop here');
      expect(received).toEqual({ http_fetch: { PARTNER_API_TOKEN: secret }, lookup_order: {} });
    } finally {
      await db.end();
    }
  });
});
