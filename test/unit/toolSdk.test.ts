/**
 * The tool SDK (src/sdk/tools.ts): what `defineTool` registers and pins, the JSON Schema check the
 * workflow runs on a model's arguments (src/shared/toolArguments.ts), and how a defined tool is
 * called (src/activities/tools/invoke.ts).
 */
import { describe, expect, it } from 'vitest';
import { invokeTool } from '../../src/activities/tools/invoke';
import { defineTool, ToolError, z, type ToolContext, type ToolOptions } from '../../src/sdk/tools';
import { checkToolArguments, isJsonText, parseToolArguments } from '../../src/shared/toolArguments';

const noop = async () => ({});
const base = { name: 'find_ticket', version: 1, description: 'Find a ticket.', kind: 'read' as const, args: z.object({ ticket: z.string() }), handler: noop };
/** defineTool's error for `options`, or '' when it accepts them. */
const refusal = (options: Partial<ToolOptions<z.ZodType, unknown>>): string => {
  try {
    defineTool({ ...base, ...options } as ToolOptions<z.ZodType, unknown>);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('defineTool', () => {
  it('pins the JSON Schema of args (as the model may send them) and of the result', () => {
    const tool = defineTool({
      ...base,
      args: z.object({ ticket: z.string().regex(/^T\d+$/), limit: z.number().int().min(1).default(10) }).strict(),
      result: z.object({ title: z.string() }),
    });
    expect(tool.manifest.parameters).toEqual({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        ticket: { type: 'string', pattern: '^T\\d+$' },
        // A default makes the argument optional to the model.
        limit: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, default: 10 },
      },
      required: ['ticket'],
      additionalProperties: false,
    });
    expect(tool.manifest.result).toMatchObject({ type: 'object', properties: { title: { type: 'string' } }, required: ['title'] });
    expect(tool.manifest).toMatchObject({ name: 'find_ticket', version: 1, description: 'Find a ticket.', kind: 'read', source: { type: 'worker' } });
  });

  it('hashes what the model and the validator see, and nothing else', () => {
    const hash = (options: Partial<ToolOptions<z.ZodType, unknown>>) => defineTool({ ...base, ...options } as ToolOptions<z.ZodType, unknown>).manifest.schemaHash;
    const plain = hash({});
    expect(plain).toMatch(/^[0-9a-f]{16}$/);
    expect(hash({ handler: async () => ({ other: true }) })).toBe(plain);
    expect(hash({ timeout: '5s', secrets: ['API_TOKEN'] })).toBe(plain);
    expect(hash({ args: z.object({ ticket: z.string().max(20) }) })).not.toBe(plain);
    expect(hash({ description: 'Find a support ticket.' })).not.toBe(plain);
    expect(hash({ kind: 'write' })).not.toBe(plain);
    expect(hash({ result: z.object({ title: z.string() }) })).not.toBe(plain);
  });

  it('wants approval by default for write and destructive tools only, unless the tool says otherwise', () => {
    const approval = (kind: 'read' | 'write' | 'destructive', approval?: boolean) =>
      defineTool({ ...base, kind, ...(approval !== undefined && { approval }) }).manifest.approvalByDefault;
    expect([approval('read'), approval('write'), approval('destructive')]).toEqual([false, true, true]);
    expect(approval('write', false)).toBe(false);
  });

  it('runs reads as they are in a sandbox, and a write only with its sandbox implementation or when it says live', () => {
    const sandbox = defineTool({ ...base, kind: 'write', sandbox: async () => ({ pretend: true }) });
    expect(sandbox.manifest.sandbox).toBe('implemented');
    expect(sandbox.sandboxHandler).toBeTypeOf('function');
    expect(defineTool({ ...base, kind: 'write', sandbox: 'live' }).manifest.sandbox).toBe('live');
    expect(defineTool({ ...base, kind: 'write' }).manifest.sandbox).toBe('none');
    expect(defineTool({ ...base, kind: 'destructive' }).manifest.sandbox).toBe('none');
    expect(defineTool(base).manifest.sandbox).toBe('live');
  });

  it('copies secrets, scope, redaction, retry, and the timeout in milliseconds', () => {
    const tool = defineTool({
      ...base,
      secrets: ['CRM_TOKEN'],
      scope: ['tenant:tickets', 'network:allow-list'],
      redact: { result: { paths: ['email'] } },
      timeout: '2m',
      retry: { maximumAttempts: 3 },
    });
    expect(tool.manifest).toMatchObject({
      secrets: ['CRM_TOKEN'], scope: ['tenant:tickets', 'network:allow-list'], redact: { result: { paths: ['email'] } },
      timeoutMs: 120_000, retry: { maximumAttempts: 3 },
    });
    expect(defineTool({ ...base, timeout: 1500 }).manifest.timeoutMs).toBe(1500);
    expect(defineTool(base).manifest).not.toHaveProperty('timeoutMs');
  });

  it('refuses a malformed definition, naming every problem at once', () => {
    const message = refusal({
      name: 'find ticket!',
      version: 0,
      description: ' ',
      kind: 'maybe' as never,
      secrets: ['crm_token', 'OK_TOKEN'],
      scope: ['tenant:Tickets', 'network:anywhere' as never, 'tenant:tickets'],
      timeout: 'soon',
      handler: undefined as never,
    });
    expect(message).toMatch(/^defineTool\("find ticket!"\): /);
    expect(message.replace(/^defineTool\("find ticket!"\): /, '').split('; ')).toEqual([
      'name: letters, digits, _ and -, 1 to 64 of them',
      'version: a positive integer',
      'description: tell the model what the tool does',
      "kind: 'read', 'write' or 'destructive'",
      'secrets: "crm_token" is not an upper-case secret name',
      'scope: "tenant:Tickets" is neither tenant:<table> nor one of network:allow-list, memory:namespaces',
      'scope: "network:anywhere" is neither tenant:<table> nor one of network:allow-list, memory:namespaces',
      'timeout: milliseconds, or a duration such as 30s',
      'handler: the function that does the work',
    ]);
  });

  it.each([
    ['a name of 65 characters', { name: 'a'.repeat(65) }, /^defineTool\("a{65}"\): name: /],
    ['an empty name', { name: '' }, /: name: /],
    ['a fractional version', { version: 1.5 }, /: version: /],
    ['a zero timeout', { timeout: 0 }, /: timeout: /],
    ['string arguments', { args: z.string() }, /: args: a z\.object/],
    ['array arguments', { args: z.array(z.string()) }, /: args: a z\.object/],
  ])('refuses %s', (_what, options, problem) => {
    expect(refusal(options as Partial<ToolOptions<z.ZodType, unknown>>)).toMatch(problem);
  });

  it('accepts the longest name and every allowed character', () => {
    expect(refusal({ name: `${'a'.repeat(60)}_-Z9` })).toBe('');
  });
});

describe('tool arguments against a pinned JSON Schema', () => {
  const parameters = defineTool({
    ...base,
    args: z.object({
      order_id: z.string().regex(/^\d{1,12}$/),
      items: z.array(z.object({ sku: z.string().min(1), qty: z.number().int().positive() })).optional(),
    }).strict(),
  }).manifest.parameters;

  it('accepts matching arguments as they are, and reads empty text as {}', () => {
    expect(parseToolArguments(parameters, '{"order_id":"1001","items":[{"sku":"kb","qty":2}]}')).toEqual({
      ok: true, args: { order_id: '1001', items: [{ sku: 'kb', qty: 2 }] },
    });
    expect(parseToolArguments({ type: 'object' }, '')).toEqual({ ok: true, args: {} });
    expect(parseToolArguments(parameters, '')).toEqual({ ok: false, problems: ['order_id: required'] });
  });

  it('names every problem by its path, with the limit the schema sets, in words a model can act on', () => {
    const parsed = parseToolArguments(parameters, '{"order_id":"x1","items":[{"sku":"kb","qty":1},{"sku":"","qty":0}],"to":1}');
    expect(parsed).toEqual({
      ok: false,
      problems: [
        'order_id: does not match the pattern ^\\d{1,12}$',
        'items.1.sku: shorter than 1 character',
        'items.1.qty: must be greater than 0',
        'to: not an argument of this tool',
      ],
    });
  });

  it('refuses text that is not JSON, and a value that is not an object', () => {
    expect(parseToolArguments(parameters, '{"order_id":"10')).toEqual({ ok: false, problems: ['arguments are not valid JSON'] });
    expect(parseToolArguments(parameters, '"1001"')).toEqual({ ok: false, problems: ['(root): expected object, got string'] });
    expect(isJsonText('{"a":1}')).toBe(true);
    expect(isJsonText('{"a":')).toBe(false);
  });

  it("checks an approver's parsed edit the same way", () => {
    expect(checkToolArguments(parameters, { order_id: '1002' })).toEqual({ ok: true, args: { order_id: '1002' } });
    expect(checkToolArguments(parameters, { order_id: 1002 })).toEqual({ ok: false, problems: ['order_id: expected string, got number'] });
    expect(checkToolArguments(parameters, null)).toMatchObject({ ok: false });
  });
});

describe('invokeTool', () => {
  const context = (sandbox = false): ToolContext => ({
    tenantId: 't1', runId: 'r1', toolCallId: 'call_1', idempotencyKey: 'r1:call_1', secrets: {},
    get db(): never {
      throw new Error('no database in these tests');
    },
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    sandbox,
    network: undefined,
    memory: undefined,
  });
  const refundArgs = z.object({ order_id: z.string(), amount_cents: z.number().int().positive() });

  it('passes the parsed arguments and the context, and returns the output (null for none)', async () => {
    const tool = defineTool({ ...base, args: z.object({ ticket: z.string(), page: z.number().default(1) }), handler: async (args, ctx) => ({ args, call: ctx.toolCallId }) });
    expect(await invokeTool(tool, { ticket: 'T1' }, context())).toEqual({ ok: true, output: { args: { ticket: 'T1', page: 1 }, call: 'call_1' } });
    const silent = defineTool({ ...base, handler: async () => undefined });
    expect(await invokeTool(silent, { ticket: 'T1' }, context())).toEqual({ ok: true, output: null });
  });

  it('turns a ToolError into an answer for the model, and lets any other error through to be retried', async () => {
    const missing = defineTool({ ...base, handler: async ({ ticket }) => { throw new ToolError(`ticket ${ticket} not found`, { searched: 'open' }); } });
    expect(await invokeTool(missing, { ticket: 'T9' }, context())).toEqual({ ok: false, output: { searched: 'open', error: 'ticket T9 not found' } });
    const broken = defineTool({ ...base, handler: async () => { throw new Error('connection reset'); } });
    await expect(invokeTool(broken, { ticket: 'T9' }, context())).rejects.toThrow('connection reset');
  });

  it('refuses arguments its own zod schema refuses, without calling the handler', async () => {
    let calls = 0;
    const tool = defineTool({
      ...base,
      args: z.object({ from: z.number(), to: z.number() }).refine((a) => a.from <= a.to, { message: 'from must not be after to' }),
      handler: async () => ++calls,
    });
    expect(await invokeTool(tool, { from: 5, to: 1 }, context())).toEqual({ ok: false, output: { error: 'invalid arguments: (root): from must not be after to' } });
    expect(calls).toBe(0);
  });

  it('in a sandbox run, refuses a write without a sandbox implementation and never calls its handler', async () => {
    let live = 0;
    const refund = defineTool({ ...base, name: 'issue_refund', kind: 'write', args: refundArgs, handler: async () => ++live });
    const outcome = await invokeTool(refund, { order_id: '1', amount_cents: 5 }, context(true));
    expect(outcome).toEqual({ ok: false, output: { error: expect.stringMatching(/^issue_refund was not run: this is a sandbox run.*write tool with no sandbox implementation/) } });
    expect(live).toBe(0);
    // Outside a sandbox the same tool runs.
    expect(await invokeTool(refund, { order_id: '1', amount_cents: 5 }, context())).toEqual({ ok: true, output: 1 });
  });

  it('in a sandbox run, calls the sandbox implementation instead of the handler, or the handler of a live write', async () => {
    let live = 0;
    const refund = defineTool({
      ...base, name: 'issue_refund', kind: 'write', args: refundArgs,
      handler: async (): Promise<Record<string, unknown>> => ({ refunds: ++live }),
      sandbox: async ({ amount_cents }, ctx) => ({ pretend: amount_cents, sandbox: ctx.sandbox }),
    });
    expect(await invokeTool(refund, { order_id: '1', amount_cents: 5 }, context(true))).toEqual({ ok: true, output: { pretend: 5, sandbox: true } });
    expect(live).toBe(0);
    expect(await invokeTool(refund, { order_id: '1', amount_cents: 5 }, context())).toEqual({ ok: true, output: { refunds: 1 } });

    const note = defineTool({ ...base, name: 'add_note', kind: 'write', sandbox: 'live', handler: async () => ++live });
    expect(await invokeTool(note, { ticket: 'T1' }, context(true))).toEqual({ ok: true, output: 2 });
  });

  it('answers the model, not the caller, when the result does not match the result schema', async () => {
    const tool = defineTool({
      ...base,
      result: z.object({ title: z.string() }),
      handler: async () => ({ title: 42 }) as unknown as { title: string },
    });
    expect(await invokeTool(tool, { ticket: 'T1' }, context())).toEqual({
      ok: false,
      output: { error: expect.stringMatching(/^find_ticket returned a result that does not match its result schema: title: /) },
    });
    const good = defineTool({ ...base, result: z.object({ title: z.string() }), handler: async () => ({ title: 'Broken' }) });
    expect(await invokeTool(good, { ticket: 'T1' }, context())).toEqual({ ok: true, output: { title: 'Broken' } });
  });
});
