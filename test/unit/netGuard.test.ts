import { describe, expect, it } from 'vitest';
import { checkUrl, classifyAddress } from '../../src/activities/tools/netGuard';
import { hostMatches } from '../../src/shared/hostPatterns';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'], ['93.184.216.34', 'public'], ['172.32.0.1', 'public'], ['100.128.0.1', 'public'], ['11.0.0.1', 'public'],
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'],
    ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'], ['100.127.255.255', 'cgnat'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'], ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'], ['198.18.0.1', 'benchmarking'],
  ])('IPv4 %s is %s', (address, kind) => expect(classifyAddress(address)).toBe(kind));

  it.each([
    ['2606:4700:4700::1111', 'public'], ['2a00:1450:4001::200e', 'public'], ['64:ff9b::808:808', 'public'],
    ['::', 'unspecified'], ['::1', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback'], ['[::1]', 'loopback'],
    ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['fec0::1', 'site-local'],
    ['fc00::1', 'unique-local'], ['fd12:3456:789a::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    // IPv4-mapped and -compatible forms are refused whatever they embed, public addresses included.
    ['::ffff:127.0.0.1', 'ipv4-mapped'], ['::ffff:7f00:1', 'ipv4-mapped'], ['::ffff:8.8.8.8', 'ipv4-mapped'],
    ['::127.0.0.1', 'ipv4-mapped'], ['::ffff:0:7f00:1', 'ipv4-translated'],
    // NAT64 and 6to4 are judged by the IPv4 address inside.
    ['64:ff9b::7f00:1', 'loopback'], ['64:ff9b::a00:1', 'private'], ['2002:7f00:1::1', 'loopback'], ['2002:a9fe:a9fe::', 'link-local'],
    ['2001:db8::1', 'documentation'], ['2001::1', 'reserved'], ['100::1', 'reserved'], ['4000::1', 'reserved'],
  ])('IPv6 %s is %s', (address, kind) => expect(classifyAddress(address)).toBe(kind));

  it('says when it is not an IP address at all', () => {
    expect(classifyAddress('example.com')).toBe('not-an-ip');
    expect(classifyAddress('2130706433')).toBe('not-an-ip');
  });
});

describe('checkUrl', () => {
  it.each([
    'http://2130706433/', 'http://0x7f.1/', 'http://0x7f000001/', 'http://0177.0.0.1/', 'http://0177.0.0.01/', 'http://127.1/',
    'http://127.0.1/', 'http://127%2e0%2e0%2e1/', 'HTTP://0X7F.0.0.1:8080/x', 'http:2130706433/', 'http:\\\\2130706433\\',
    'http://134744072/',
  ])('refuses the IPv4 literal in %s, which is not plain dotted decimal', (url) => {
    const checked = checkUrl(url);
    expect(checked).toMatchObject({ ok: false, problem: expect.stringMatching(/dotted decimal/) });
  });

  it('refuses such a literal in a scheme-relative redirect too, and accepts relative ones', () => {
    const base = new URL('http://partner.example/a/b');
    expect(checkUrl('//0x7f.1/x', base)).toMatchObject({ ok: false });
    const relative = checkUrl('../c?d=1', base);
    expect(relative.ok && relative.url.toString()).toBe('http://partner.example/c?d=1');
  });

  it.each([
    ['file:///etc/passwd', /scheme file:/], ['ftp://example.com/', /scheme ftp:/], ['gopher://example.com/', /scheme/],
    ['http://user:pw@example.com/', /credentials/], ['http://user@example.com/', /credentials/], ['not a url', /not a valid URL/],
  ])('refuses %s', (url, problem) => expect(checkUrl(url)).toMatchObject({ ok: false, problem: expect.stringMatching(problem) }));

  it('accepts plain URLs, IP literals in canonical form included (their addresses are judged later)', () => {
    for (const url of ['https://api.example.com/v1?q=1', 'http://127.0.0.1:8080/', 'http://[::1]/', 'http://8.8.8.8/']) {
      expect(checkUrl(url).ok, url).toBe(true);
    }
  });
});

describe('hostMatches', () => {
  const url = (u: string) => new URL(u);
  it('matches exact hosts on the default port of the scheme unless the entry names a port', () => {
    const list = ['api.example.com', '127.0.0.1:8080', '[::1]:9000'];
    expect(hostMatches(list, url('https://api.example.com/x'))).toBe(true);
    expect(hostMatches(list, url('http://api.example.com/x'))).toBe(true);
    expect(hostMatches(list, url('https://API.Example.com./x'))).toBe(true);
    expect(hostMatches(list, url('https://api.example.com:8443/x'))).toBe(false);
    expect(hostMatches(list, url('https://api.example.com.evil.net/'))).toBe(false);
    expect(hostMatches(list, url('https://evil-api.example.com/'))).toBe(false);
    expect(hostMatches(list, url('http://127.0.0.1:8080/'))).toBe(true);
    expect(hostMatches(list, url('http://127.0.0.1/'))).toBe(false);
    expect(hostMatches(list, url('http://[0:0::1]:9000/'))).toBe(true);
  });

  it('matches subdomains (not the domain itself, nor IP addresses) with *.', () => {
    const list = ['*.example.com', '*.0.1'];
    expect(hostMatches(list, url('https://a.example.com/'))).toBe(true);
    expect(hostMatches(list, url('https://a.b.example.com/'))).toBe(true);
    expect(hostMatches(list, url('https://example.com/'))).toBe(false);
    expect(hostMatches(list, url('https://notexample.com/'))).toBe(false);
    expect(hostMatches(list, url('http://127.0.0.1/'))).toBe(false);
  });
});
