/**
 * Per-tenant token buckets: `rate` events per second sustained, `burst` at once. A request that
 * does not fit is refused whole, with the seconds until it would fit.
 */

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes `n` tokens for `tenant`; returns 0 when admitted, else seconds to wait. */
  take(tenant: string, n: number): number {
    const t = this.now();
    let b = this.buckets.get(tenant);
    if (!b) {
      if (this.buckets.size > 100_000) this.buckets.clear();
      this.buckets.set(tenant, (b = { tokens: this.burst, at: t }));
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
    b.at = t;
    if (n <= b.tokens) {
      b.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil((Math.min(n, this.burst) - b.tokens) / this.rate));
  }
}
