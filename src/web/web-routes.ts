/**
 * The web UI's pages and scripts. `/` is the admin UI (sign-in with an admin key); `/embed/frame`
 * is the iframe form of an embedded chart (token and options in the URL's fragment, which the
 * browser never sends to a server, so tokens stay out of access logs).
 */
import type { Context, Hono } from 'hono';
import type { WebAssets } from './assets.ts';

const page = (title: string, script: string, body: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<link rel="icon" href="data:,">
</head>
<body>
${body}
<script src="${script}"></script>
</body>
</html>
`;

const APP = page('Sluice', '/assets/app.js', '<div id="app"><p style="font:14px system-ui;padding:2rem">Loading Sluice…</p></div><noscript>The Sluice UI needs JavaScript.</noscript>');
const FRAME = page('Sluice chart', '/embed.js', '<sluice-chart id="frame-chart" style="display:block;height:100vh"></sluice-chart>');
const FRAME_STYLE = '<style>html,body{margin:0;height:100%;background:transparent}</style>';

function html(c: Context, text: string, frameAncestors: string): Response {
  c.header('content-security-policy', `default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors ${frameAncestors}; base-uri 'none'; form-action 'self'`);
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'no-referrer');
  c.header('cache-control', 'no-cache');
  return c.html(text);
}

export function webRoutes(app: Hono, web: WebAssets): void {
  app.get('/', (c) => html(c, APP, "'none'"));
  // Any page may frame a chart: what it shows is decided by the token in the fragment.
  app.get('/embed/frame', (c) => html(c, FRAME.replace('</head>', FRAME_STYLE + '</head>'), '*'));
  const script = (name: 'app.js' | 'embed.js', crossOrigin: boolean) => async (c: Context) => {
    const a = await web.get(name);
    c.header('content-type', a.type);
    c.header('etag', a.etag);
    c.header('cache-control', 'public, max-age=300');
    c.header('x-content-type-options', 'nosniff');
    c.header('vary', 'Accept-Encoding');
    if (crossOrigin) c.header('access-control-allow-origin', '*');
    if (c.req.header('if-none-match') === a.etag) return c.body(null, 304);
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      c.header('content-encoding', 'gzip');
      return c.body(new Uint8Array(a.gzip));
    }
    return c.body(new Uint8Array(a.body));
  };
  app.get('/assets/app.js', script('app.js', false));
  // Loaded by customers' pages on other origins.
  app.get('/embed.js', script('embed.js', true));
}
