/**
 * The OpenAPI document (src/contract/openapi.ts): valid OpenAPI 3.1, as committed in
 * docs/openapi.json and in the CLI's generated client types, and describing what it must.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { apiRoutes, openApiDocument } from '../../src/contract/openapi';
import { staleFiles } from '../../src/dev/openapi';

describe('the OpenAPI document', () => {
  const document = openApiDocument();

  it('validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(document)));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is what docs/openapi.json and src/cli/generated/openapi.ts hold (run `npm run openapi` after changing the contract)', async () => {
    expect(await staleFiles()).toEqual([]);
  }, 60_000);

  it('describes every route once, with its auth, its errors and an operation ID', () => {
    const operations = Object.entries(document.paths!).flatMap(([path, item]) =>
      Object.entries(item as Record<string, any>).map(([method, op]) => ({ path, method, op })));
    expect(operations).toHaveLength(apiRoutes.length);
    expect(new Set(operations.map((o) => o.op.operationId)).size).toBe(operations.length);
    for (const { path, method, op } of operations) {
      const keyed = op.security.length > 0;
      const statuses = Object.keys(op.responses);
      if (keyed) expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '401', '403', '503']));
      expect(statuses.some((s) => s.startsWith('2')), `${method} ${path} has no success answer`).toBe(true);
    }
    expect(document.components!.securitySchemes!.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('keeps null where a nullable field allows it (no named schema loses its null)', () => {
    const runView = document.components!.schemas!.RunView as any;
    expect(runView.properties.error.type).toEqual(['object', 'null']);
    expect(JSON.stringify(document)).not.toMatch(/"allOf"/);
  });

  it('describes the event stream and the chat completion chunks', () => {
    const events = (document.paths!['/v1/runs/{runId}/events'] as any).get.responses['200'].content;
    expect(events['text/event-stream'].schema.$ref).toBe('#/components/schemas/RunEvent');
    const chat = (document.paths!['/v1/chat/completions'] as any).post.responses;
    expect(Object.keys(chat['200'].content)).toEqual(['application/json', 'text/event-stream']);
    expect(chat['404'].content['application/json'].schema.$ref).toBe('#/components/schemas/ChatCompletionError');
  });
});
