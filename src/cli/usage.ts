/** The usage text, made from the command definitions so it cannot drift from what the CLI accepts. */
import type { Command, OptionSpec } from './command';
import { defaultBaseUrl } from './connection';

export interface Section {
  title: string;
  commands: Command[];
}

export const globalOptions: Record<string, OptionSpec & { short?: string }> = {
  url: { type: 'string', value: '<url>', description: `API base URL (env BOSUN_URL; default ${defaultBaseUrl})` },
  key: { type: 'string', value: '<key>', description: 'API key (env BOSUN_API_KEY; else .data/dev-api-key, written by npm start)' },
  json: { type: 'boolean', description: "print the API's JSON instead of text (runs watch: one JSON line per change)" },
  help: { type: 'boolean', short: 'h', description: 'print this help; `bosun <group> --help` for one group' },
};

const optionName = (name: string, spec: OptionSpec & { short?: string }) =>
  `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;

function commandRows(command: Command): [string, string][] {
  const options = Object.entries(command.options ?? {});
  const synopsis = [...command.words, ...command.args, ...(options.length ? ['[options]'] : [])].join(' ');
  return [[`  ${synopsis}`, command.summary], ...options.map(([name, spec]): [string, string] => [`      ${optionName(name, spec)}`, spec.description])];
}

/** The whole usage text, or one group's (`bundle`, `runs`, …) when `group` names one. */
export function usageText(sections: Section[], group?: string): string {
  const shown = sections
    .map((s) => ({ ...s, commands: s.commands.filter((c) => !group || c.words[0] === group) }))
    .filter((s) => s.commands.length);
  const globals = Object.entries(globalOptions).map(([name, spec]): [string, string] => [`  ${optionName(name, spec)}`, spec.description]);
  const blocks = [
    ...shown.map((s) => ({ title: `${s.title}:`, rows: s.commands.flatMap(commandRows) })),
    { title: 'Options for every command:', rows: globals },
  ];
  const width = Math.max(...blocks.flatMap((b) => b.rows.map(([left]) => left.length)));
  const hasSubcommands = shown.some((s) => s.commands.some((c) => c.words.length > 1));
  const synopsis = `Usage: bosun ${group ? `${group}${hasSubcommands ? ' <command>' : ''}` : '<command>'} [options]`;
  return [
    synopsis,
    '',
    ...blocks.flatMap((b) => [b.title, ...b.rows.map(([left, right]) => `${left.padEnd(width)}  ${right}`), '']),
    'Exit codes: 0 ok, 1 API or runtime error (message on stderr), 2 usage error.',
    'bosun eval: 0 pass, 1 regression (the gate blocks), 2 usage or infrastructure error.',
  ].join('\n');
}
