/** `bosun bundle …`: publish bundle directories and look at published bundles. */
import { BundleFileError, readBundleDir } from './bundleFiles';
import { CliError, answer, type Schemas } from './apiClient';
import { show, type Command, type CommandContext } from './command';
import { fields, jsonValue, table, timestamp } from './format';

/** The bundle in `dir`, as the API takes it (the API checks it: the files are the user's). */
function readBundle(dir: string): Schemas['PublishBundleRequest'] {
  try {
    return readBundleDir(dir) as Schemas['PublishBundleRequest'];
  } catch (err) {
    if (err instanceof BundleFileError) throw new CliError(`cannot read the bundle in ${err.file}:`, err.problems);
    throw err;
  }
}

async function publish(ctx: CommandContext, [dir]: string[]) {
  const result = await answer(ctx.api.POST('/v1/bundles', { body: readBundle(dir!) }));
  show(ctx, result, (r) => (r.created ? `published ${r.bundleId} (new)` : `${r.bundleId} was already published (unchanged)`));
}

async function list(ctx: CommandContext, [agent]: string[]) {
  const result = await answer(ctx.api.GET('/v1/agents/{agent}/bundles', { params: { path: { agent: agent! } } }));
  show(ctx, result, ({ bundles }) =>
    bundles.length === 0
      ? `no bundles published for agent "${agent}"`
      : table(
          ['BUNDLE', 'PUBLISHED', 'BY', 'DESCRIPTION'],
          bundles.map((b) => [b.bundleId, timestamp(b.publishedAt), b.publishedBy, b.description]),
        ),
  );
}

type BundleView = Schemas['Bundle'];

function describeBundle(bundle: BundleView): string {
  const { model } = bundle;
  const modelLine = [model.id, model.temperature !== undefined && `temperature ${model.temperature}`,
    model.maxOutputTokens !== undefined && `max ${model.maxOutputTokens} output tokens`, model.baseUrl].filter(Boolean).join(', ');
  const approvalOf = (a: NonNullable<BundleView['tools'][number]['approval']>) =>
    typeof a === 'string' ? a : `above ${a.above.field} > ${a.above.value}`;
  const tools = bundle.tools.map((t) => `${t.name} v${t.version}${t.approval ? ` (approval: ${approvalOf(t.approval)})` : ''}`);
  // The document leaves fields with defaults optional; the API sends them filled in.
  const variables = Object.entries(bundle.variables ?? {}).map(([name, value]) => `${name}=${jsonValue(value, 40)}`);
  return [
    fields([
      ['bundle', bundle.id],
      ['agent', bundle.name],
      ['description', bundle.description],
      ['model', modelLine],
      ['tools', tools.join(', ') || '(none)'],
      ['max steps', bundle.limits.maxSteps],
      ['variables', variables.join(', ') || undefined],
      ['secrets', bundle.secrets?.join(', ') || undefined],
    ]),
    '',
    'system prompt:',
    ...bundle.systemPrompt.trimEnd().split('\n').map((line) => `  ${line}`),
  ].join('\n');
}

async function showBundle(ctx: CommandContext, [bundleId]: string[]) {
  show(ctx, await answer(ctx.api.GET('/v1/bundles/{bundleId}', { params: { path: { bundleId: bundleId! } } })), describeBundle);
}

async function diff(ctx: CommandContext, [from, to]: string[]) {
  const result = await answer(ctx.api.GET('/v1/bundles/{bundleId}/diff/{otherBundleId}', { params: { path: { bundleId: from!, otherBundleId: to! } } }));
  show(ctx, result, ({ changes }) =>
    changes.length === 0
      ? `${from} and ${to} have the same content`
      : table(['PATH', 'FROM', 'TO'], changes.map((c) => [c.path, jsonValue(c.from), jsonValue(c.to)])),
  );
}

export const bundleCommands: Command[] = [
  { words: ['bundle', 'publish'], args: ['<dir>'], summary: 'publish the bundle in <dir> (bundle.yaml + prompt); idempotent', run: publish },
  { words: ['bundle', 'list'], args: ['<agent>'], summary: "list the agent's published bundles, newest first", run: list },
  { words: ['bundle', 'show'], args: ['<bundleId>'], summary: "show a bundle's model, tools, limits and prompt", run: showBundle },
  { words: ['bundle', 'diff'], args: ['<bundleA>', '<bundleB>'], summary: 'list what changes from bundle A to bundle B', run: diff },
];
