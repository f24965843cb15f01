/**
 * Host allow-lists: whether a URL's host and port are on a bundle's `network.allowHosts` (the
 * patterns `hostPatternSchema` in guardrails.ts accepts). Pure: the bundle checks at publication and
 * the egress guard of the worker use the same code.
 */

export interface HostPattern {
  /** Lower case; IPv6 in brackets, canonical. */
  host: string;
  wildcard: boolean;
  port: number | undefined;
}

/** Parses an allow-list entry (already checked by the bundle schema); throws for text that is not a host pattern. */
export function parseHostPattern(entry: string): HostPattern {
  const wildcard = entry.startsWith('*.');
  const rest = wildcard ? entry.slice(2) : entry;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(rest);
  if (!m) throw new Error(`"${entry}" is not a host pattern`);
  let host = m[1]!.toLowerCase();
  // Canonical form, as URL gives it (`[0:0::1]` → `[::1]`).
  try {
    host = new URL(`http://${host}/`).hostname;
  } catch {
    throw new Error(`"${entry}" is not a host pattern`);
  }
  return { host, wildcard, port: m[2] === undefined ? undefined : Number(m[2]) };
}

export const defaultPort = (url: URL) => (url.protocol === 'https:' ? 443 : 80);
const portOf = (url: URL) => (url.port ? Number(url.port) : defaultPort(url));
/** URL host names without brackets or a trailing dot. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
/**
 * An IP address rather than a name. The URL parser writes every IPv4 host in dotted decimal and
 * every IPv6 host in brackets, so the parsed host name tells.
 */
const isIpLiteral = (url: URL) => url.hostname.startsWith('[') || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(bareHost(url));

/** True when `url`'s host and port match one of the patterns (no port in a pattern: the scheme's default). */
export function hostMatches(patterns: readonly string[], url: URL): boolean {
  const hostname = url.hostname.replace(/\.$/, '');
  const port = portOf(url);
  return patterns.some((entry) => {
    const p = parseHostPattern(entry);
    if ((p.port ?? defaultPort(url)) !== port) return false;
    if (p.wildcard) return !isIpLiteral(url) && hostname.endsWith(`.${p.host}`);
    return hostname === p.host;
  });
}
