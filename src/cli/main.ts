/** `bosun`: the command line for Bosun's REST API. Entry point: bin/bosun.js. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, UsageError, createApiClient } from './apiClient';
import { bundleCommands } from './bundleCommands';
import { stringOption, type Command, type CommandContext, type OptionSpec, type OptionValues } from './command';
import { resolveApiKey, resolveBaseUrl } from './connection';
import { deployCommands } from './deployCommands';
import { evalCommands, goldenCommands } from './eval/evalCommands';
import { keyCommands } from './keyCommands';
import { runCommands } from './runCommands';
import { shadowCommands } from './shadowCommands';
import { usageCommands } from './usageCommands';
import { globalOptions, usageText, type Section } from './usage';

const sections: Section[] = [
  { title: 'Bundles', commands: bundleCommands },
  { title: 'Deployments', commands: deployCommands },
  { title: 'Staging', commands: shadowCommands },
  { title: 'Runs', commands: runCommands },
  { title: 'Keys', commands: keyCommands },
  { title: 'Usage', commands: usageCommands },
  { title: 'Evals', commands: evalCommands },
  { title: 'Golden set', commands: goldenCommands },
];
const commands = sections.flatMap((s) => s.commands);
const groups = new Set(commands.map((c) => c.words[0]!));

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stderr is a terminal. */
  interactive?: boolean;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  interactive: process.stderr.isTTY === true,
};

type ParseOptions = NonNullable<ParseArgsConfig['options']>;

function parseOptions(specs: Record<string, OptionSpec & { short?: string }>): ParseOptions {
  return Object.fromEntries(Object.entries(specs).map(([name, { type, short }]) => [name, short ? { type, short } : { type }]));
}

/** Every option any command knows, so a first, lenient pass finds the command words whatever the flags. */
const allOptions = parseOptions(Object.assign({}, globalOptions, ...commands.map((c) => c.options ?? {})));

function findCommand(words: string[]): Command | undefined {
  return commands.find((c) => c.words.every((word, i) => words[i] === word));
}

function parseStrictly(argv: string[], command: Command): { values: OptionValues; positionals: string[] } {
  try {
    const options = { ...parseOptions(globalOptions), ...parseOptions(command.options ?? {}) };
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as { values: OptionValues; positionals: string[] };
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message, command.words[0]);
    throw err;
  }
}

function commandArgs(command: Command, positionals: string[]): string[] {
  const args = positionals.slice(command.words.length);
  const name = `"${command.words.join(' ')}"`;
  const required = command.args.filter((a) => a.startsWith('<'));
  if (args.length < required.length) throw new UsageError(`missing ${required.slice(args.length).join(' ')} for ${name}`, command.words[0]);
  if (args.length > command.args.length) throw new UsageError(`too many arguments for ${name} (it takes ${command.args.join(' ') || 'none'})`, command.words[0]);
  return args;
}

/** Finds what to do: print help, run a command, or refuse the command line. */
function resolve(argv: string[]): { help: string | undefined } | { command: Command } {
  const { values, positionals } = parseArgs({ args: argv, options: allOptions, strict: false, allowPositionals: true });
  const group = positionals[0] === 'help' ? positionals[1] : positionals[0];
  if (values.help || positionals[0] === 'help') return { help: group && groups.has(group) ? group : undefined };
  const command = findCommand(positionals);
  if (command) return { command };
  if (!group) throw new UsageError('missing command');
  if (!groups.has(group)) throw new UsageError(`unknown command "${group}"`);
  throw new UsageError(positionals[1] ? `unknown command "${group} ${positionals[1]}"` : `"bosun ${group}" needs a command`, group);
}

/** Hides the API key from everything the CLI prints, whatever the API or an error message contains. */
function redacting(write: (text: string) => void, secret: () => string | undefined) {
  return (text: string) => {
    const key = secret();
    write(key && key.length >= 8 ? text.replaceAll(key, '[api key]') : text);
  };
}

async function execute(command: Command, argv: string[], io: CliIo, setKey: (key: string) => void): Promise<void> {
  const { values, positionals } = parseStrictly(argv, command);
  const args = commandArgs(command, positionals);
  const baseUrl = resolveBaseUrl(stringOption(values, 'url'), io.env);
  const apiKey = resolveApiKey(stringOption(values, 'key'), io.env, io.cwd);
  setKey(apiKey);
  const ctx: CommandContext = {
    api: createApiClient(baseUrl, apiKey),
    json: values.json === true,
    print: (text) => io.stdout(`${text}\n`),
    note: (text) => io.stderr(`${text}\n`),
    status: (text) => io.stderr(`\r\x1b[K${text}`),
    interactive: io.interactive === true,
    cwd: io.cwd,
    env: io.env,
  };
  await command.run(ctx, args, values).catch((err: unknown) => {
    // A command's own usage errors (a malformed option value) show its group's usage.
    throw err instanceof UsageError && !err.group ? new UsageError(err.message, command.words[0]) : err;
  });
}

function report(err: unknown, stderr: (text: string) => void): number {
  if (err instanceof UsageError) {
    stderr(`bosun: ${err.message}\n\n${usageText(sections, err.group)}\n`);
  } else if (err instanceof CliError) {
    stderr(`bosun: ${err.message}\n${err.problems.map((p) => `  - ${p}\n`).join('')}`);
  } else {
    stderr(`bosun: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  return err instanceof CliError ? err.exitCode : 1;
}

/** Runs one command line; resolves to the process exit code. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let apiKey: string | undefined;
  const stdout = redacting(io.stdout, () => apiKey);
  const stderr = redacting(io.stderr, () => apiKey);
  try {
    const resolved = resolve(argv);
    if ('help' in resolved) {
      stdout(`${usageText(sections, resolved.help)}\n`);
      return 0;
    }
    await execute(resolved.command, argv, { ...io, stdout, stderr }, (key) => (apiKey = key));
    return 0;
  } catch (err) {
    return report(err, stderr);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
