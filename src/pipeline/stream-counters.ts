/**
 * The process's metrics since it started, exposed on GET /metrics in Prometheus' text format:
 * counters by label set, histograms with fixed buckets, and gauges read when scraped. Labels
 * carry names and codes only, never event content. Small and dependency-free, so the Lambda
 * bundles carry it too.
 *
 * Series:
 * - `sluice_intake_events_total{outcome, code}`: events accepted, or rejected by code.
 * - `sluice_rule_matches_total{rule}`: events each rule matched.
 * - `sluice_stream_records_total{stream, outcome, code}`: records that left a stream: ok,
 *   dropped (by step), failed (by code, to the error output), dead_lettered (by code).
 * - `sluice_destination_batches_total{stream, destination, outcome}`: batches delivered, retried.
 * - `sluice_batch_records{stream}`: records per delivered batch (histogram).
 * - `sluice_delivery_latency_seconds{stream}`: from acceptance to delivery, per record (histogram).
 * - `sluice_intake_pending_bytes`, `sluice_intake_lag_messages`: accepted and not yet delivered.
 * - `sluice_intake_poison_messages_total`: JetStream messages a worker could not read (terminated).
 * - `sluice_stream_held_bytes{stream}`: bytes of records a stream holds in memory (buffered or
 *   being delivered), against its `buffer.max_pending_bytes`.
 * - `sluice_stream_parked_records_total{stream}`: records of a full stream written back to the
 *   intake log to wait there.
 */

export type Outcome = 'ok' | 'dropped' | 'failed' | 'dead_lettered';

const HELP: Record<string, [type: 'counter' | 'histogram' | 'gauge', help: string]> = {
  sluice_intake_events_total: ['counter', 'Events offered to intake: accepted, or rejected by code.'],
  sluice_rule_matches_total: ['counter', 'Events each rule matched.'],
  sluice_stream_records_total: ['counter', 'Records that left a stream, by outcome and code.'],
  sluice_destination_batches_total: ['counter', 'Batches a destination delivered, or attempts (of a batch or of a forwarder request) that failed and were retried.'],
  sluice_intake_poison_messages_total: ['counter', 'JetStream messages a worker could not read as intake entries (terminated).'],
  sluice_stream_parked_records_total: ['counter', 'Records of a stream at its pending limit, parked in the intake log.'],
  sluice_batch_records: ['histogram', 'Records per delivered batch.'],
  sluice_delivery_latency_seconds: ['histogram', 'Time from acceptance to delivery, per record.'],
};

const BUCKETS: Record<string, number[]> = {
  sluice_batch_records: [1, 10, 100, 500, 1000, 5000, 10000],
  sluice_delivery_latency_seconds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
};

type Labels = Record<string, string>;

const labelText = (labels: Labels): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');

interface Histogram {
  labels: Labels;
  counts: number[];
  sum: number;
  count: number;
}

export class StreamCounters {
  private readonly counters = new Map<string, Map<string, { labels: Labels; n: number }>>();
  private readonly histograms = new Map<string, Map<string, Histogram>>();
  private readonly gauges = new Map<string, { help: string; read: () => number | Array<[Labels, number]> }>();
  /** Rule matches, counted per event: a plain map, rendered as sluice_rule_matches_total. */
  private readonly ruleMatches = new Map<string, number>();

  matched(rule: string): void {
    this.ruleMatches.set(rule, (this.ruleMatches.get(rule) ?? 0) + 1);
  }

  /** Records that left a stream (the most frequent call: kept cheap). */
  add(stream: string, outcome: Outcome, code: string, n = 1): void {
    this.count('sluice_stream_records_total', { stream, outcome, code }, n);
  }

  get(stream: string, outcome: Outcome, code = ''): number {
    return this.counters.get('sluice_stream_records_total')?.get(labelText({ stream, outcome, code }))?.n ?? 0;
  }

  count(name: string, labels: Labels, n = 1): void {
    let family = this.counters.get(name);
    if (!family) this.counters.set(name, (family = new Map()));
    const key = labelText(labels);
    const c = family.get(key);
    if (c) c.n += n;
    else family.set(key, { labels, n });
  }

  observe(name: string, labels: Labels, value: number, times = 1): void {
    let family = this.histograms.get(name);
    if (!family) this.histograms.set(name, (family = new Map()));
    const key = labelText(labels);
    let h = family.get(key);
    if (!h) family.set(key, (h = { labels, counts: BUCKETS[name].map(() => 0), sum: 0, count: 0 }));
    const buckets = BUCKETS[name];
    for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]) h.counts[i] += times;
    h.sum += value * times;
    h.count += times;
  }

  /** A value read when scraped, or one value per label set. */
  gauge(name: string, help: string, read: () => number | Array<[Labels, number]>): void {
    this.gauges.set(name, { help, read });
  }

  /** Prometheus exposition text. */
  render(): string {
    const lines: string[] = [];
    const head = (name: string) => {
      const [type, help] = HELP[name] ?? ['counter', name];
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    for (const [name, family] of this.counters) {
      head(name);
      for (const { labels, n } of family.values()) lines.push(`${name}{${labelText(labels)}} ${n}`);
    }
    if (this.ruleMatches.size > 0) {
      head('sluice_rule_matches_total');
      for (const [rule, n] of this.ruleMatches) lines.push(`sluice_rule_matches_total{rule=${JSON.stringify(rule)}} ${n}`);
    }
    for (const [name, family] of this.histograms) {
      head(name);
      for (const h of family.values()) {
        const l = labelText(h.labels);
        BUCKETS[name].forEach((b, i) => lines.push(`${name}_bucket{${l}${l ? ',' : ''}le="${b}"} ${h.counts[i]}`));
        lines.push(`${name}_bucket{${l}${l ? ',' : ''}le="+Inf"} ${h.count}`, `${name}_sum{${l}} ${h.sum}`, `${name}_count{${l}} ${h.count}`);
      }
    }
    for (const [name, g] of this.gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      let v: number | Array<[Labels, number]> = NaN;
      try {
        v = g.read();
      } catch {
        // a gauge that cannot be read now is reported as NaN
      }
      if (typeof v === 'number') lines.push(`${name} ${v}`);
      else for (const [labels, n] of v) lines.push(`${name}{${labelText(labels)}} ${n}`);
    }
    return lines.join('\n') + '\n';
  }
}
