/** `bosun deploy`, `bosun rollback` and `bosun rollout …`: which bundle an agent's new runs use. */
import { defaultRolloutStages } from '../shared/rolloutSettings';
import { UsageError, answer, type Schemas } from './apiClient';
import { show, stringOption, type Command, type CommandContext, type OptionValues } from './command';
import { fields, timestamp } from './format';

type AgentView = Schemas['AgentView'];
type Deployment = Schemas['Deployment'];
type RolloutView = Schemas['RolloutView'];
type DeploymentRequest = Schemas['DeploymentRequest'];
type StageRequest = NonNullable<Extract<DeploymentRequest, { strategy: 'canary' }>['stages']>[number];

const defaultWeights = defaultRolloutStages.map((s) => s.weight).join(',');

function numberOption(options: OptionValues, name: string): number | undefined {
  const raw = stringOption(options, name);
  if (raw === undefined) return undefined;
  if (raw.trim() === '' || !Number.isFinite(Number(raw))) throw new UsageError(`--${name} must be a number, not "${raw}"`);
  return Number(raw);
}

/**
 * The canary's stages from the flags. Without any, the API's default stages apply; a flag left out
 * leaves that field to the API's per-stage default. The API checks the values.
 */
function canaryStages(options: OptionValues): StageRequest[] | undefined {
  const holdSeconds = numberOption(options, 'hold');
  const minRuns = numberOption(options, 'min-runs');
  const weights = stringOption(options, 'stages');
  if (weights === undefined && holdSeconds === undefined && minRuns === undefined) return undefined;
  return (weights ?? defaultWeights).split(',').map((weight) => {
    if (weight.trim() === '' || !Number.isFinite(Number(weight))) throw new UsageError(`--stages must be percentages such as 5,25,50,100, not "${weights}"`);
    return { weight: Number(weight), holdSeconds, minRuns };
  });
}

function deploymentRequest(bundleId: string, options: OptionValues): DeploymentRequest {
  if (options.canary) return { bundleId, strategy: 'canary', stages: canaryStages(options) };
  const canaryOnly = ['stages', 'hold', 'min-runs'].find((name) => options[name] !== undefined);
  if (canaryOnly) throw new UsageError(`--${canaryOnly} only applies with --canary`);
  return { bundleId, strategy: 'immediate' };
}

function describeActiveRollout(r: NonNullable<AgentView['rollout']>): [string, string | undefined][] {
  const last = r.lastDecision;
  return [
    ['rollout', `${r.rolloutId}: ${r.status}, stage ${r.stage + 1} of ${r.stages}`],
    ['started', `${timestamp(r.startedAt)} by ${r.startedBy}`],
    ['last step', last ? `${last.decision} at ${timestamp(last.decidedAt)}: ${last.reason}` : undefined],
  ];
}

/** A deployment; with the rollout in progress when it comes from `GET /v1/agents/:agent`. */
function describeDeployment(d: Deployment | AgentView): string {
  const canary = d.canaryBundleId ? `${d.canaryBundleId} (${d.canaryWeight}% of new runs)` : '(none)';
  return fields([
    ['agent', d.agent],
    ['stable', d.stableBundleId],
    ['canary', canary],
    ...('rollout' in d && d.rollout ? describeActiveRollout(d.rollout) : [['rollout', d.rolloutId ?? '(none)'] as [string, string]]),
    ['updated', timestamp(d.updatedAt)],
  ]);
}

const stageText = (s: RolloutView['stages'][number]) => `${s.weight}% for ${s.holdSeconds}s and ${s.minRuns} runs`;

function describeStartedRollout(r: RolloutView): string {
  return [
    `started canary rollout ${r.rolloutId}: ${r.canaryBundleId} against stable ${r.stableBundleId}`,
    `stages: ${r.stages.map(stageText).join(' → ')}`,
    `follow it with: bosun rollout status ${r.agent}`,
  ].join('\n');
}

async function deploy(ctx: CommandContext, [agent, bundleId]: string[], options: OptionValues) {
  const body = deploymentRequest(bundleId!, options);
  const result = await answer(ctx.api.POST('/v1/agents/{agent}/deployments', { params: { path: { agent: agent! } }, body }));
  show(ctx, result, (r) =>
    'stages' in r ? describeStartedRollout(r) : `deployed ${bundleId} to ${agent}\n${describeDeployment(r)}`,
  );
}

async function rollback(ctx: CommandContext, [agent]: string[]) {
  const deployment = await answer(ctx.api.POST('/v1/agents/{agent}/rollback', { params: { path: { agent: agent! } } }));
  show(ctx, deployment, (d) => `rolled back ${agent}: new runs use ${d.stableBundleId}\n${describeDeployment(d)}`);
}

async function rolloutStatus(ctx: CommandContext, [agent]: string[]) {
  show(ctx, await answer(ctx.api.GET('/v1/agents/{agent}', { params: { path: { agent: agent! } } })), describeDeployment);
}

function rolloutControl(action: 'pause' | 'resume' | 'abort'): Command {
  return {
    words: ['rollout', action],
    args: ['<agent>'],
    summary: `${action} the agent's canary rollout`,
    options: { reason: { type: 'string', value: '<text>', description: "kept in the rollout's decisions" } },
    async run(ctx, [agent], options) {
      const body = { reason: stringOption(options, 'reason') };
      const result = await answer(ctx.api.POST('/v1/agents/{agent}/rollout/{action}', { params: { path: { agent: agent!, action } }, body }));
      show(ctx, result, (r) => `asked rollout ${r.rolloutId} of ${agent} to ${action}; see it with: bosun rollout status ${agent}`);
    },
  };
}

export const deployCommands: Command[] = [
  {
    words: ['deploy'],
    args: ['<agent>', '<bundleId>'],
    summary: 'send new runs of <agent> to <bundleId>: at once, or as a canary rollout',
    options: {
      canary: { type: 'boolean', description: 'roll out in stages, rolled back by itself if it does worse than stable' },
      stages: { type: 'string', value: '<w1,w2,…>', description: `canary weights in percent, the last 100 (API default ${defaultWeights})` },
      hold: { type: 'string', value: '<seconds>', description: 'hold each stage at least this long (API default)' },
      'min-runs': { type: 'string', value: '<n>', description: 'finished runs per arm before a stage is judged (API default)' },
    },
    run: deploy,
  },
  { words: ['rollback'], args: ['<agent>'], summary: 'send new runs back to the previous stable bundle (ends a canary)', run: rollback },
  { words: ['rollout', 'status'], args: ['<agent>'], summary: 'show the stable and canary bundles, canary weight and active rollout', run: rolloutStatus },
  rolloutControl('pause'),
  rolloutControl('resume'),
  rolloutControl('abort'),
];
