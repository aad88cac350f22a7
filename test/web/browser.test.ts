/**
 * The web UI and embedded charts in a real browser (Debian's Chromium through playwright-core).
 *  - `sluice dev`, as `npm start` runs it: sign in with the admin key, the demo tenant's dashboard
 *    draws the demo data (pixels of each series on the canvases, numbers checked against the
 *    query API), the keyboard reads values, charts are added, moved and deleted through the UI,
 *    and the overview shows every tenant's activity.
 *  - A plain page on another origin embeds a chart with `<sluice-chart>` and with an iframe: tenant
 *    A's token shows A's numbers, B's shows B's; expired, tampered and wrong-origin tokens show why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, pixelsOf, screenshot } from '../support/browser.ts';
import { freePort } from '../support/free-port.ts';
import { SLUICE_BIN, waitFor } from '../support/sluice-process.ts';
import { findings, findingsConfig, postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

const BLUE = '#2563eb'; // the first series colour of the light theme
const METRIC = 'findings_upload_completed';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function query(url: string, key: string, body: unknown): Promise<any> {
  const r = await postJson(`${url}/v1/query`, key, body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const sum = (xs: Array<number | null>): number => xs.reduce<number>((a, b) => a + (b ?? 0), 0);

describe('the web UI in Chromium (sluice dev with the demo)', () => {
  let child: ChildProcess;
  let url: string;
  let dataDir: string;
  let admin: string;
  let acmeRead: string;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sluice-ui-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [SLUICE_BIN, 'dev', '--config', 'examples/sluice.config.ts', '--data-dir', dataDir, '--port', String(port)], { cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    await waitFor('sluice dev to start', async () => (out.includes('Sluice dev is running') ? true : undefined), 90_000);
    admin = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    acmeRead = (JSON.parse(readFileSync(join(dataDir, 'demo-keys.json'), 'utf8')) as Record<string, { read: string }>).acme.read;
    // The day of demo history is delivered.
    await waitFor('the demo history', async () => {
      const r = await query(url, acmeRead, { metric: METRIC, from: 'now-25h', step: '1d' });
      return sum(r.results[0].series[0]?.values.count ?? []) >= 288 ? true : undefined;
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    page.on('pageerror', (e) => errors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    child?.kill('SIGTERM');
    await new Promise((r) => (child?.exitCode !== null ? r(null) : child.once('exit', r)));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs in with the admin key, refusing a wrong one', async () => {
    await page.goto(url + '/');
    await page.getByLabel('Admin key').fill('sl_admin_WRONGWRONGWRONGWR_nope');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'invalid_key' }).waitFor();
    await page.getByLabel('Admin key').fill(admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  });

  it('draws the demo tenant’s dashboard: every series on the canvas, the numbers the API gives', async () => {
    const before = await query(url, acmeRead, { queries: [{ metric: METRIC, from: 'now-24h', step: '15m', aggregations: ['count', 'sum:new_findings_count'] }] });
    await page.getByRole('link', { name: 'Dashboards' }).click();
    await page.locator('.sl-chart[data-state="ready"]').nth(3).waitFor();
    const after = await query(url, acmeRead, { queries: [{ metric: METRIC, from: 'now-24h', step: '15m', aggregations: ['count', 'sum:new_findings_count'] }] });
    const titles = await page.locator('.sl-chart .sl-title').allTextContents();
    assert.deepEqual(titles, ['Uploads', 'New findings', 'New findings by scanner', 'Existing findings per upload']);
    // The headline numbers lie between the API's answers just before and just after (the demo keeps sending).
    const values = (await page.locator('.sl-chart .sl-value').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))))) as number[];
    const [b, a] = [before, after].map((r) => r.results[0].series[0].values);
    assert.ok(values[0] >= sum(b.count) && values[0] <= sum(a.count), `uploads ${values[0]} not within ${sum(b.count)}..${sum(a.count)}`);
    assert.ok(values[1] >= sum(b['sum:new_findings_count']) && values[1] <= sum(a['sum:new_findings_count']), `findings ${values[1]}`);
    assert.equal(values[2], values[1], 'the stacked bars by scanner add up to the same total');
    // Each chart drew its first series in the palette's first colour.
    for (let i = 0; i < 4; i++) {
      const n = await pixelsOf(page, `.grid.charts .cell:nth-child(${i + 1}) canvas`, BLUE);
      assert.ok(n > 150, `chart ${i + 1} drew ${n} pixels of its first series`);
    }
    // The by-scanner chart has one series per scanner, named in its legend.
    const legend = await page.locator('.grid.charts .cell:nth-child(3) .u-legend .u-series .u-label').allTextContents();
    const scanners = (await query(url, acmeRead, { metric: METRIC, from: 'now-24h', step: '1d', group_by: ['scanner'] })).results[0].series.map((s: { group: { scanner: string } }) => s.group.scanner);
    assert.deepEqual(legend.slice(1).sort(), scanners.sort());
    await screenshot(page, 'dashboard', { fullPage: true });
  });

  it('is usable from the keyboard: the arrow keys read values; a table view exists for screen readers', async () => {
    const plot = page.locator('.grid.charts .cell:nth-child(1) .sl-plot');
    assert.match((await plot.getAttribute('aria-label')) ?? '', /^Uploads: line chart of count of findings_upload_completed, 1 series, total \d+/);
    await plot.focus();
    await page.keyboard.press('End');
    const tooltip = page.locator('.grid.charts .cell:nth-child(1) .sl-tooltip');
    await tooltip.waitFor({ state: 'visible' });
    assert.match(await tooltip.innerText(), /Uploads: \d+ uploads/);
    await page.getByRole('button', { name: 'Table' }).first().click();
    const rows = await page.locator('.grid.charts .cell:nth-child(1) table tbody tr').count();
    assert.ok(rows >= 96, `the table has ${rows} rows (24 h in 15 min steps)`);
    await page.getByRole('button', { name: 'Table' }).first().click();
  });

  it('switches to UTC and to the dark theme', async () => {
    await page.getByLabel('Time zone').selectOption('utc');
    await page.waitForFunction(() => document.querySelector('.sl-chart .sl-label')?.textContent?.includes('UTC'));
    await page.getByRole('button', { name: 'Dark theme' }).click();
    assert.equal(await page.evaluate(() => document.documentElement.className), 'sl-dark');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(30, 41, 59)');
    await screenshot(page, 'dashboard-dark', { fullPage: true });
    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.getByLabel('Time zone').selectOption('local');
  });

  it('adds, moves and deletes a chart through the UI, stored in the database', async () => {
    const stored = async () => {
      const r = await fetch(`${url}/v1/dashboards?tenant=acme`, { headers: { authorization: `Bearer ${admin}` } });
      return ((await r.json()) as { dashboards: Array<{ charts: Array<{ title: string; aggregation: string; type: string }> }> }).dashboards[0].charts;
    };
    await page.getByRole('button', { name: 'Add chart' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a chart' });
    await dialog.getByLabel('Title').fill('Most existing findings');
    await dialog.getByLabel('Metric').fill(METRIC);
    await dialog.getByLabel('Aggregation').selectOption('max');
    await dialog.getByLabel(/^Measure/).fill('existing_findings_count');
    await dialog.getByLabel('Chart type').selectOption('bar');
    await dialog.getByRole('button', { name: 'Save chart' }).click();
    await page.locator('.sl-chart[data-state="ready"]').nth(4).waitFor();
    let charts = await stored();
    assert.deepEqual(charts.at(-1), { ...charts.at(-1), title: 'Most existing findings', aggregation: 'max:existing_findings_count', type: 'bar' });
    await page.getByRole('button', { name: 'Move earlier: Most existing findings' }).click();
    await waitFor('the move to be stored', async () => ((await stored())[3].title === 'Most existing findings' ? true : undefined), 10_000);
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete Most existing findings' }).click();
    await waitFor('the delete to be stored', async () => ((await stored()).length === 4 ? true : undefined), 10_000);
    charts = await stored();
    assert.ok(!charts.some((c) => c.title === 'Most existing findings'));
  });

  it('shows the overview across tenants: records per minute and destination health', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    // The overview's own chart: the dashboard's charts may still be on the page as the link is followed.
    await page.locator('.overview .sl-chart[data-state="ready"]').first().waitFor();
    const legend = await page.locator('.overview .u-legend .u-series .u-label').allTextContents();
    for (const t of ['acme', 'globex', 'initech']) assert.ok(legend.includes(`metrics · ${t}`), `${t} in ${legend.join(', ')}`);
    assert.ok((await pixelsOf(page, '.overview canvas', BLUE)) > 20);
    const health = await page.locator('section.card', { hasText: 'Destinations' }).locator('tbody tr').allInnerTexts();
    assert.ok(health.some((r) => /metrics\s+metrics\s+ok/.test(r)), health.join(' | '));
    await screenshot(page, 'overview', { fullPage: true });
    assert.deepEqual(errors, []);
  });
});

describe('embedded charts on another origin, in Chromium', () => {
  const SECRET = 'browser-test-embed-secret-0123456789-abcdef';
  let s: TestSluice;
  let site: Server;
  let siteUrl: string;
  let pageHtml = '';
  let browser: Browser;
  let page: Page;
  const keys: Record<string, string> = {};

  before(async () => {
    process.env.SLUICE_BROWSER_EMBED_SECRET = SECRET;
    s = await startTestSluice('PGlite', findingsConfig({ embed: { secret: { env: 'SLUICE_BROWSER_EMBED_SECRET' } } }));
    const at = new Date(Date.now() - 20 * 60_000);
    for (const [t, n, each] of [['tenant-a', 3, 7], ['tenant-b', 4, 50]] as const) {
      keys[t] = (await s.keys.create(t, 'read')).key;
      const ingest = (await s.keys.create(t, 'ingest')).key;
      assert.equal((await postJson(`${s.url}/v1/events`, ingest, Array.from({ length: n }, (_, i) => findings(t, `${t}-${i}`, at, each)))).status, 200);
    }
    await waitFor('delivery', async () => {
      const r = await query(s.url, keys['tenant-b'], { metric: METRIC, from: 'now-1h', step: '1h' });
      return sum(r.results[0].series[0]?.values.count ?? []) === 4 ? true : undefined;
    });
    // The customer's site: another origin (another port), a plain page.
    site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(pageHtml));
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 900, height: 560 }, colorScheme: 'light' });
  });

  after(async () => {
    await browser?.close();
    await new Promise((r) => site?.close(r));
    await s?.close();
  });

  const mint = async (tenant: string, origins: string[]): Promise<string> => {
    const r = await postJson(`${s.url}/v1/embed-tokens`, keys[tenant], { metrics: [METRIC], origins, expires_in: 600 });
    assert.equal(r.status, 201);
    return r.body.token;
  };

  const show = async (token: string): Promise<void> => {
    pageHtml = `<!doctype html><html><head><title>Customer app</title></head><body style="font-family:system-ui;margin:24px">
<h1 style="font-size:18px">Your security findings</h1>
<sluice-chart id="c" token="${token}" metric="${METRIC}" aggregation="sum:new_findings_count" type="area" unit="findings" title="New findings, last hour" range="now-1h" theme="light" height="240"></sluice-chart>
<script src="${s.url}/embed.js"></script></body></html>`;
    await page.goto(siteUrl + '/');
    await page.waitForFunction(() => ['ready', 'error'].includes((document.getElementById('c') as HTMLElement | null)?.dataset.state ?? ''));
  };

  const headline = (): Promise<number> => page.evaluate(() => Number(document.getElementById('c')!.shadowRoot!.querySelector('.sl-value')!.getAttribute('data-value')));
  const errorText = (): Promise<string> => page.evaluate(() => document.getElementById('c')!.shadowRoot!.querySelector('[role="alert"]')?.textContent ?? '');

  it('tenant A’s token shows A’s numbers, drawn', async () => {
    await show(await mint('tenant-a', [siteUrl]));
    assert.equal(await headline(), 21);
    await screenshot(page, 'embedded-chart');
    const drawn = await pixelsOf(page, 'canvas', BLUE, '#c');
    assert.ok(drawn > 100, `${drawn} pixels of the series`);
  });

  it('tenant B’s token shows B’s numbers', async () => {
    await show(await mint('tenant-b', [siteUrl]));
    assert.equal(await headline(), 200);
  });

  it('an expired token shows the error, and no numbers', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ metrics: [METRIC], origins: [siteUrl] })
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience('sluice:embed')
      .setSubject('tenant-a')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(new TextEncoder().encode(SECRET));
    await show(expired);
    assert.match(await errorText(), /expired/);
    assert.equal(await page.evaluate(() => document.getElementById('c')!.dataset.error), 'embed_token_expired');
    assert.equal(await page.evaluate(() => document.getElementById('c')!.shadowRoot!.querySelector('.sl-value')), null);
    await screenshot(page, 'embedded-chart-expired');
  });

  it('a tampered token (A’s, rewritten to name B) shows the error', async () => {
    const [h, p, sig] = (await mint('tenant-a', [siteUrl])).split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    await show(`${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'tenant-b' })).toString('base64url')}.${sig}`);
    assert.match(await errorText(), /not valid/);
    assert.equal(await page.evaluate(() => document.getElementById('c')!.dataset.error), 'embed_token_forged');
  });

  it('a token for other origins does not show on this site', async () => {
    await show(await mint('tenant-a', ['https://app.example.com']));
    assert.match(await errorText(), /not allowed/);
    assert.equal(await page.evaluate(() => document.getElementById('c')!.dataset.error), 'forbidden_origin');
  });

  it('the iframe URL shows the chart of the token in its fragment', async () => {
    const token = await mint('tenant-b', []);
    pageHtml = `<!doctype html><html><body><iframe id="f" title="Findings" style="width:800px;height:360px;border:0" src="${s.url}/embed/frame#token=${token}&metric=${METRIC}&aggregation=sum:new_findings_count&range=now-1h&title=Findings"></iframe></body></html>`;
    await page.goto(siteUrl + '/');
    const frame = page.frameLocator('#f');
    await frame.locator('#frame-chart[data-state="ready"]').waitFor();
    const value = await frame.locator('#frame-chart').evaluate((el) => Number(el.shadowRoot!.querySelector('.sl-value')!.getAttribute('data-value')));
    assert.equal(value, 200);
  });
});
