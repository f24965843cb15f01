/** What every CLI command is made of, and what it gets to run with. */
import type { ApiClient } from './apiClient';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Shown in the usage text, e.g. `<status>`; string options only. */
  value?: string;
  description: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface CommandContext {
  api: ApiClient;
  /** `--json`: print the API's JSON instead of text for people. */
  json: boolean;
  /** Writes a line (or several) to stdout. */
  print(text: string): void;
  /** Writes a note to stderr, e.g. a hint that more results exist. */
  note(text: string): void;
  /** Rewrites the status line on stderr (a progress bar); call it only when `interactive`. */
  status(text: string): void;
  /** stderr is a terminal: progress may redraw a line instead of printing one per step. */
  interactive: boolean;
  /** The working directory and environment the CLI runs in (files named on the command line are relative to it). */
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  /** The words that name the command, e.g. `['runs', 'list']`. */
  words: string[];
  /** Positional arguments; `[name]` is optional, `<name>` required. */
  args: string[];
  summary: string;
  options?: Record<string, OptionSpec>;
  run(ctx: CommandContext, args: string[], options: OptionValues): Promise<void>;
}

/** Prints `data` as JSON with `--json`, else the text `human` makes of it. */
export function show<T>(ctx: CommandContext, data: T, human: (data: T) => string): void {
  ctx.print(ctx.json ? JSON.stringify(data, null, 2) : human(data));
}

export function stringOption(options: OptionValues, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}
