/**
 * The approvals inbox at `/ui`: static ES modules and CSS from ./ui (copied beside the compiled API
 * by `npm run build`), plus the one library the page uses, `eventsource-parser`, served from
 * node_modules. No build step, no CDN. The page holds the API key in sessionStorage and calls /v1
 * with it; this router serves only public files and `config.json` (see docs/inbox.md).
 */
import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import type { UiConfig } from '../contract';

/** The page's files, in src/api/ui (tsx) or dist/src/api/ui (the compiled build). */
export const uiDirectory = path.join(__dirname, 'ui');

/** eventsource-parser's ES module build: `dist/index.js` beside the CommonJS entry `require` resolves. */
const eventSourceParserModule = path.join(path.dirname(require.resolve('eventsource-parser')), 'index.js');

/**
 * Same-origin everything: scripts and styles only from Bosun, fetches only to Bosun (the API and its
 * event streams), no framing, no referrer (the page's URL never carries the key, but run IDs need
 * not leak to the Temporal UI's host either).
 */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  });
  next();
};

/** Serves the inbox; `config` is what the page needs to know before sign-in. */
export function uiRouter(config: UiConfig): Router {
  const router = Router();
  router.use(securityHeaders, (req, res, next) => {
    // `/ui` → `/ui/`, so the page's relative module paths resolve under /ui.
    const [pathname, query] = req.originalUrl.split(/\?(.*)/s);
    if (pathname === req.baseUrl) return res.redirect(308, `${pathname}/${query ? `?${query}` : ''}`);
    next();
  });
  router.get('/config.json', (_req, res) => void res.json(config));
  router.get('/vendor/eventsource-parser.js', (_req, res) => res.type('text/javascript').sendFile(eventSourceParserModule));
  router.use(express.static(uiDirectory, { index: 'index.html', redirect: true }));
  return router;
}
