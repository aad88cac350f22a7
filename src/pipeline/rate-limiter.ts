/**
 * Per-tenant token buckets: events per second and bytes per second sustained, each with a burst.
 * A request that does not fit either is refused whole (nothing taken), with the seconds until
 * it would fit. Limits come from `ingest.rate_limit`, overridden per tenant by `ingest.tenants`.
 */
import type { RateLimits } from '../config/config.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/** A bucket refilled at `rate` up to `burst`; the wait for `n` tokens (0 when they are there). */
function refill(b: Bucket, t: number, rate: number, burst: number): void {
  b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate);
  b.at = t;
}
const waitFor = (b: Bucket, n: number, rate: number, burst: number): number => (n <= b.tokens ? 0 : Math.max(1, Math.ceil((Math.min(n, burst) - b.tokens) / rate)));

export class RateLimiter {
  private readonly buckets = new Map<string, { events: Bucket; bytes: Bucket }>();

  /**
   * @example new RateLimiter({ events_per_second: 1000, burst: 5000 }, { acme: { bytes_per_second: 1_000_000 } })
   */
  constructor(
    private readonly defaults: RateLimits & { events_per_second: number; burst: number },
    private readonly tenants: Record<string, RateLimits> = {},
    private readonly now: () => number = () => performance.now(),
  ) {}

  private limits(tenant: string) {
    const l = { ...this.defaults, ...this.tenants[tenant] };
    const bytesRate = l.bytes_per_second ?? Infinity;
    return { rate: l.events_per_second, burst: l.burst, bytesRate, bytesBurst: l.burst_bytes ?? bytesRate * 2 };
  }

  /** Takes `n` events and `bytes` for `tenant`; returns 0 when admitted, else seconds to wait. */
  take(tenant: string, n: number, bytes = 0): number {
    const t = this.now();
    const l = this.limits(tenant);
    let b = this.buckets.get(tenant);
    if (!b) {
      if (this.buckets.size > 100_000) this.buckets.clear();
      this.buckets.set(tenant, (b = { events: { tokens: l.burst, at: t }, bytes: { tokens: l.bytesBurst, at: t } }));
    }
    refill(b.events, t, l.rate, l.burst);
    refill(b.bytes, t, l.bytesRate, l.bytesBurst);
    const wait = Math.max(waitFor(b.events, n, l.rate, l.burst), l.bytesRate === Infinity ? 0 : waitFor(b.bytes, bytes, l.bytesRate, l.bytesBurst));
    if (wait > 0) return wait;
    b.events.tokens -= n;
    if (l.bytesRate !== Infinity) b.bytes.tokens -= bytes;
    return 0;
  }
}
