/**
 * Matching a URL's host against a bundle's `network.allowHosts` patterns. Pure (no Node built-ins):
 * the bundle checks in src/shared and the network guard in src/activities/tools share this one copy.
 */

export interface HostPattern {
  /** Lower case; IPv6 in brackets, canonical. */
  host: string;
  wildcard: boolean;
  port: number | undefined;
}

/** Parses an allow-list entry (already checked by the bundle schema); throws when it is not one. */
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
export const portOf = (url: URL) => (url.port ? Number(url.port) : defaultPort(url));
/** URL host names without brackets or a trailing dot. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');

/**
 * True when a parsed URL's host is an IP address. The URL parser has already turned every IPv4
 * spelling into dotted decimal and bracketed every IPv6 address, so the text's shape tells.
 */
export const isIpLiteralHost = (url: URL) => url.hostname.startsWith('[') || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(url.hostname);

/** True when `url`'s host and port match one of the patterns (no port in a pattern: the scheme's default). */
export function hostMatches(patterns: readonly string[], url: URL): boolean {
  const hostname = url.hostname.replace(/\.$/, '');
  const port = portOf(url);
  const isIpLiteral = isIpLiteralHost(url);
  return patterns.some((entry) => {
    const p = parseHostPattern(entry);
    if ((p.port ?? defaultPort(url)) !== port) return false;
    if (p.wildcard) return !isIpLiteral && hostname.endsWith(`.${p.host}`);
    return hostname === p.host;
  });
}
