/** `bosun usage`: tokens and cost of the tenant's model steps, grouped, of one environment's runs or all. */
import { answer } from './apiClient';
import { show, stringOption, type Command, type CommandContext, type OptionValues } from './command';
import { table, usd } from './format';
import type { paths } from './generated/openapi';

type UsageQuery = NonNullable<paths['/v1/usage']['get']['parameters']['query']>;

/** The options as the API takes them; the API checks the values (a 400 lists what is wrong). */
function usageQuery(options: OptionValues): Record<keyof UsageQuery, string | undefined> {
  return {
    groupBy: stringOption(options, 'group-by'),
    environment: stringOption(options, 'environment'),
    from: stringOption(options, 'from'),
    to: stringOption(options, 'to'),
  };
}

async function showUsage(ctx: CommandContext, _args: string[], options: OptionValues) {
  const query = usageQuery(options) as UsageQuery;
  const report = await answer(ctx.api.GET('/v1/usage', { params: { query } }));
  show(ctx, report, ({ groupBy, totals }) =>
    table(
      [groupBy.toUpperCase(), 'RUNS', 'MODEL CALLS', 'INPUT', 'CACHED', 'OUTPUT', 'COST'],
      totals.map((t) => [t.key, t.runs, t.modelCalls, t.inputTokens, t.cachedInputTokens, t.outputTokens, usd(t.costUsd)]),
    ),
  );
}

export const usageCommands: Command[] = [
  {
    words: ['usage'],
    args: [],
    summary: "tokens and cost of your tenant's model steps, grouped",
    options: {
      'group-by': { type: 'string', value: '<key>', description: 'tenant (default), agent, bundle, day or environment' },
      environment: { type: 'string', value: '<environment>', description: 'only production or only staging runs' },
      from: { type: 'string', value: '<time>', description: 'ISO 8601, inclusive' },
      to: { type: 'string', value: '<time>', description: 'ISO 8601, exclusive' },
    },
    run: showUsage,
  },
];
