import { describe, expect, it } from 'vitest';
import { maskValues, redact, REDACTED } from '../../src/shared/redaction';
import { createHttpFetchTool } from '../../src/activities/tools/httpFetch';
import { lookupOrder } from '../../examples/support-tools/orders';

describe('redact', () => {
  it('masks the paths a rule names, with * for any key or array index, and nothing else', () => {
    const value = {
      customer: 'Ada Lovelace',
      order: { id: '1001', card: { number: '4242 4242 4242 4242', brand: 'visa' } },
      items: [{ sku: 'kb-1', email: 'ada@example.com' }, { sku: 'dock', email: 'grace@example.com' }],
    };
    const out = redact(value, { paths: ['customer', 'order.card.number', 'items.*.email'] });
    expect(out).toEqual({
      customer: REDACTED,
      order: { id: '1001', card: { number: REDACTED, brand: 'visa' } },
      items: [{ sku: 'kb-1', email: REDACTED }, { sku: 'dock', email: REDACTED }],
    });
    // The input is not changed.
    expect(value.customer).toBe('Ada Lovelace');
  });

  it('anchors paths at the root and matches array indexes by number', () => {
    const value = { customer: 'a', nested: { customer: 'b' }, list: ['x', 'y'] };
    expect(redact(value, { paths: ['customer', 'list.1'] })).toEqual({ customer: REDACTED, nested: { customer: 'b' }, list: ['x', REDACTED] });
  });

  it('always masks credential-like keys at any depth, case-insensitively, and extra keys a rule adds', () => {
    const value = { headers: { Authorization: 'Bearer abc', 'X-Api-Key': 'k', accept: '*/*' }, deep: [{ password: 'p', ssn: '123' }] };
    expect(redact(value, { keys: ['SSN'] })).toEqual({
      headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED, accept: '*/*' },
      deep: [{ password: REDACTED, ssn: REDACTED }],
    });
  });

  it('leaves scalars, null and missing paths alone', () => {
    expect(redact('text', { paths: ['a'] })).toBe('text');
    expect(redact(null, { paths: ['a'] })).toBeNull();
    expect(redact({ b: 1 }, { paths: ['a.b.c'] })).toEqual({ b: 1 });
  });

  it("applies the tools' own rules: no customer name and no fetched body in audit rows", () => {
    expect(redact({ order_id: '1001', customer: 'Ada Lovelace' }, lookupOrder.manifest.redact?.result)).toEqual({
      order_id: '1001', customer: REDACTED,
    });
    expect(redact({ status: 200, body: 'private page', url: 'https://x.example/' }, createHttpFetchTool().manifest.redact?.result)).toEqual({
      status: 200, body: REDACTED, url: 'https://x.example/',
    });
  });
});

describe('maskValues', () => {
  it('replaces every occurrence of a secret, in strings and keys, at any depth', () => {
    const secrets = { PARTNER_API_TOKEN: 's3cr3t-value', OTHER: 'abc' };
    const value = { body: '{"authorization":"Bearer s3cr3t-value"}', list: ['s3cr3t-values twice s3cr3t-value'], 's3cr3t-value': 1, n: 5 };
    const out = maskValues(value, secrets);
    expect(JSON.stringify(out)).not.toContain('s3cr3t-value');
    expect(out).toEqual({
      body: '{"authorization":"Bearer [secret:PARTNER_API_TOKEN]"}',
      list: ['[secret:PARTNER_API_TOKEN]s twice [secret:PARTNER_API_TOKEN]'],
      '[secret:PARTNER_API_TOKEN]': 1,
      n: 5,
    });
  });

  it('masks the longer of two overlapping secrets whole, and ignores empty values', () => {
    expect(maskValues('key-abcdef', { SHORT: 'abc', LONG: 'key-abcdef', EMPTY: '' })).toBe('[secret:LONG]');
  });
});
