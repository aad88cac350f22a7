/**
 * The web UI at `/`: sign in with an admin key; the overview across tenants (live); each tenant's
 * dashboards (a grid of saved queries: create, edit, reorder, delete), a time range picker with
 * relative and absolute ranges, auto-refresh, UTC or local time, light or dark. Plain DOM and
 * uPlot; everything it shows comes from the public API with the admin key.
 */
import { ChartView, CHART_CSS, formatNumber, formatTime, queryFor, timeOf, type ChartSpec, type QueryResult, type Theme, type TimeRange, type Zone } from './chart.ts';
import appCss from './app.css';

interface Dashboard {
  id: string;
  tenant: string;
  name: string;
  charts: ChartSpec[];
  position: number;
  version: number;
}

interface OverviewRow {
  minute: string;
  stream: string;
  tenant: string;
  outcome: string;
  code: string;
  n: number;
}

interface Overview {
  now: string;
  minutes: number;
  activity: OverviewRow[];
  dead_letters: Array<{ stream: string; destination: string; code: string; count: number }>;
  intake: { pending_bytes: number; lag_messages: number | null; log_entries: number; oldest_seconds: number | null } | null;
  destinations: Array<{ stream: string; destination: string; status: string; delivered: number; retries: number; dead_lettered: number; last_delivered: string | null }>;
}

const KEY_STORAGE = 'sluice.adminKey';
const PREFS = 'sluice.prefs';
const RANGES: Array<[string, string]> = [
  ['now-1h', 'Last hour'],
  ['now-6h', 'Last 6 hours'],
  ['now-24h', 'Last 24 hours'],
  ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];
const REFRESH: Array<[number, string]> = [
  [0, 'Off'],
  [10, '10 s'],
  [30, '30 s'],
  [60, '1 min'],
  [300, '5 min'],
];

interface Prefs {
  theme: Theme;
  zone: Zone;
  range: TimeRange;
  refresh: number;
}

const defaults: Prefs = {
  theme: matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
  zone: 'local',
  range: { from: 'now-24h', to: 'now' },
  refresh: 30,
};

function loadPrefs(): Prefs {
  try {
    return { ...defaults, ...(JSON.parse(localStorage.getItem(PREFS) ?? '{}') as Partial<Prefs>) };
  } catch {
    return defaults;
  }
}

const state = {
  key: sessionStorage.getItem(KEY_STORAGE) ?? '',
  prefs: loadPrefs(),
  timer: 0,
  views: [] as ChartView[],
};

const savePrefs = (): void => localStorage.setItem(PREFS, JSON.stringify(state.prefs));

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | EventListener> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false) e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? `http_${res.status}`, json?.error?.message ?? `Sluice answered ${res.status}`);
  return json as T;
}

const root = document.getElementById('app')!;
document.head.append(h('style', {}, CHART_CSS + appCss));

function applyTheme(): void {
  document.documentElement.className = `sl-${state.prefs.theme}`;
  document.documentElement.style.colorScheme = state.prefs.theme;
}

function stopTimer(): void {
  window.clearInterval(state.timer);
  state.timer = 0;
}

function every(seconds: number, fn: () => void): void {
  stopTimer();
  if (seconds > 0) state.timer = window.setInterval(fn, seconds * 1000);
}

function clearViews(): void {
  for (const v of state.views) v.destroy();
  state.views = [];
}

function announce(text: string): void {
  const live = document.getElementById('sl-announce');
  if (live) live.textContent = text;
}

// ---- sign-in ----------------------------------------------------------------------------

function signIn(message?: string): void {
  stopTimer();
  clearViews();
  const input = h('input', { id: 'admin-key', name: 'key', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'key-help' });
  const error = h('p', { class: 'error', role: 'alert', id: 'sign-in-error' }, message ?? '');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sluice'),
    h('label', { for: 'admin-key' }, 'Admin key'),
    input,
    h('p', { id: 'key-help', class: 'help' }, 'An admin key from `sluice keys create --tenant "*" --kind admin` (sluice dev prints one). It stays in this tab only.'),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      state.key = input.value.trim();
      try {
        await api('GET', '/v1/admin/tenants');
        sessionStorage.setItem(KEY_STORAGE, state.key);
        route();
      } catch (err) {
        state.key = '';
        error.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : 'Sluice could not be reached.';
        input.focus();
      }
    })();
  });
  root.replaceChildren(h('main', { class: 'center' }, form));
  input.focus();
}

// ---- the frame: header, navigation, range, refresh, zone, theme ---------------------------------

function rangeLabel(r: TimeRange): string {
  const preset = RANGES.find(([v]) => v === r.from && r.to === 'now');
  if (preset) return preset[1];
  return `${formatTime(timeOf(r.from, Date.now()), state.prefs.zone)} – ${formatTime(timeOf(r.to, Date.now()), state.prefs.zone)}`;
}

/** datetime-local text of an instant, in the chosen zone. */
function toInput(ms: number): string {
  const d = new Date(state.prefs.zone === 'utc' ? ms : ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function fromInput(v: string): number {
  return state.prefs.zone === 'utc' ? Date.parse(`${v}:00Z`) : new Date(v).getTime();
}

function toolbar(onChange: () => void, live: boolean): HTMLElement {
  const p = state.prefs;
  const rangeSelect = h('select', { id: 'range', 'aria-label': 'Time range' }, ...RANGES.map(([v, l]) => h('option', { value: v, selected: p.range.from === v && p.range.to === 'now' }, l)), h('option', { value: 'custom', selected: !RANGES.some(([v]) => v === p.range.from && p.range.to === 'now') }, 'Custom…'));
  const now = Date.now();
  const fromIn = h('input', { type: 'datetime-local', id: 'range-from', value: toInput(timeOf(p.range.from, now)) });
  const toIn = h('input', { type: 'datetime-local', id: 'range-to', value: toInput(timeOf(p.range.to, now)) });
  const customError = h('span', { class: 'error', role: 'alert' });
  const custom = h(
    'form',
    { class: 'custom-range', hidden: rangeSelect.value !== 'custom', 'aria-label': 'Absolute time range' },
    h('label', { for: 'range-from' }, 'From'),
    fromIn,
    h('label', { for: 'range-to' }, 'To'),
    toIn,
    h('button', { type: 'submit' }, 'Apply'),
    customError,
  );
  custom.addEventListener('submit', (e) => {
    e.preventDefault();
    const from = fromInput(fromIn.value);
    const to = fromInput(toIn.value);
    if (!(to > from)) {
      customError.textContent = 'The end must be after the start.';
      return;
    }
    customError.textContent = '';
    p.range = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    savePrefs();
    onChange();
  });
  rangeSelect.addEventListener('change', () => {
    custom.hidden = rangeSelect.value !== 'custom';
    if (rangeSelect.value !== 'custom') {
      p.range = { from: rangeSelect.value, to: 'now' };
      savePrefs();
      onChange();
    } else fromIn.focus();
  });
  const refresh = h('select', { id: 'refresh', 'aria-label': 'Auto-refresh' }, ...REFRESH.map(([v, l]) => h('option', { value: String(v), selected: p.refresh === v }, l)));
  refresh.addEventListener('change', () => {
    p.refresh = Number(refresh.value);
    savePrefs();
    onChange();
  });
  const zone = h('select', { id: 'zone', 'aria-label': 'Time zone' }, h('option', { value: 'local', selected: p.zone === 'local' }, `Local (${Intl.DateTimeFormat().resolvedOptions().timeZone})`), h('option', { value: 'utc', selected: p.zone === 'utc' }, 'UTC'));
  zone.addEventListener('change', () => {
    p.zone = zone.value as Zone;
    savePrefs();
    for (const v of state.views) v.setOptions({ zone: p.zone });
    onChange();
  });
  const theme = h('button', { type: 'button', id: 'theme', 'aria-pressed': String(p.theme === 'dark') }, p.theme === 'dark' ? 'Dark' : 'Light');
  theme.setAttribute('aria-label', 'Dark theme');
  theme.addEventListener('click', () => {
    p.theme = p.theme === 'dark' ? 'light' : 'dark';
    savePrefs();
    applyTheme();
    theme.textContent = p.theme === 'dark' ? 'Dark' : 'Light';
    theme.setAttribute('aria-pressed', String(p.theme === 'dark'));
    for (const v of state.views) v.setOptions({ theme: p.theme });
  });
  return h(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'View options' },
    live ? null : h('span', { class: 'field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, 'Range'), rangeSelect),
    live ? null : custom,
    h('span', { class: 'field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, 'Refresh'), refresh),
    h('span', { class: 'field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, 'Times'), zone),
    theme,
  );
}

function frame(active: 'overview' | 'dashboards', content: HTMLElement, tools: HTMLElement): void {
  const signOut = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOut.addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = '';
    location.hash = '';
    signIn();
  });
  root.replaceChildren(
    h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'Sluice'),
      h(
        'nav',
        { 'aria-label': 'Sections' },
        h('a', { href: '#/overview', 'aria-current': active === 'overview' ? 'page' : false }, 'Overview'),
        h('a', { href: '#/dashboards', 'aria-current': active === 'dashboards' ? 'page' : false }, 'Dashboards'),
      ),
      tools,
      signOut,
    ),
    h('main', { id: 'main', tabindex: '-1' }, content),
    h('div', { id: 'sl-announce', class: 'visually-hidden', 'aria-live': 'polite' }),
  );
}

function failed(e: unknown): void {
  if (e instanceof ApiError && (e.status === 401 || e.status === 403)) signIn(`${e.message} (${e.code})`);
}

// ---- overview --------------------------------------------------------------------------------

function table(caption: string, head: string[], rows: Array<Array<string | Node>>, empty: string): HTMLElement {
  if (rows.length === 0) return h('section', { class: 'card' }, h('h2', {}, caption), h('p', { class: 'muted' }, empty));
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, caption),
    h('table', { class: 'data' }, h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c)))))),
  );
}

function overviewPage(): void {
  clearViews();
  // A draw that finishes after the page was left finds other views, and stops.
  const views: ChartView[] = (state.views = []);
  const content = h('div', { class: 'overview' }, h('h1', {}, 'Overview'), h('p', { class: 'muted' }, 'All tenants, the last hour, live.'));
  const chartHost = h('div', { class: 'grid' });
  const tables = h('div', { class: 'grid' });
  content.append(chartHost, tables);
  const draw = async (): Promise<void> => {
    let o: Overview;
    try {
      o = await api<Overview>('GET', '/v1/admin/overview?minutes=60');
    } catch (e) {
      if (state.views !== views) return;
      failed(e);
      views[0]?.error(null, e instanceof Error ? e.message : 'failed');
      return;
    }
    const end = Math.floor(Date.parse(o.now) / 60_000) * 60_000;
    const times = Array.from({ length: o.minutes + 1 }, (_, i) => new Date(end - (o.minutes - i) * 60_000).toISOString());
    const index = new Map(times.map((t, i) => [t, i]));
    const perStream = new Map<string, Array<number | null>>();
    const failures = new Map<string, number>();
    for (const r of o.activity) {
      if (r.outcome === 'retried') continue;
      const i = index.get(r.minute);
      if (r.outcome === 'failed' || r.outcome === 'dead_lettered') failures.set(`${r.stream}\u0000${r.outcome}\u0000${r.code}`, (failures.get(`${r.stream}\u0000${r.outcome}\u0000${r.code}`) ?? 0) + r.n);
      if (i === undefined) continue;
      const key = `${r.stream} · ${r.tenant}`;
      let s = perStream.get(key);
      if (!s) perStream.set(key, (s = new Array(times.length).fill(0)));
      s[i] = (s[i] ?? 0) + r.n;
    }
    const spec: ChartSpec = { title: 'Records per minute, by stream and tenant', metric: 'activity', aggregation: 'count', group_by: ['stream · tenant'], filters: {}, type: 'bar', unit: 'records' };
    const result: QueryResult = {
      tenant: '*',
      metric: 'activity',
      from: times[0],
      to: new Date(end + 60_000).toISOString(),
      step: '1m',
      series: [...perStream.entries()].sort().map(([k, values]) => ({ group: { 'stream · tenant': k }, time: times, values: { count: values } })),
    };
    if (state.views !== views) return;
    if (!views[0]) views.push(new ChartView(chartHost, { theme: state.prefs.theme, zone: state.prefs.zone, height: 240 }));
    views[0].render(spec, result);
    const badge = (s: string): HTMLElement => h('span', { class: `badge ${s}` }, s.replace('_', ' '));
    const intake = o.intake;
    tables.replaceChildren(
      table(
        'Destinations',
        ['Stream', 'Destination', 'Health', 'Delivered (15 min)', 'Retries', 'Dead-lettered', 'Last delivery'],
        o.destinations.map((d) => [d.stream, d.destination, badge(d.status), formatNumber(d.delivered), formatNumber(d.retries), formatNumber(d.dead_lettered), d.last_delivered ? formatTime(Date.parse(d.last_delivered), state.prefs.zone) : '–']),
        'No streams are configured.',
      ),
      table(
        'Failed and dead-lettered (last hour)',
        ['Stream', 'Outcome', 'Code', 'Records'],
        [...failures.entries()].map(([k, n]) => {
          const [stream, outcome, code] = k.split('\u0000');
          return [stream, outcome.replace('_', ' '), h('code', {}, code), formatNumber(n)];
        }),
        'Nothing failed in the last hour.',
      ),
      table('Dead letters waiting', ['Stream', 'Destination', 'Code', 'Records'], o.dead_letters.map((d) => [d.stream, d.destination, h('code', {}, d.code), formatNumber(d.count)]), 'No dead letters are waiting.'),
      table(
        'Intake',
        ['Pending in this process', 'JetStream lag', 'Intake log entries', 'Oldest entry'],
        intake ? [[`${formatNumber(Math.round(intake.pending_bytes / 1024))} KiB`, intake.lag_messages === null ? 'not used' : formatNumber(intake.lag_messages), formatNumber(intake.log_entries), intake.oldest_seconds === null ? '–' : `${formatNumber(Math.round(intake.oldest_seconds))} s`]] : [],
        'Not available.',
      ),
    );
    announce(`Overview updated at ${formatTime(Date.now(), state.prefs.zone, false)}`);
  };
  frame('overview', content, toolbar(() => overviewPage(), true));
  void draw();
  every(state.prefs.refresh || 10, () => void draw());
}

// ---- dashboards -----------------------------------------------------------------------------

interface Catalog {
  metrics: Array<{ name: string; measures: string[]; dimensions: string[] }>;
}

function chartDialog(tenant: string, initial: ChartSpec | null, onSave: (spec: ChartSpec) => Promise<void>): void {
  const dialog = h('dialog', { class: 'editor', 'aria-labelledby': 'editor-title' });
  const c = initial ?? { title: '', metric: '', aggregation: 'count', group_by: [], filters: {}, type: 'line', unit: '' };
  const [fn0, measure0] = c.aggregation.split(':');
  const field = (id: string, label: string, control: HTMLElement, help?: string): HTMLElement =>
    h('div', { class: 'row' }, h('label', { for: id }, label), control, help ? h('small', { id: `${id}-help` }, help) : null);
  const title = h('input', { id: 'chart-title', value: c.title, maxlength: '120', required: true });
  const metric = h('input', { id: 'chart-metric', value: c.metric, list: 'metric-list', required: true, autocomplete: 'off' });
  const metricList = h('datalist', { id: 'metric-list' });
  const fnSelect = h('select', { id: 'chart-fn' }, ...['count', 'sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'].map((f) => h('option', { value: f, selected: f === fn0 }, f)));
  const measure = h('input', { id: 'chart-measure', value: measure0 ?? '', list: 'measure-list', autocomplete: 'off' });
  const measureList = h('datalist', { id: 'measure-list' });
  const groupBy = h('input', { id: 'chart-group', value: c.group_by.join(', '), list: 'dimension-list', autocomplete: 'off', 'aria-describedby': 'chart-group-help' });
  const dimensionList = h('datalist', { id: 'dimension-list' });
  const filters = h('textarea', { id: 'chart-filters', rows: '2', 'aria-describedby': 'chart-filters-help' });
  filters.value = Object.entries(c.filters).map(([k, v]) => `${k}=${v.join(',')}`).join('\n');
  const type = h('select', { id: 'chart-type' }, ...[['line', 'Line'], ['area', 'Area'], ['bar', 'Stacked bars']].map(([v, l]) => h('option', { value: v, selected: v === c.type }, l)));
  const unit = h('input', { id: 'chart-unit', value: c.unit, maxlength: '16' });
  const error = h('p', { class: 'error', role: 'alert' });
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: 'editor-title' }, initial ? 'Edit chart' : 'Add a chart'),
    field('chart-title', 'Title', title),
    field('chart-metric', 'Metric', metric),
    metricList,
    field('chart-fn', 'Aggregation', fnSelect),
    field('chart-measure', 'Measure (for sum, avg, min, max, percentiles)', measure),
    measureList,
    field('chart-group', 'Group by (up to 2 dimensions, comma-separated)', groupBy, 'One series per value, e.g. scanner'),
    dimensionList,
    field('chart-filters', 'Filters (one per line: dimension=value,value)', filters, 'Only points whose dimension has one of the values'),
    field('chart-type', 'Chart type', type),
    field('chart-unit', 'Unit', unit),
    error,
    h('div', { class: 'actions' }, cancel, h('button', { type: 'submit', class: 'primary' }, 'Save chart')),
  );
  const fillMeasures = (cat: Catalog): void => {
    const m = cat.metrics.find((x) => x.name === metric.value);
    measureList.replaceChildren(...(m?.measures ?? []).map((x) => h('option', { value: x })));
    dimensionList.replaceChildren(...(m?.dimensions ?? []).map((x) => h('option', { value: x })));
  };
  void api<Catalog>('GET', `/v1/catalog?tenant=${encodeURIComponent(tenant)}`).then((cat) => {
    metricList.replaceChildren(...cat.metrics.map((m) => h('option', { value: m.name })));
    fillMeasures(cat);
    metric.addEventListener('change', () => fillMeasures(cat));
  }, failed);
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f: Record<string, string[]> = {};
    for (const line of filters.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const m = /^([^=]+)=(.+)$/.exec(line);
      if (!m) {
        error.textContent = `Filter "${line}" is not dimension=value,value.`;
        filters.focus();
        return;
      }
      f[m[1].trim()] = m[2].split(',').map((v) => v.trim()).filter(Boolean);
    }
    const spec: ChartSpec = {
      ...(initial?.id ? { id: initial.id } : {}),
      title: title.value.trim(),
      metric: metric.value.trim(),
      aggregation: fnSelect.value === 'count' ? 'count' : `${fnSelect.value}:${measure.value.trim()}`,
      group_by: groupBy.value.split(',').map((g) => g.trim()).filter(Boolean),
      filters: f,
      type: type.value as ChartSpec['type'],
      unit: unit.value.trim(),
    };
    onSave(spec).then(
      () => dialog.close(),
      (err: unknown) => {
        error.textContent = err instanceof Error ? err.message : 'Saving failed.';
      },
    );
  });
  dialog.append(form);
  document.body.append(dialog);
  dialog.showModal();
  title.focus();
}

async function dashboardsPage(tenant: string | null, dashboardId: string | null): Promise<void> {
  clearViews();
  stopTimer();
  const views: ChartView[] = (state.views = []);
  let tenants: string[];
  try {
    tenants = (await api<{ tenants: string[] }>('GET', '/v1/admin/tenants')).tenants;
  } catch (e) {
    return failed(e);
  }
  if (state.views !== views) return;
  tenant ??= tenants[0] ?? null;
  const content = h('div', { class: 'dashboards' });
  frame('dashboards', content, toolbar(() => void dashboardsPage(tenant, dashboardId), false));
  if (!tenant) {
    content.append(h('h1', {}, 'Dashboards'), h('p', { class: 'muted' }, 'No tenants yet: create keys with `sluice keys create --tenant acme --kind read`.'));
    return;
  }
  const tenantSelect = h('select', { id: 'tenant', 'aria-label': 'Tenant' }, ...tenants.map((t) => h('option', { value: t, selected: t === tenant }, t)));
  tenantSelect.addEventListener('change', () => (location.hash = `#/t/${encodeURIComponent(tenantSelect.value)}`));
  let list: Dashboard[];
  try {
    list = (await api<{ dashboards: Dashboard[] }>('GET', `/v1/dashboards?tenant=${encodeURIComponent(tenant)}`)).dashboards;
  } catch (e) {
    return failed(e);
  }
  if (state.views !== views) return;
  const current = list.find((d) => d.id === dashboardId) ?? list[0] ?? null;
  const t = tenant;
  const save = async (d: Dashboard, charts: ChartSpec[], name = d.name): Promise<void> => {
    const saved = await api<Dashboard>('PUT', `/v1/dashboards/${d.id}`, { tenant: t, name, charts, version: d.version });
    Object.assign(d, saved);
  };
  const newDashboard = h('button', { type: 'button' }, 'New dashboard');
  newDashboard.addEventListener('click', () => {
    const name = prompt('Name of the new dashboard', 'New dashboard');
    if (!name) return;
    void api<Dashboard>('POST', '/v1/dashboards', { tenant: t, name, charts: [] }).then((d) => (location.hash = `#/t/${encodeURIComponent(t)}/${d.id}`), (e: Error) => alert(e.message));
  });
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': `Dashboards of ${tenant}` },
    ...list.map((d) => h('a', { href: `#/t/${encodeURIComponent(tenant)}/${d.id}`, 'aria-current': d.id === current?.id ? 'page' : false }, d.name)),
  );
  content.append(h('div', { class: 'bar' }, h('h1', {}, 'Dashboards'), h('label', { for: 'tenant', class: 'field-label' }, 'Tenant'), tenantSelect, tabs, newDashboard));
  if (!current) {
    content.append(h('p', { class: 'muted' }, `${tenant} has no dashboards yet.`));
    return;
  }
  const addChart = h('button', { type: 'button', class: 'primary' }, 'Add chart');
  const rename = h('button', { type: 'button' }, 'Rename');
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete dashboard');
  const grid = h('div', { class: 'grid charts', id: 'charts' });
  content.append(h('div', { class: 'bar' }, h('h2', { id: 'dashboard-name' }, current.name), addChart, rename, remove), grid);
  const redraw = (): void => void dashboardsPage(t, current.id);
  addChart.addEventListener('click', () => chartDialog(t, null, async (spec) => {
    await save(current, [...current.charts, spec]);
    redraw();
  }));
  rename.addEventListener('click', () => {
    const name = prompt('New name', current.name);
    if (name) void save(current, current.charts, name).then(redraw, (e: Error) => alert(e.message));
  });
  remove.addEventListener('click', () => {
    if (!confirm(`Delete the dashboard "${current.name}" of ${t}?`)) return;
    void api('DELETE', `/v1/dashboards/${current.id}?tenant=${encodeURIComponent(t)}`).then(() => (location.hash = `#/t/${encodeURIComponent(t)}`), (e: Error) => alert(e.message));
  });
  const move = (i: number, by: number): void => {
    const charts = [...current.charts];
    const [c] = charts.splice(i, 1);
    charts.splice(i + by, 0, c);
    void save(current, charts).then(() => {
      redraw();
      announce(`Moved ${c.title} to position ${i + by + 1}`);
    }, (e: Error) => alert(e.message));
  };
  current.charts.forEach((spec, i) => {
    const button = (label: string, text: string, on: () => void, disabled = false): HTMLButtonElement => {
      const b = h('button', { type: 'button', class: 'sl-button sl-small', 'aria-label': `${label} ${spec.title}`, disabled }, text);
      b.addEventListener('click', on);
      return b;
    };
    const actions = [
      button('Edit', 'Edit', () => chartDialog(t, spec, async (next) => {
        const charts = [...current.charts];
        charts[i] = next;
        await save(current, charts);
        redraw();
      })),
      button('Move earlier:', '←', () => move(i, -1), i === 0),
      button('Move later:', '→', () => move(i, 1), i === current.charts.length - 1),
      button('Delete', 'Delete', () => {
        if (confirm(`Delete the chart "${spec.title}"?`)) void save(current, current.charts.filter((_, j) => j !== i)).then(redraw, (e: Error) => alert(e.message));
      }),
    ];
    const cell = h('div', { class: 'cell' });
    grid.append(cell);
    views.push(new ChartView(cell, { theme: state.prefs.theme, zone: state.prefs.zone, height: 220, actions }));
  });
  if (current.charts.length === 0) grid.append(h('p', { class: 'muted' }, 'No charts yet: add one.'));
  const draw = async (): Promise<void> => {
    if (current.charts.length === 0) return;
    current.charts.forEach((s, i) => views[i].loading(s));
    try {
      // Every chart of the dashboard in one request.
      const { results } = await api<{ results: QueryResult[] }>('POST', '/v1/query', { queries: current.charts.map((s) => queryFor(s, state.prefs.range, t)) });
      if (state.views !== views) return;
      current.charts.forEach((s, i) => views[i].render(s, results[i]));
      announce(`${current.name} updated, ${rangeLabel(state.prefs.range)}`);
    } catch (e) {
      if (state.views !== views) return;
      failed(e);
      const msg = e instanceof ApiError ? e.message : 'Sluice could not be reached.';
      current.charts.forEach((s, i) => views[i].error(s, msg, e instanceof ApiError ? e.code : undefined));
    }
  };
  await draw();
  if (state.views === views) every(state.prefs.refresh, () => void draw());
}

// ---- routing ---------------------------------------------------------------------------------

function route(): void {
  if (!state.key) return signIn();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 't' && parts[1]) void dashboardsPage(parts[1], parts[2] ?? null);
  else if (parts[0] === 'dashboards') void dashboardsPage(null, null);
  else overviewPage();
}

// `sluice dev` prints a sign-in link with the key in the fragment: taken once, then removed from the address.
const fromLink = /^#key=([A-Za-z0-9_.-]+)$/.exec(location.hash);
if (fromLink) {
  state.key = fromLink[1];
  sessionStorage.setItem(KEY_STORAGE, state.key);
  history.replaceState(null, '', location.pathname + '#/dashboards');
}
applyTheme();
addEventListener('hashchange', route);
route();
