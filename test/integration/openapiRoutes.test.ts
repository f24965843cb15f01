/**
 * Every route the Express app mounts is in the OpenAPI document, and every route of the document is
 * mounted: a route added to a router without its entry in the contract's route list fails here.
 * The app is built on a pool and a Temporal client that connect lazily; nothing is called.
 */
import { Client } from '@temporalio/client';
import type express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { apiRoutes } from '../../src/contract/openapi';
import { createPool } from '../../src/db/pool';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: unknown;
}

/** `METHOD /path` of every route in a router's stack, mount paths included. */
function mountedRoutes(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      return Object.keys(layer.route.methods).filter((m) => m !== '_all').map((m) => `${m.toUpperCase()} ${prefix}${layer.route!.path}`);
    }
    if (!layer.handle.stack) return [];
    const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
    return mountedRoutes(layer.handle.stack, prefix + mount);
  });
}

describe('the OpenAPI document and the mounted routes', () => {
  const db = createPool('postgres://nobody@127.0.0.1:1/none', 1);
  const app = createApp({ db, temporal: new Client(), taskQueue: 'unused', approvalTimeoutMs: 60_000 });
  afterAll(() => db.end());

  const mounted = mountedRoutes((app as express.Express & { router: { stack: Layer[] } }).router.stack);
  const documented = apiRoutes.map((r) => `${r.method.toUpperCase()} ${r.path}`);

  it('finds the routes of every router', () => {
    expect(mounted).toEqual(expect.arrayContaining(['GET /healthz', 'POST /v1/runs', 'GET /v1/runs/:runId/events', 'POST /codec/decode', 'POST /v1/chat/completions']));
  });

  it('documents every mounted route, and mounts every documented one', () => {
    expect([...new Set(mounted)].sort()).toEqual([...new Set(documented)].sort());
    expect(documented).toHaveLength(new Set(documented).size);
  });
});
