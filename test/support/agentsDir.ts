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

/** An order clerk: `lookup_order`, and `issue_refund` behind an approval every time. */
export const orderClerkAgent: TestAgent = {
  prompt: 'You help with orders.',
  bundle: {
    model: { id: 'gpt-4o-mini' },
    tools: [{ name: 'lookup_order', version: 1 }, { name: 'issue_refund', version: 1, approval: 'always' }],
    limits: { maxSteps: 6 },
  },
};

/**
 * An agent with `http_fetch` only, reaching `allowHosts`; a test server on loopback also needs
 * `allowPrivate` (without it the address check refuses loopback even when listed).
 */
export function fetcherAgent(allowHosts: string[], { allowPrivate = false } = {}): TestAgent {
  return {
    prompt: 'You fetch pages.',
    bundle: {
      model: { id: 'gpt-4o-mini' },
      tools: [{ name: 'http_fetch', version: 1 }],
      limits: { maxSteps: 4 },
      network: { allowHosts, ...(allowPrivate ? { allowPrivate } : {}) },
    },
  };
}

/** The scripted model's rules for an agent with http_fetch: "fetch <url>" → http_fetch → a one-line answer. */
export const fetchScript = {
  rules: [
    { when: { role: 'user' as const, matches: 'fetch (\\S+)' }, reply: { toolCalls: [{ name: 'http_fetch', arguments: '{"url":"$1"}' }] } },
    { when: { role: 'tool' as const, tool: 'http_fetch', matches: '"error":"([^"]*)"' }, reply: { content: 'Could not fetch: $1' } },
    { when: { role: 'tool' as const, tool: 'http_fetch', matches: '"status":(\\d+)' }, reply: { content: 'Fetched with status $1.' } },
  ],
};
