/** The CLI (src/cli/main.ts) run in the test's own process against a test stack, with what it printed. */
import { main } from '../../src/cli/main';
import type { TestStack } from './testStack';

export interface CliResult {
  /** The exit code: 0 ok, 1 API error, 2 usage. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bosun <argv>` against the stack's API with its key, in `cwd` (files the command reads or writes are relative to it). */
export async function bosunIn(stack: TestStack, argv: string[], cwd = process.cwd()): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const env = { BOSUN_URL: stack.baseUrl, BOSUN_API_KEY: stack.apiKey };
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env, cwd });
  return { code, stdout, stderr };
}
