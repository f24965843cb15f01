/** A throw-away agents directory (`<agent>/bundle.yaml` + `prompt.md`) for bundles a test makes up. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

export interface TestAgent {
  /** bundle.yaml without `name` and `prompt`. */
  bundle: Record<string, unknown>;
  prompt: string;
}

export function makeAgentsDir(agents: Record<string, TestAgent>): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'bosun-agents-'));
  for (const [name, agent] of Object.entries(agents)) {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'bundle.yaml'), stringify({ name, prompt: 'prompt.md', ...agent.bundle }));
    writeFileSync(path.join(dir, name, 'prompt.md'), agent.prompt);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The scripted model's rules for an agent with http_fetch: "fetch <url>" → http_fetch → a one-line answer. */
export const fetchScript = {
  rules: [
    { when: { role: 'user' as const, matches: 'fetch (\\S+)' }, reply: { toolCalls: [{ name: 'http_fetch', arguments: '{"url":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'http_fetch', matches: '"error":"([^"]*)"' }, reply: { content: 'Could not fetch: $1' } },
    { when: { role: 'tool' as const, tool: 'http_fetch', matches: '"status":(\\d+)' }, reply: { content: 'Fetched with status $1.' } },
  ],
};
