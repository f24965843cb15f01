/** Budgets (docs/operations.md "Budgets"): what a refused model call is told. Pure. */
import type { Environment } from './environments';

/** A hard ceiling a model call's reservation did not fit under. Amounts in USD. */
export interface BudgetRefusal {
  environment: Environment;
  period: string;
  limitUsd: number;
  /** Spent and reserved in the window before this call. */
  spentUsd: number;
  /** The call's reservation: its worst-case cost (the whole prompt, the most output tokens it may ask). */
  worstUsd: number;
}

/** Dollars to the micro-dollar, without trailing zeros: $0.0025, $1.5, $0. */
const dollars = (usd: number) => `$${Number(usd.toFixed(6))}`;

/**
 * Why a model call was refused: the budget is spent, or (when some is left) the call's worst-case
 * reservation does not fit in what is left, e.g. "the tenant's staging day budget of $0.0005: this
 * model call reserves its worst-case cost of $0.0025, more than the $0.0005 left ($0 used or reserved)".
 */
export function budgetRefusalMessage(r: BudgetRefusal): string {
  const budget = `the tenant's ${r.environment === 'staging' ? 'staging ' : ''}${r.period} budget of ${dollars(r.limitUsd)}`;
  const left = r.limitUsd - r.spentUsd;
  if (left <= 0) return `${budget} is spent (${dollars(r.spentUsd)} used or reserved)`;
  return `${budget}: this model call reserves its worst-case cost of ${dollars(r.worstUsd)}, more than the ${dollars(left)} left (${dollars(r.spentUsd)} used or reserved)`;
}
