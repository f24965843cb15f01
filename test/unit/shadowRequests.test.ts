/** Shadow and continuous-shadowing requests: what the CLI sends and what the contract accepts (issue 15 D6, D10). */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/apiClient';
import type { CommandContext } from '../../src/cli/command';
import { shadowingRequest } from '../../src/cli/shadowCommands';
import { shadowingRequestSchema, shadowRequestSchema } from '../../src/contract';

const ctx = { cwd: process.cwd() } as CommandContext;

describe('bosun shadow continuous', () => {
  it('turns shadowing off without a rate', () => {
    expect(shadowingRequest(ctx, { off: true })).toEqual({ enabled: false });
  });

  it('sends only what is given, so the stored names and patterns are kept', () => {
    expect(shadowingRequest(ctx, { rate: '0.5' })).toEqual({ enabled: true, rate: 0.5 });
  });

  it('says a rate that is not a number is not a number', () => {
    expect(() => shadowingRequest(ctx, { rate: 'abc' })).toThrow(UsageError);
    expect(() => shadowingRequest(ctx, { rate: 'abc' })).toThrow('--rate must be a number from 0 to 1, e.g. --rate 0.1, not "abc"');
  });
});

describe('the shadowing contract', () => {
  it('leaves absent names, patterns and rate absent (the stored ones are kept)', () => {
    expect(shadowingRequestSchema.parse({ rate: 0.5 })).toEqual({ enabled: true, rate: 0.5 });
    expect(shadowingRequestSchema.parse({ enabled: false })).toEqual({ enabled: false });
  });
});

describe('the shadow replay contract', () => {
  it('refuses until before since, saying so', () => {
    const parsed = shadowRequestSchema.safeParse({ since: '2026-11-02T00:00:00Z', until: '2026-11-01T00:00:00Z' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toEqual([expect.objectContaining({ path: ['until'], message: expect.stringContaining('must be after since') })]);
    expect(shadowRequestSchema.safeParse({ since: '2026-11-01T00:00:00Z', until: '2026-11-02T00:00:00Z' }).success).toBe(true);
  });
});
