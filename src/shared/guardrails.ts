/**
 * What a bundle lets its tools reach beyond the tenant's rows: the network allow-list of
 * `http_fetch` (and of MCP and HTTP tools), and the secrets its tools receive. Pure: the shared
 * bundle schema uses it.
 */
import { z } from 'zod';
import type { PinnedTool } from './toolSpec';

/**
 * `api.example.com`, `*.example.com` (any subdomain, not the domain itself), an IPv4 or `[IPv6]`
 * address; each optionally with `:port`. Without a port only the scheme's default port (80, 443) is
 * allowed. Lower case, as URLs normalise host names.
 */
export const hostPatternSchema = z
  .string()
  .max(260)
  .regex(
    /^(?:(?:\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/,
    'a lower-case host such as api.example.com, *.example.com, 10.0.0.5 or [2001:db8::1], optionally with :port',
  );

export const networkPolicySchema = z
  .object({
    allowHosts: z.array(hostPatternSchema).max(100).describe('The only hosts http_fetch may reach, redirects included.'),
    allowPrivate: z
      .boolean()
      .optional()
      .describe('Also allow loopback, private, link-local and other non-public addresses (off by default).'),
    auth: z
      .object({
        secret: z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'an upper-case secret name').describe('Listed in `secrets` too.'),
        hosts: z.array(hostPatternSchema).min(1).max(100).describe('Hosts that get the header; each must be in allowHosts.'),
        header: z
          .string()
          .regex(/^[A-Za-z0-9-]{1,100}$/)
          .refine((h) => !/^(host|connection|content-length|transfer-encoding|te|upgrade)$/i.test(h), 'a header that does not change how the request is routed or framed')
          .optional()
          .describe('Default: Authorization.'),
        scheme: z.string().regex(/^[A-Za-z0-9-]{0,50}$/).optional().describe('Default: Bearer; empty for the bare value.'),
      })
      .strict()
      .optional()
      .describe("A header carrying a secret, added by the worker to requests to these hosts; the model never sees it."),
  })
  .strict();

export type NetworkPolicy = z.infer<typeof networkPolicySchema>;

/** What a bundle grants its tools: the secrets they may get, and where they may go. */
export interface GrantedReach {
  secrets: string[];
  network?: NetworkPolicy;
}

/**
 * Every secret a tool gets when it runs under this bundle: its own, and the bundle's network
 * credential (network.auth) when it is code that reaches the network; an HTTP or MCP tool the
 * bundle declares names its own credentials.
 */
export function toolSecretNames(bundle: Pick<GrantedReach, 'network'>, pin: Pick<PinnedTool, 'secrets' | 'scope' | 'source'>): string[] {
  const names: string[] = [...pin.secrets];
  if (pin.source.type === 'worker' && pin.scope.includes('network:allow-list') && bundle.network?.auth) names.push(bundle.network.auth.secret);
  return [...new Set(names)];
}

/** Problems the schema cannot see in the network policy: a credential not listed in secrets, or sent to a host not allowed. */
export function guardrailProblems(content: GrantedReach): string[] {
  const problems: string[] = [];
  const listed = new Set(content.secrets);
  const auth = content.network?.auth;
  if (auth) {
    if (!listed.has(auth.secret)) problems.push(`network.auth.secret: ${auth.secret} is not listed in secrets`);
    auth.hosts.forEach((host, i) => {
      if (!content.network!.allowHosts.includes(host)) problems.push(`network.auth.hosts.${i}: "${host}" is not in network.allowHosts`);
    });
  }
  return problems;
}
