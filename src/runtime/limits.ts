/** Ingest limits that hold unless the config's `ingest` says otherwise, on Node and on Lambda. */

export const DEFAULT_RATE = { events_per_second: 50_000, burst: 100_000 };
// Parsed events take several times their JSON size in memory: 16 MiB of JSON is ~150 MB of heap.
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** JetStream messages not yet acknowledged by a worker (waiting or being delivered) before an API node answers 503. */
export const DEFAULT_MAX_LAG_MESSAGES = 100_000;

/** A full stream's records parked in the intake log (as stored) before it parks no more and intake pushes back. */
export const DEFAULT_MAX_PARKED_BYTES = 256 * 1024 * 1024;
