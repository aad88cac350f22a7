/**
 * The browser code, bundled by esbuild from src/web/client when first asked for (no build step;
 * a few hundred milliseconds) and served from memory, gzipped once:
 *   /assets/app.js   the web UI at `/`
 *   /embed.js        the `<sluice-chart>` element and the iframe page (≤ 60 KB gzip, checked by a test)
 */
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  type: string;
}

// Beside this file in src/; from a build in dist/, the sources are still read from src/.
const CLIENT = [new URL('./client/', import.meta.url), new URL('../../src/web/client/', import.meta.url)].map((u) => fileURLToPath(u)).find((p) => existsSync(p + 'app.ts'))!;

async function bundle(entry: string): Promise<Asset> {
  const out = await build({
    entryPoints: [CLIENT + entry],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome109', 'firefox115', 'safari16'],
    write: false,
    legalComments: 'none',
    loader: { '.css': 'text' },
    logLevel: 'silent',
  });
  const body = Buffer.from(out.outputFiles[0].contents);
  return { body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, type: 'text/javascript; charset=utf-8' };
}

/**
 * Bundled on the first request for either script (a process that never serves the UI, such as
 * one in a test, never pays for it), then kept.
 *
 * @example const web = new WebAssets(); const js = await web.get('embed.js');
 */
export class WebAssets {
  private built: Promise<Record<'app.js' | 'embed.js', Asset>> | null = null;

  get(name: 'app.js' | 'embed.js'): Promise<Asset> {
    if (!this.built) {
      const building = (async () => {
        const [app, embed] = await Promise.all([bundle('app.ts'), bundle('embed.ts')]);
        return { 'app.js': app, 'embed.js': embed };
      })();
      // A failed build is tried again by the next request.
      building.catch(() => {
        if (this.built === building) this.built = null;
      });
      this.built = building;
    }
    return this.built.then((a) => a[name]);
  }
}
