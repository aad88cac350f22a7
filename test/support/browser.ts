/**
 * Debian's Chromium driven by playwright-core (installed by .ci/run), and where screenshots go:
 * test-results/screenshots always (CI keeps them as artifacts); docs/screenshots too when
 * SLUICE_UPDATE_SCREENSHOTS=1, which is how the README's pictures are taken.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '../..');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium; .ci/run installs it)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean; selector?: string } = {}): Promise<string> {
  const dirs = [join(ROOT, 'test-results/screenshots')];
  if (process.env.SLUICE_UPDATE_SCREENSHOTS === '1') dirs.push(join(ROOT, 'docs/screenshots'));
  let path = '';
  for (const dir of dirs) {
    mkdirSync(dir, { recursive: true });
    path = join(dir, `${name}.png`);
    if (opts.selector) await page.locator(opts.selector).first().screenshot({ path });
    else await page.screenshot({ path, fullPage: opts.fullPage ?? false });
  }
  return path;
}

/**
 * How many pixels of the canvases under `selector` (in `host`'s shadow root, if given) are close to a colour: a drawn series leaves
 * hundreds; an empty plot (axes and grid only) none.
 */
export function pixelsOf(page: Page, selector: string, hex: string, host?: string): Promise<number> {
  return page.evaluate(
    ({ selector, hex, host }) => {
      const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      let n = 0;
      const root: ParentNode = host ? document.querySelector(host)!.shadowRoot! : document;
      for (const c of root.querySelectorAll<HTMLCanvasElement>(selector)) {
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] > 200 && Math.abs(data[i] - want[0]) + Math.abs(data[i + 1] - want[1]) + Math.abs(data[i + 2] - want[2]) < 40) n++;
        }
      }
      return n;
    },
    { selector, hex, host },
  );
}
