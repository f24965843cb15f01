/** What a model call refused by a hard budget is told (issue 15 D9). */
import { describe, expect, it } from 'vitest';
import { budgetRefusalMessage } from '../../src/shared/budgets';

describe('budgetRefusalMessage', () => {
  it("names the call's worst-case reservation when it, not the spend, is what does not fit", () => {
    const message = budgetRefusalMessage({ environment: 'staging', period: 'day', limitUsd: 0.0005, spentUsd: 0, worstUsd: 0.0025 });
    expect(message).toBe("the tenant's staging day budget of $0.0005: this model call reserves its worst-case cost of $0.0025, more than the $0.0005 left ($0 used or reserved)");
    expect(message).not.toContain('is spent');
  });

  it('says the budget is spent when nothing is left (production: no environment named)', () => {
    expect(budgetRefusalMessage({ environment: 'production', period: 'month', limitUsd: 5, spentUsd: 5.0000001, worstUsd: 0.01 }))
      .toBe("the tenant's month budget of $5 is spent ($5 used or reserved)");
  });

  it('reads dollars to the micro-dollar, never in exponent notation', () => {
    expect(budgetRefusalMessage({ environment: 'production', period: 'day', limitUsd: 0.000001, spentUsd: 1e-9, worstUsd: 0.00123456789 }))
      .toBe("the tenant's day budget of $0.000001: this model call reserves its worst-case cost of $0.001235, more than the $0.000001 left ($0 used or reserved)");
  });
});
