/** The statistics of `bosun eval` against values worked out by hand or published. */
import { describe, expect, it } from 'vitest';
import { compareRates, fisherExactTest, normalCdf, passAtK, passHatK, percentile, twoProportionZTest } from '../../src/shared/evals/statistics';

describe('significance tests', () => {
  it('normal CDF matches tables', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.5)).toBeCloseTo(0.0062097, 6);
  });

  it('two-proportion z test: 45/50 against 35/50 gives z = 2.5, one-sided p = 0.00621', () => {
    const { z, p } = twoProportionZTest({ successes: 45, trials: 50 }, { successes: 35, trials: 50 });
    expect(z).toBeCloseTo(2.5, 10);
    expect(p).toBeCloseTo(0.0062097, 6);
  });

  it("Fisher's exact test: the lady tasting tea, 3 of 4 right, p = 17/70", () => {
    expect(fisherExactTest({ successes: 3, trials: 4 }, { successes: 1, trials: 4 }).p).toBeCloseTo(17 / 70, 10);
    // 10/10 against 5/10: P(X ≤ 5) with 15 successes among 20 = C(10,5)C(10,10)/C(20,15).
    expect(fisherExactTest({ successes: 10, trials: 10 }, { successes: 5, trials: 10 }).p).toBeCloseTo(252 / 15504, 10);
  });

  it('uses Fisher for small samples and the z test for large ones; only a drop is significant', () => {
    expect(compareRates({ successes: 10, trials: 10 }, { successes: 5, trials: 10 }, 0.05)).toMatchObject({ test: 'fisher_exact', significant: true });
    expect(compareRates({ successes: 6, trials: 6 }, { successes: 5, trials: 6 }, 0.05)).toMatchObject({ test: 'fisher_exact', significant: false });
    expect(compareRates({ successes: 45, trials: 50 }, { successes: 35, trials: 50 }, 0.05)).toMatchObject({ test: 'two_proportion_z', significant: true });
    expect(compareRates({ successes: 35, trials: 50 }, { successes: 45, trials: 50 }, 0.05).significant).toBe(false);
  });
});

describe('pass@k and pass^k', () => {
  it('match the estimators on known values', () => {
    expect(passAtK(5, 0, 3)).toBe(0);
    expect(passAtK(5, 3, 3)).toBe(1);
    expect(passAtK(5, 1, 2)).toBeCloseTo(1 - 6 / 10, 12);
    expect(passAtK(3, 1, 3)).toBe(1);
    expect(passHatK(5, 3, 2)).toBeCloseTo(3 / 10, 12);
    expect(passHatK(3, 2, 3)).toBe(0);
    expect(passHatK(4, 4, 4)).toBeCloseTo(1, 12);
  });

  it('refuse impossible counts', () => {
    expect(() => passAtK(3, 4, 1)).toThrow(RangeError);
    expect(() => passHatK(3, 1, 0)).toThrow(RangeError);
  });
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    const values = Array.from({ length: 20 }, (_, i) => (i + 1) * 100);
    expect(percentile(values, 95)).toBe(1900);
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([], 95)).toBe(0);
  });
});
