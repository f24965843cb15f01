/**
 * useTestStack: a test stack per `describe`, for vitest files. Apart from testStack.ts so scripts
 * that run outside vitest (npm run record-histories, the benches) can start stacks: vitest cannot be
 * imported there.
 */
import { afterAll, beforeAll } from 'vitest';
import { startTestStack, type TestStack, type TestStackOptions } from './testStack';

/**
 * A test stack for the enclosing `describe`: started in `beforeAll` (with `options`, or what the
 * function returns when given one), closed in `afterAll`. Returns the stack itself, readable from
 * the tests on (a property read before `beforeAll` has run throws, naming the mistake).
 */
export function useTestStack(options: TestStackOptions | (() => TestStackOptions) = {}): TestStack {
  let stack: TestStack | undefined;
  beforeAll(async () => {
    stack = await startTestStack(typeof options === 'function' ? options() : options);
  });
  afterAll(() => stack?.close());
  return new Proxy({} as TestStack, {
    get(_, property) {
      if (!stack) throw new Error(`useTestStack: the stack is read (.${String(property)}) before beforeAll started it`);
      return stack[property as keyof TestStack];
    },
  });
}

