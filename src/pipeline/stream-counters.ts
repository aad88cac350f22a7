/**
 * Per-stream outcome counters (ok, dropped by step, failed and dead-lettered by code) since the process started,
 * exposed on /metrics in Prometheus' text format.
 */

export type Outcome = 'ok' | 'dropped' | 'failed' | 'dead_lettered';

export class StreamCounters {
  private readonly counts = new Map<string, number>();

  add(stream: string, outcome: Outcome, code: string, n = 1): void {
    const k = `${stream}\u0000${outcome}\u0000${code}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + n);
  }

  get(stream: string, outcome: Outcome, code = ''): number {
    return this.counts.get(`${stream}\u0000${outcome}\u0000${code}`) ?? 0;
  }

  /** Prometheus exposition lines. */
  render(): string {
    const lines = ['# HELP sluice_stream_records_total Records that left a stream, by outcome and code.', '# TYPE sluice_stream_records_total counter'];
    for (const [k, n] of this.counts) {
      const [stream, outcome, code] = k.split('\u0000');
      lines.push(`sluice_stream_records_total{stream=${JSON.stringify(stream)},outcome="${outcome}",code=${JSON.stringify(code)}} ${n}`);
    }
    return lines.join('\n') + '\n';
  }
}
