/**
 * One chart, drawn with uPlot: line, area or stacked bars, one series per group; a headline
 * number, a legend with live values, a tooltip, units, UTC or the viewer's zone, light and dark.
 * Keyboard: the plot takes focus and the arrow keys move the cursor bucket by bucket; "Table"
 * shows the same numbers as a table (what screen readers read). Shared by the web UI and the
 * embed script.
 */
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';
import chartCss from './chart.css';

export const CHART_CSS = uplotCss + chartCss;

export interface ChartSpec {
  id?: string;
  title: string;
  metric: string;
  aggregation: string;
  group_by: string[];
  filters: Record<string, string[]>;
  type: 'line' | 'area' | 'bar';
  unit: string;
}

export interface Series {
  group: Record<string, string | null>;
  time: string[];
  values: Record<string, Array<number | null>>;
}

export interface QueryResult {
  tenant: string;
  metric: string;
  from: string;
  to: string;
  step: string;
  series: Series[];
  truncated?: boolean;
}

export interface TimeRange {
  /** `now-24h` or an ISO time. */
  from: string;
  to: string;
}

export type Theme = 'light' | 'dark';
export type Zone = 'utc' | 'local';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const STEPS: Array<[string, number]> = [
  ['1m', 60_000],
  ['5m', 300_000],
  ['15m', 900_000],
  ['1h', 3_600_000],
  ['6h', 21_600_000],
  ['1d', 86_400_000],
  ['7d', 604_800_000],
];

/** A time of a range as epoch ms. */
export function timeOf(v: string, now: number): number {
  const rel = /^now(?:-(\d{1,6})([smhd]))?$/.exec(v);
  if (rel) return rel[1] ? now - Number(rel[1]) * UNITS[rel[2]] : now;
  return Date.parse(v);
}

/** The step that draws a range in at most about 150 buckets. */
export function stepFor(from: number, to: number): string {
  return (STEPS.find(([, ms]) => (to - from) / ms <= 150) ?? STEPS[STEPS.length - 1])[0];
}

/** The query of a chart over a range (relative times stay relative, so the server's now is used). */
export function queryFor(spec: ChartSpec, range: TimeRange, tenant?: string): Record<string, unknown> {
  const now = Date.now();
  const q: Record<string, unknown> = {
    metric: spec.metric,
    from: range.from,
    to: range.to,
    step: stepFor(timeOf(range.from, now), timeOf(range.to, now)),
    aggregations: [spec.aggregation],
  };
  if (tenant) q.tenant = tenant;
  if (spec.group_by.length > 0) q.group_by = spec.group_by;
  if (Object.keys(spec.filters).length > 0) q.filters = spec.filters;
  return q;
}

const fn = (spec: ChartSpec): string => spec.aggregation.split(':')[0];

/** The headline: the total for counts and sums, the extreme for min and max, else the mean. */
export function summarize(spec: ChartSpec, r: QueryResult): { value: number | null; label: string } {
  const all = r.series.flatMap((s) => s.values[spec.aggregation] ?? []).filter((v): v is number => v !== null);
  const f = fn(spec);
  if (f === 'count' || f === 'sum') return { value: all.reduce((a, b) => a + b, 0), label: 'total' };
  if (all.length === 0) return { value: null, label: f };
  if (f === 'min') return { value: Math.min(...all), label: 'lowest' };
  if (f === 'max') return { value: Math.max(...all), label: 'highest' };
  return { value: all.reduce((a, b) => a + b, 0) / all.length, label: 'average' };
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
export const formatNumber = (v: number | null, unit = ''): string => (v === null ? '–' : numberFormat.format(v) + (unit ? ` ${unit}` : ''));

export function formatTime(ms: number, zone: Zone, withDate = true): string {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: zone === 'utc' ? 'UTC' : undefined,
    ...(withDate ? { month: 'short', day: 'numeric' } : {}),
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(ms) + (zone === 'utc' ? ' UTC' : '');
}

const PALETTE: Record<Theme, string[]> = {
  light: ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'],
  dark: ['#60a5fa', '#fbbf24', '#34d399', '#f472b6', '#a78bfa', '#22d3ee', '#a3e635', '#f87171'],
};
const AXIS: Record<Theme, { stroke: string; grid: string }> = {
  light: { stroke: '#475569', grid: 'rgba(15,23,42,0.08)' },
  dark: { stroke: '#cbd5e1', grid: 'rgba(226,232,240,0.10)' },
};

export const seriesColor = (theme: Theme, i: number): string => PALETTE[theme][i % PALETTE[theme].length];

function groupLabel(s: Series, spec: ChartSpec): string {
  const parts = spec.group_by.map((g) => s.group[g] ?? '(none)');
  return parts.length > 0 ? parts.join(' · ') : spec.title;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

let uid = 0;

export interface ChartOptions {
  theme: Theme;
  zone: Zone;
  /** Plot height in pixels. */
  height: number;
  /** Extra buttons for the chart's header (edit, move, delete in the dashboard editor). */
  actions?: HTMLElement[];
}

/**
 * @example
 *   const view = new ChartView(host, { theme: 'light', zone: 'utc', height: 220 });
 *   view.loading(spec); view.render(spec, result);
 */
export class ChartView {
  readonly root: HTMLElement;
  private readonly body: HTMLElement;
  private readonly headline: HTMLElement;
  private readonly titleEl: HTMLElement;
  private readonly tableButton: HTMLButtonElement;
  private plot: uPlot | null = null;
  private resize: ResizeObserver | null = null;
  private showTable = false;
  private last: { spec: ChartSpec; result: QueryResult } | null = null;
  /** What was drawn: per series, its label, colour and values (read by tests and the table). */
  drawn: Array<{ label: string; color: string; values: Array<number | null> }> = [];

  constructor(
    host: HTMLElement,
    private opts: ChartOptions,
  ) {
    const id = `sl-chart-${++uid}`;
    this.root = el('figure', { class: 'sl-chart', role: 'group', 'aria-labelledby': `${id}-title` });
    const head = el('div', { class: 'sl-head' });
    this.titleEl = el('figcaption', { class: 'sl-title', id: `${id}-title` });
    this.tableButton = el('button', { type: 'button', class: 'sl-button sl-small', 'aria-pressed': 'false' }, 'Table');
    this.tableButton.addEventListener('click', () => {
      this.showTable = !this.showTable;
      this.tableButton.setAttribute('aria-pressed', String(this.showTable));
      if (this.last) this.render(this.last.spec, this.last.result);
    });
    const tools = el('div', { class: 'sl-tools' });
    tools.append(this.tableButton, ...(opts.actions ?? []));
    head.append(this.titleEl, tools);
    this.headline = el('p', { class: 'sl-headline', 'aria-live': 'polite' });
    this.body = el('div', { class: 'sl-body' });
    this.body.style.minHeight = `${opts.height}px`;
    this.root.append(head, this.headline, this.body);
    host.append(this.root);
  }

  setOptions(o: Partial<ChartOptions>): void {
    this.opts = { ...this.opts, ...o };
    if (this.last) this.render(this.last.spec, this.last.result);
  }

  private clear(): void {
    this.plot?.destroy();
    this.plot = null;
    this.resize?.disconnect();
    this.resize = null;
    this.body.replaceChildren();
    this.drawn = [];
  }

  loading(spec: ChartSpec): void {
    this.titleEl.textContent = spec.title;
    this.root.setAttribute('aria-busy', 'true');
    this.root.dataset.state = 'loading';
    if (!this.last) {
      this.headline.textContent = '';
      this.body.replaceChildren(el('div', { class: 'sl-state sl-loading' }, 'Loading…'));
    }
  }

  error(spec: ChartSpec | null, message: string, code?: string): void {
    this.clear();
    this.last = null;
    if (spec) this.titleEl.textContent = spec.title;
    this.root.removeAttribute('aria-busy');
    this.root.dataset.state = 'error';
    this.headline.textContent = '';
    const box = el('div', { class: 'sl-state sl-error', role: 'alert' });
    box.append(el('strong', {}, 'This chart cannot be shown. '), el('span', { class: 'sl-error-message' }, message));
    if (code) box.append(' ', el('code', { class: 'sl-error-code' }, code));
    this.body.append(box);
  }

  render(spec: ChartSpec, result: QueryResult): void {
    this.clear();
    this.last = { spec, result };
    this.titleEl.textContent = spec.title;
    this.root.removeAttribute('aria-busy');
    const { theme, zone, height } = this.opts;
    const sum = summarize(spec, result);
    const value = el('span', { class: 'sl-value', 'data-value': sum.value === null ? '' : String(sum.value) }, formatNumber(sum.value));
    const rangeText = `${formatTime(Date.parse(result.from), zone)} – ${formatTime(Date.parse(result.to), zone)}`;
    this.headline.replaceChildren(value, el('span', { class: 'sl-unit' }, spec.unit ? ` ${spec.unit}` : ''), el('span', { class: 'sl-label' }, ` ${sum.label}, ${rangeText}`));
    const series = result.series;
    const hasData = series.some((s) => (s.values[spec.aggregation] ?? []).some((v) => v !== null && v !== 0));
    if (series.length === 0 || !hasData) {
      this.root.dataset.state = 'empty';
      this.body.append(el('div', { class: 'sl-state sl-empty' }, 'No data in this range.'));
      return;
    }
    this.root.dataset.state = 'ready';
    // Counts and sums of an empty bucket are 0 (drawn as such); other aggregations have no value there.
    const additive = fn(spec) === 'count' || fn(spec) === 'sum';
    this.drawn = series.map((s, i) => {
      const values = s.values[spec.aggregation] ?? [];
      return { label: groupLabel(s, spec), color: seriesColor(theme, i), values: additive ? values.map((v) => v ?? 0) : values };
    });
    if (result.truncated) this.headline.append(el('span', { class: 'sl-note' }, ' (only the first 200 groups are shown)'));
    if (this.showTable) {
      this.body.append(this.table(spec, series[0].time));
      return;
    }
    this.draw(spec, series[0].time.map((t) => Date.parse(t) / 1000), height, theme, zone);
  }

  private table(spec: ChartSpec, times: string[]): HTMLElement {
    const wrap = el('div', { class: 'sl-table-wrap', tabindex: '0', role: 'region', 'aria-label': `${spec.title} as a table` });
    const table = el('table', { class: 'sl-table' });
    table.append(el('caption', {}, `${spec.title}${spec.unit ? ` (${spec.unit})` : ''}`));
    const head = el('tr');
    head.append(el('th', { scope: 'col' }, 'Time'), ...this.drawn.map((d) => el('th', { scope: 'col' }, d.label)));
    table.append(el('thead'), el('tbody'));
    table.tHead!.append(head);
    times.forEach((t, i) => {
      const row = el('tr');
      row.append(el('th', { scope: 'row' }, formatTime(Date.parse(t), this.opts.zone)), ...this.drawn.map((d) => el('td', {}, formatNumber(d.values[i] ?? null))));
      table.tBodies[0].append(row);
    });
    wrap.append(table);
    return wrap;
  }

  private draw(spec: ChartSpec, xs: number[], height: number, theme: Theme, zone: Zone): void {
    const stacked = spec.type === 'bar';
    const raw = this.drawn.map((d) => d.values);
    // Stacked bars: each series drawn at its running total, the tallest first so each shows above the next.
    const plotted = stacked ? raw.map((_, i) => xs.map((__, j) => raw.slice(i).reduce((a, s) => a + (s[j] ?? 0), 0))) : raw;
    const wrap = el('div', { class: 'sl-plot', tabindex: '0', role: 'img' });
    const sum = summarize(spec, this.last!.result);
    wrap.setAttribute(
      'aria-label',
      `${spec.title}: ${spec.type} chart of ${spec.aggregation} of ${spec.metric}${spec.group_by.length ? ` by ${spec.group_by.join(' and ')}` : ''}, ${this.drawn.length} series, ${sum.label} ${formatNumber(sum.value, spec.unit)}. Use the arrow keys to read values, or the Table button.`,
    );
    const tooltip = el('div', { class: 'sl-tooltip', role: 'status' });
    tooltip.hidden = true;
    this.body.append(wrap, tooltip);
    const axis = AXIS[theme];
    const width = Math.max(200, this.body.clientWidth || 600);
    const yFormat = (v: number): string => compactFormat.format(v);
    const opts: uPlot.Options = {
      width,
      height,
      tzDate: zone === 'utc' ? (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : undefined,
      legend: { live: true },
      cursor: { points: { size: 6 }, focus: { prox: 24 } },
      focus: { alpha: 0.4 },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: axis.stroke, grid: { stroke: axis.grid }, ticks: { stroke: axis.grid } },
        { stroke: axis.stroke, grid: { stroke: axis.grid }, ticks: { stroke: axis.grid }, values: (_u, splits) => splits.map(yFormat), label: spec.unit || undefined, size: 56 },
      ],
      series: [
        { label: zone === 'utc' ? 'Time (UTC)' : 'Time', value: (_u, v) => (v == null ? '–' : formatTime(v * 1000, zone)) },
        ...this.drawn.map((d, i) => ({
          label: d.label,
          stroke: d.color,
          width: stacked ? 0 : 2,
          fill: stacked ? d.color : spec.type === 'area' ? d.color + '33' : undefined,
          paths: stacked ? uPlot.paths.bars!({ size: [0.8, 64] }) : undefined,
          // Gaps are spanned; sparse points are marked, so a lone value still shows.
          spanGaps: true,
          points: { show: !stacked && raw[i].filter((v) => v !== null).length < 40, size: 5, fill: d.color },
          value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx == null ? '–' : formatNumber(raw[i][idx] ?? null, spec.unit)),
        })),
      ],
      hooks: {
        setCursor: [
          (u) => {
            const idx = u.cursor.idx;
            if (idx == null || u.cursor.left == null || u.cursor.left < 0) {
              tooltip.hidden = true;
              return;
            }
            tooltip.replaceChildren(el('div', { class: 'sl-tooltip-time' }, formatTime(xs[idx] * 1000, zone)));
            this.drawn.forEach((d, i) => {
              const line = el('div');
              const swatch = el('span', { class: 'sl-swatch' });
              swatch.style.background = d.color;
              line.append(swatch, `${d.label}: ${formatNumber(raw[i][idx] ?? null, spec.unit)}`);
              tooltip.append(line);
            });
            tooltip.hidden = false;
            const left = Math.min(u.cursor.left + 56, width - 180);
            tooltip.style.transform = `translate(${Math.max(0, left)}px, ${Math.max(0, (u.cursor.top ?? 0) - 10)}px)`;
          },
        ],
      },
    };
    this.plot = new uPlot(opts, [xs, ...plotted] as uPlot.AlignedData, wrap);
    // Keyboard: the arrow keys walk the buckets; Home and End jump; Escape hides the cursor.
    let at = -1;
    wrap.addEventListener('keydown', (e) => {
      const u = this.plot;
      if (!u) return;
      const n = xs.length;
      if (e.key === 'ArrowRight') at = Math.min(n - 1, at + 1);
      else if (e.key === 'ArrowLeft') at = Math.max(0, at < 0 ? n - 1 : at - 1);
      else if (e.key === 'Home') at = 0;
      else if (e.key === 'End') at = n - 1;
      else if (e.key === 'Escape') {
        at = -1;
        u.setCursor({ left: -10, top: -10 });
        return;
      } else return;
      e.preventDefault();
      const top = u.valToPos(plotted[0][at] ?? 0, 'y');
      u.setCursor({ left: u.valToPos(xs[at], 'x'), top });
    });
    this.resize = new ResizeObserver(() => {
      const w = this.body.clientWidth;
      if (this.plot && w > 0 && Math.abs(w - this.plot.width) > 4) this.plot.setSize({ width: w, height });
    });
    this.resize.observe(this.body);
  }

  destroy(): void {
    this.clear();
    this.root.remove();
  }
}
