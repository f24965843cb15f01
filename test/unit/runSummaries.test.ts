import { describe, expect, it } from 'vitest';
import { redactText } from '../../src/shared/redaction';
import { inputHeadline, modelStepSummary, runStaticMetadata, toolCallSummary } from '../../src/shared/runSummaries';

describe('redactText', () => {
  it('masks credentials after redacted keys, bearer tokens, e-mail addresses and card-like numbers', () => {
    expect(redactText('my password: hunter2 and api_key=sk-123 ok')).toBe('my password: [redacted] and api_key=[redacted] ok');
    expect(redactText('Authorization: Bearer abc.def-ghi')).toBe('Authorization: [redacted]');
    expect(redactText('use Bearer abc.def to call')).toBe('use Bearer [redacted] to call');
    expect(redactText('mail ada@example.com, card 4242 4242 4242 4242')).toBe('mail [redacted], card [redacted]');
    expect(redactText('Refund order 1001')).toBe('Refund order 1001');
  });

  it('redacts JSON input as a value', () => {
    expect(redactText('{"order":"1001","token":"t0k"}')).toBe('{"order":"1001","token":"[redacted]"}');
  });
});

describe('run summaries', () => {
  it('shows the first non-empty line of the input, redacted and cut short', () => {
    expect(inputHeadline('\n  Refund order 1001 for ada@example.com\nsecret second line')).toBe('Refund order 1001 for [redacted]');
    expect(inputHeadline('x'.repeat(200))).toHaveLength(80);
  });

  it('reads a long input\'s headline from its beginning, never from a token cut in two', () => {
    const token = 'ab12cd34'.repeat(128 * 1024);
    // test/e2e/apiEdges.test.ts starts a run with a 1 MiB input: its headline comes without redacting all of it.
    expect(inputHeadline(`Where is order 1001? ${token}`)).toBe('Where is order 1001? …');
    expect(inputHeadline(`${'word '.repeat(399)}${'x'.repeat(10)}@example.com ${token}`)).not.toContain('example');
    expect(inputHeadline(token)).toBe('…');
    expect(inputHeadline(`\n{"password":"hunter2",${'"k":1,'.repeat(1000)}"z":0}`)).toBe('{…');
  });

  it('gives the workflow a one-line summary and Markdown details', () => {
    const { staticSummary, staticDetails } = runStaticMetadata({ agent: 'support', bundleId: 'support@abc', tenantId: 'demo', input: 'Refund order 1001' });
    expect(staticSummary).toBe('support · Refund order 1001');
    expect(staticDetails).toBe('**Agent** support\n\n**Bundle** support@abc\n\n**Tenant** demo\n\n**Input** Refund order 1001');
  });

  it('names a model step by its number and model', () => {
    expect(modelStepSummary(3, 'gpt-4o-mini')).toBe('model step 3 · gpt-4o-mini');
    expect(modelStepSummary(3, undefined)).toBe('model step 3');
  });

  it('names a tool call by its key argument, redacted with the tool\'s rules', () => {
    expect(toolCallSummary('issue_refund', { order_id: '1001', amount_cents: 500 })).toBe('issue_refund · order 1001');
    expect(toolCallSummary('find_ticket', { ticketId: 'HD-7' })).toBe('find_ticket · ticket HD-7');
    expect(toolCallSummary('search', { query: 'blue shoes', limit: 3 })).toBe('search · query blue shoes');
    expect(toolCallSummary('lookup_customer', { customer_id: 'c-9' }, { keys: ['customer_id'] })).toBe('lookup_customer · customer [redacted]');
    expect(toolCallSummary('send', { email: 'ada@example.com' })).toBe('send · email [redacted]');
    expect(toolCallSummary('ping', {})).toBe('ping');
  });
});
