import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/bundles/bundleId';
import { readBundleDir } from '../../src/cli/bundleFiles';
import { validateBundle } from '../../src/bundles/bundleStore';
import { pinsOf } from '../../src/shared/bundle';
import { toolSecretNames } from '../../src/shared/guardrails';
import { stackRegistry } from '../support/tools';

const base = {
  name: 'partner',
  systemPrompt: 'You fetch.',
  model: { id: 'gpt-4o-mini' },
  tools: [{ name: 'http_fetch', version: 1 }],
  limits: { maxSteps: 4 },
};
const problemsOf = (raw: unknown) => {
  const validated = validateBundle(raw, stackRegistry);
  return validated.ok ? [] : validated.problems;
};

describe('bundle guardrails', () => {
  it('accepts a network policy with an auth secret the bundle lists, and gives http_fetch exactly that secret', () => {
    const validated = validateBundle({
      ...base,
      secrets: ['PARTNER_API_TOKEN'],
      network: {
        allowHosts: ['api.partner.example', '*.cdn.partner.example', '10.0.0.5:8080', '[2001:db8::1]:8443'],
        auth: { secret: 'PARTNER_API_TOKEN', hosts: ['api.partner.example'], header: 'X-Api-Key', scheme: '' },
      },
    }, stackRegistry);
    expect(validated.ok).toBe(true);
    if (!validated.ok) return;
    const [httpFetch] = pinsOf(validated.bundle);
    const lookupOrder = stackRegistry.find((r) => r.name === 'lookup_order')!.manifest;
    expect(toolSecretNames(validated.bundle, httpFetch!)).toEqual(['PARTNER_API_TOKEN']);
    expect(toolSecretNames(validated.bundle, lookupOrder)).toEqual([]);
  });

  it('wants an allow-list for http_fetch, listed secrets, and auth hosts from the allow-list', () => {
    expect(problemsOf(base)).toEqual(['tools.0: http_fetch needs network.allowHosts, the hosts it may reach']);
    expect(
      problemsOf({ ...base, network: { allowHosts: ['a.example'], auth: { secret: 'PARTNER_API_TOKEN', hosts: ['b.example'] } } }),
    ).toEqual(['network.auth.secret: PARTNER_API_TOKEN is not listed in secrets', 'network.auth.hosts.0: "b.example" is not in network.allowHosts']);
  });

  it.each(['API.example.com', 'http://a.example', 'a.example/path', 'a b', '*.', '*example.com', 'a.example:port', 'user@a.example'])(
    'refuses the host pattern %j',
    (pattern) => {
      expect(problemsOf({ ...base, network: { allowHosts: [pattern] } }).join('\n')).toMatch(/network\.allowHosts\.0: a lower-case host/);
    },
  );

  it('refuses unknown network settings, and leaves bundles without one (and their IDs) as they were', () => {
    expect(problemsOf({ ...base, network: { allowHosts: [], allowEverything: true } }).join('\n')).toMatch(/allowEverything/);
    const support = validateBundle(readBundleDir(path.resolve(__dirname, '../../agents/support')), stackRegistry);
    expect(support.ok).toBe(true);
    if (support.ok) expect(canonicalJson(support.bundle)).not.toContain('network');
  });
});
