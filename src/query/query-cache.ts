/**
 * Query results cached per tenant and query. Each (tenant, metric) has a generation bumped when
 * points are written for it; a cached result from an older generation is never served. Entries
 * also expire after `ttlMs`, which bounds staleness from writes by other processes.
 *
 * Both maps are bounded: a producer that writes many metric names (an id in the name, say) would
 * otherwise grow the generations without end. Past `maxGenerations` they all start again in a new
 * era, which every stamp includes, so a result computed before the reset is never served after it.
 */
import type { MetricQuery } from './parse-query.ts';
import type { QueryResult } from './query-service.ts';

export class QueryCache {
  private readonly generations = new Map<string, number>();
  private readonly entries = new Map<string, { at: number; gen: number; result: QueryResult }>();
  /** Bumped when the generations start again; the high part of every stamp. */
  private era = 0;

  constructor(
    private readonly maxEntries = 2000,
    private readonly ttlMs = 10_000,
    private readonly maxGenerations = 100_000,
  ) {}

  /** (tenant, metric) pairs with a generation, and results held. */
  get size(): { generations: number; entries: number } {
    return { generations: this.generations.size, entries: this.entries.size };
  }

  private static key(tenant: string, q: MetricQuery): string {
    // The tenant is part of every key: one tenant's entry can never answer another's query.
    return JSON.stringify([tenant, q.metric, q.from, q.to, q.step, q.aggregations.map((a) => a.name), q.groupBy, q.filters]);
  }

  /** The generation to store a result under, taken before the query runs. */
  stamp(tenant: string, metric: string): number {
    return this.era * 2 ** 32 + (this.generations.get(tenant + '\u0000' + metric) ?? 0);
  }

  bump(tenant: string, metric: string): void {
    const k = tenant + '\u0000' + metric;
    const gen = this.generations.get(k);
    if (gen === undefined && this.generations.size >= this.maxGenerations) {
      this.era++;
      this.generations.clear();
      this.entries.clear();
    }
    this.generations.set(k, (gen ?? 0) + 1);
  }

  get(tenant: string, q: MetricQuery): QueryResult | undefined {
    const k = QueryCache.key(tenant, q);
    const e = this.entries.get(k);
    if (!e) return undefined;
    if (e.gen !== this.stamp(tenant, q.metric) || Date.now() - e.at > this.ttlMs) {
      this.entries.delete(k);
      return undefined;
    }
    return e.result;
  }

  set(tenant: string, q: MetricQuery, gen: number, result: QueryResult): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(QueryCache.key(tenant, q), { at: Date.now(), gen, result });
  }
}
