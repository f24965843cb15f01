/**
 * The statistics of `bosun eval`: percentiles, pass@k and pass^k over repeats, and the one-sided
 * tests that decide whether a rate dropped against the baseline by more than chance. Pure.
 */

/** Nearest-rank percentile (p in (0, 100]) of `values`; 0 for no values. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

export const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);

/** log of n choose k, through log-gamma of integers (exact sums of logs; n is small here). */
function logChoose(n: number, k: number): number {
  if (k < 0 || k > n) return -Infinity;
  let sum = 0;
  for (let i = 1; i <= k; i++) sum += Math.log(n - k + i) - Math.log(i);
  return sum;
}

/**
 * pass@k: the chance that at least one of k runs, drawn from n runs of which c passed, passes
 * (the unbiased estimator 1 − C(n−c, k) / C(n, k) of Chen et al., 2021). Throws unless 0 ≤ c ≤ n and 1 ≤ k ≤ n.
 */
export function passAtK(n: number, c: number, k: number): number {
  assertCounts(n, c, k);
  if (n - c < k) return 1;
  return 1 - Math.exp(logChoose(n - c, k) - logChoose(n, k));
}

/**
 * pass^k: the chance that all of k runs, drawn from n runs of which c passed, pass
 * (C(c, k) / C(n, k), τ-bench's consistency measure). Throws unless 0 ≤ c ≤ n and 1 ≤ k ≤ n.
 */
export function passHatK(n: number, c: number, k: number): number {
  assertCounts(n, c, k);
  if (c < k) return 0;
  return Math.exp(logChoose(c, k) - logChoose(n, k));
}

function assertCounts(n: number, c: number, k: number): void {
  if (![n, c, k].every(Number.isInteger) || c < 0 || c > n || k < 1 || k > n) throw new RangeError(`need 0 ≤ c ≤ n and 1 ≤ k ≤ n (n=${n}, c=${c}, k=${k})`);
}

/** Standard normal cumulative distribution, through erfc (W. J. Cody's rational approximation, |error| < 1.2e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Successes out of trials of one arm of a comparison. */
export interface Proportion {
  successes: number;
  trials: number;
}

/**
 * One-sided two-proportion z test (pooled) that `current`'s rate is below `baseline`'s.
 * Returns z (positive when current is lower) and the p-value; p = 1 when either arm is empty or
 * the pooled rate is 0 or 1 (no variance: nothing to test).
 */
export function twoProportionZTest(baseline: Proportion, current: Proportion): { z: number; p: number } {
  const { successes: x1, trials: n1 } = baseline;
  const { successes: x2, trials: n2 } = current;
  if (!n1 || !n2) return { z: 0, p: 1 };
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return { z: 0, p: 1 };
  const z = (x1 / n1 - x2 / n2) / se;
  return { z, p: 1 - normalCdf(z) };
}

/**
 * One-sided Fisher's exact test that `current`'s rate is below `baseline`'s: the hypergeometric
 * chance, with the margins fixed, of `current` having this many successes or fewer.
 */
export function fisherExactTest(baseline: Proportion, current: Proportion): { p: number } {
  const successes = baseline.successes + current.successes;
  const total = baseline.trials + current.trials;
  const lowest = Math.max(0, successes - baseline.trials);
  let p = 0;
  for (let x = lowest; x <= current.successes; x++) {
    p += Math.exp(logChoose(current.trials, x) + logChoose(baseline.trials, successes - x) - logChoose(total, successes));
  }
  return { p: Math.min(1, p) };
}

export interface RateComparison {
  test: 'fisher_exact' | 'two_proportion_z';
  p: number;
  significant: boolean;
}

/**
 * Whether `current`'s rate dropped significantly below `baseline`'s at level `alpha`: Fisher's
 * exact test when an expected cell count is under 5 (small samples, the usual case for golden
 * sets), else the two-proportion z test. A rate that did not drop is never significant.
 */
export function compareRates(baseline: Proportion, current: Proportion, alpha: number): RateComparison {
  const failures = baseline.trials + current.trials - baseline.successes - current.successes;
  const successes = baseline.successes + current.successes;
  const total = baseline.trials + current.trials;
  const smallestExpected = Math.min(baseline.trials, current.trials) * Math.min(successes, failures) / (total || 1);
  const test = smallestExpected < 5 ? 'fisher_exact' : 'two_proportion_z';
  const p = test === 'fisher_exact' ? fisherExactTest(baseline, current).p : twoProportionZTest(baseline, current).p;
  const dropped = current.trials > 0 && baseline.trials > 0 && current.successes / current.trials < baseline.successes / baseline.trials;
  return { test, p, significant: dropped && p < alpha };
}
