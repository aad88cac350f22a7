/**
 * `embed.js`: the `<sluice-chart>` element for customers' pages, and the iframe page
 * (`/embed/frame#token=…&metric=…`). Attributes:
 *   token       an embed token (POST /v1/embed-tokens, or signed by the customer's backend)
 *   metric      one metric to draw, with aggregation (default count), group-by, type, unit, title
 *   dashboard   or the token's dashboard (every chart of it)
 *   range       `now-24h` (default), `now-7d`, … or "from,to" in ISO 8601
 *   theme       light, dark or auto (the viewer's preference; default)
 *   tz          utc or local (default)
 *   height      plot height in pixels (default 220)
 *   refresh     seconds between redraws (0: never; default 0)
 *   api         Sluice's address (default: where embed.js was loaded from)
 * The element reads through `POST /v1/embed/*` only; when the token is expired, forged or not for
 * this page's origin, it draws nothing and says why.
 */
import { CHART_CSS, ChartView, queryFor, type ChartSpec, type QueryResult, type Theme, type TimeRange, type Zone } from './chart.ts';

const SCRIPT_ORIGIN = (() => {
  const src = (document.currentScript as HTMLScriptElement | null)?.src;
  return src ? new URL(src).origin : location.origin;
})();

const MESSAGES: Record<string, string> = {
  embed_token_missing: 'No access token was given for this chart.',
  embed_token_expired: 'Access to this chart has expired. Reload the page to see it again.',
  embed_token_forged: 'The access token of this chart is not valid (it was altered or not signed by Sluice).',
  embed_token_invalid: 'The access token of this chart is not valid.',
  forbidden_origin: 'This site is not allowed to show this chart.',
  forbidden_metric: 'The access token of this chart does not allow this metric.',
  forbidden_tenant: 'The access token of this chart does not allow this data.',
  not_found: 'This dashboard no longer exists.',
  network: 'Sluice could not be reached.',
};

class EmbedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(api: string, path: string, body: unknown): Promise<T> {
  let res: Response;
  try {
    // text/plain keeps it a CORS "simple" request: no preflight, the token in the body.
    res = await fetch(`${api}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new EmbedError('network', MESSAGES.network);
  }
  const json = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!res.ok || !json) {
    const code = json?.error?.code ?? `http_${res.status}`;
    throw new EmbedError(code, MESSAGES[code] ?? json?.error?.message ?? `Sluice answered ${res.status}.`);
  }
  return json as T;
}

const ATTRIBUTES = ['token', 'metric', 'dashboard', 'aggregation', 'group-by', 'type', 'unit', 'title', 'range', 'theme', 'tz', 'height', 'refresh', 'api'] as const;

export class SluiceChart extends HTMLElement {
  static get observedAttributes(): readonly string[] {
    return ATTRIBUTES;
  }

  private readonly shadow: ShadowRoot;
  private readonly grid: HTMLElement;
  private views: ChartView[] = [];
  private scheduled = false;
  private timer: number | undefined;
  private generation = 0;

  constructor() {
    super();
    this.shadow = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = `${CHART_CSS}
:host { display: block; color-scheme: light dark; }
.sl-grid { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(min(100%, 360px), 1fr)); }
.sl-dash-title { font: 600 15px system-ui, sans-serif; margin: 0 0 8px; color: var(--sl-fg); }`;
    this.grid = document.createElement('div');
    this.shadow.append(style, this.grid);
  }

  connectedCallback(): void {
    this.schedule();
  }

  disconnectedCallback(): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.schedule();
  }

  /** Draws again now (also what `refresh` does). */
  refresh(): Promise<void> {
    return this.draw();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.draw();
      window.clearInterval(this.timer);
      const every = Number(this.getAttribute('refresh') ?? 0);
      if (every >= 5) this.timer = window.setInterval(() => void this.draw(), every * 1000);
    });
  }

  private theme(): Theme {
    const t = this.getAttribute('theme') ?? 'auto';
    if (t === 'light' || t === 'dark') return t;
    return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }

  private range(): TimeRange {
    const r = (this.getAttribute('range') ?? 'now-24h').split(',');
    return { from: r[0].trim(), to: (r[1] ?? 'now').trim() };
  }

  private viewsFor(n: number): ChartView[] {
    const theme = this.theme();
    this.dataset.theme = theme;
    const opts = { theme, zone: (this.getAttribute('tz') === 'utc' ? 'utc' : 'local') as Zone, height: Number(this.getAttribute('height') ?? 220) || 220 };
    if (this.views.length !== n) {
      for (const v of this.views) v.destroy();
      this.views = Array.from({ length: n }, () => new ChartView(this.grid, opts));
    } else for (const v of this.views) v.setOptions(opts);
    return this.views;
  }

  private async draw(): Promise<void> {
    const gen = ++this.generation;
    const token = this.getAttribute('token') ?? '';
    const api = (this.getAttribute('api') ?? SCRIPT_ORIGIN).replace(/\/+$/, '');
    const single: ChartSpec = {
      title: this.getAttribute('title') ?? this.getAttribute('metric') ?? 'Chart',
      metric: this.getAttribute('metric') ?? '',
      aggregation: this.getAttribute('aggregation') ?? 'count',
      group_by: (this.getAttribute('group-by') ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      filters: {},
      type: (['line', 'area', 'bar'].includes(this.getAttribute('type') ?? '') ? this.getAttribute('type') : 'line') as ChartSpec['type'],
      unit: this.getAttribute('unit') ?? '',
    };
    this.grid.className = '';
    try {
      if (!token) throw new EmbedError('embed_token_missing', MESSAGES.embed_token_missing);
      let specs: ChartSpec[];
      if (this.hasAttribute('dashboard') || !this.getAttribute('metric')) {
        const info = await call<{ dashboard: { name: string; charts: ChartSpec[] } | null }>(api, '/v1/embed/info', { token });
        if (!info.dashboard) throw new EmbedError('invalid_embed', 'Give this chart a metric attribute, or a token for a dashboard.');
        specs = info.dashboard.charts;
        this.grid.className = 'sl-grid';
        this.setAttribute('aria-label', info.dashboard.name);
      } else specs = [single];
      if (gen !== this.generation) return;
      const views = this.viewsFor(Math.max(1, specs.length));
      specs.forEach((s, i) => views[i].loading(s));
      if (specs.length === 0) return views[0].error(null, 'This dashboard has no charts yet.');
      const range = this.range();
      const { results } = await call<{ results: QueryResult[] }>(api, '/v1/embed/query', { token, queries: specs.map((s) => queryFor(s, range)) });
      if (gen !== this.generation) return;
      specs.forEach((s, i) => views[i].render(s, results[i]));
      this.dataset.state = 'ready';
    } catch (e) {
      if (gen !== this.generation) return;
      const err = e instanceof EmbedError ? e : new EmbedError('error', 'Something went wrong drawing this chart.');
      const [view] = this.viewsFor(1);
      view.error(single.metric ? single : null, err.message, err.code);
      this.dataset.state = 'error';
      this.dataset.error = err.code;
    }
  }
}

if (!customElements.get('sluice-chart')) customElements.define('sluice-chart', SluiceChart);

// The iframe page: options come from the fragment, never sent to a server.
const frame = document.getElementById('frame-chart');
if (frame && location.pathname.endsWith('/embed/frame')) {
  const apply = (): void => {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const a of ATTRIBUTES) {
      const v = params.get(a);
      if (v === null) frame.removeAttribute(a);
      else frame.setAttribute(a, v);
    }
    frame.setAttribute('api', location.origin);
  };
  apply();
  addEventListener('hashchange', apply);
}
