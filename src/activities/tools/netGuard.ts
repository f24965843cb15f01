/**
 * The checks http_fetch makes before it connects anywhere: which addresses count as public, which
 * URLs are acceptable at all (whether a host is on a bundle's allow-list: src/shared/hostPatterns.ts).
 */
import { isIP, isIPv4 } from 'node:net';
import { bareHost } from '../../shared/hostPatterns';

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking'
  | 'ipv4-mapped'
  | 'ipv4-translated'
  | 'unique-local'
  | 'site-local'
  | 'not-an-ip';

/** [first address as a number, prefix length, class] */
const ipv4Ranges: [number, number, AddressClass][] = [
  [v4('0.0.0.0'), 8, 'unspecified'],
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'cgnat'],
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link-local'],
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'],
  [v4('192.0.2.0'), 24, 'documentation'],
  [v4('192.88.99.0'), 24, 'reserved'],
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'benchmarking'],
  [v4('198.51.100.0'), 24, 'documentation'],
  [v4('203.0.113.0'), 24, 'documentation'],
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('255.255.255.255'), 32, 'broadcast'],
  [v4('240.0.0.0'), 4, 'reserved'],
];

function v4(text: string): number {
  return text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function classifyV4(n: number): AddressClass {
  for (const [start, bits, cls] of ipv4Ranges) {
    const size = 2 ** (32 - bits);
    if (n >= start && n < start + size) return cls;
  }
  return 'public';
}

/** The eight 16-bit groups of an IPv6 address (embedded IPv4 and `::` expanded), or undefined. */
export function ipv6Groups(text: string): number[] | undefined {
  let address = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '').toLowerCase();
  if (isIP(address) !== 6) return undefined;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) {
    const n = v4(dotted[1]!);
    address = `${address.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const groups = tail === undefined ? front : [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 ? groups : undefined;
}

/**
 * What kind of address this is. Only `public` may be fetched without `allowPrivate`. IPv6 outside
 * global unicast (2000::/3) is reserved; IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
 * (`::a.b.c.d`) forms are refused whatever they embed, and NAT64/6to4 forms are judged by the IPv4
 * address inside.
 */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '');
  if (isIPv4(bare)) return classifyV4(v4(bare));
  const g = ipv6Groups(bare);
  if (!g) return 'not-an-ip';
  const embeddedV4 = (hi: number, lo: number) => hi * 65536 + lo;
  if (g.every((x) => x === 0)) return 'unspecified';
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'loopback';
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return 'ipv4-mapped';
  // ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:0:a.b.c.d (IPv4-translated).
  if (g.slice(0, 6).every((x) => x === 0)) return 'ipv4-mapped';
  if (g.slice(0, 4).every((x) => x === 0) && g[4] === 0xffff && g[5] === 0) return 'ipv4-translated';
  // 64:ff9b::/96 (NAT64, well-known prefix) and 64:ff9b:1::/48 (local-use NAT64).
  if (g[0] === 0x64 && g[1] === 0xff9b) {
    if (g[2] === 1) return 'private';
    const inner = classifyV4(embeddedV4(g[6]!, g[7]!));
    return inner === 'public' ? 'public' : inner;
  }
  // 2002::/16: 6to4, the IPv4 address in groups 1-2.
  if (g[0] === 0x2002) {
    const inner = classifyV4(embeddedV4(g[1]!, g[2]!));
    return inner === 'public' ? 'public' : inner;
  }
  if (g[0] === 0x2001 && g[1] === 0x0db8) return 'documentation';
  // 2001::/32 Teredo tunnels reach arbitrary IPv4 hosts; 2001:2::/48 benchmarking; 2001:10::/28 ORCHID.
  if (g[0] === 0x2001 && g[1]! < 0x0200) return 'reserved';
  if ((g[0]! & 0xfe00) === 0xfc00) return 'unique-local';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xffc0) === 0xfec0) return 'site-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  if ((g[0]! & 0xe000) !== 0x2000) return 'reserved';
  return 'public';
}

/**
 * The host as written in the URL text, before the WHATWG parser normalised it; undefined for a
 * reference without an authority (a relative redirect keeps the host already checked).
 */
function rawHostOf(text: string): string | undefined {
  // Special schemes take any number of slashes or backslashes before the authority.
  const authority = /^(?:[a-z][a-z0-9+.-]*:[\\/]*|[\\/]{2})([^\\/?#]*)/i.exec(text.trim())?.[1];
  if (authority === undefined) return undefined;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

export type CheckedUrl = { ok: true; url: URL } | { ok: false; problem: string };

/**
 * A URL http_fetch will consider at all: http(s), no credentials, and an IPv4 literal only in its
 * plain dotted form (`http://2130706433/`, `http://0x7f.1/`, `http://0177.0.0.1/` are all 127.0.0.1
 * to a URL parser, and refused here whatever they point at).
 */
export function checkUrl(text: string, base?: URL): CheckedUrl {
  let url: URL;
  try {
    url = base ? new URL(text, base) : new URL(text);
  } catch {
    return { ok: false, problem: 'not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, problem: `scheme ${url.protocol} is not allowed (http and https only)` };
  if (url.username || url.password) return { ok: false, problem: 'URLs with credentials are not allowed' };
  const raw = rawHostOf(text);
  const hostname = bareHost(url);
  if (isIPv4(hostname) && raw !== undefined && raw.replace(/\.$/, '') !== hostname) {
    return { ok: false, problem: `the IP address ${raw} is not written in dotted decimal form` };
  }
  return { ok: true, url };
}
