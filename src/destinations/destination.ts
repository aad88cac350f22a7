/**
 * A stream's destination: writes a whole batch. It answers with the records that failed for
 * good (with a code and reason) and throws when the whole batch should be retried (database or
 * network down, timeout). It is idempotent on the record id, so a retried batch never counts twice.
 */

export interface DeliveryRecord {
  /** Idempotency id, derived from the event, the rule and the target. */
  id: string;
  /** The tenant of the key the event came in with (`*` for an admin key). */
  source_tenant: string;
  value: unknown;
  /** When the event it came from was accepted (ISO 8601, UTC). */
  at: string;
}

export interface DeliveryFailure {
  index: number;
  code: string;
  /** Why, without record content (a vendor's message is bounded and stripped of values it quotes). */
  reason: string;
  /** Attempts made for the record before giving up (default 1). */
  attempts?: number;
}

/** What a destination knows about the batch it writes. */
export interface BatchInfo {
  stream: string;
  /** Derived from the batch's record ids: the same records give the same id (archive object names, webhook idempotency keys). */
  id: string;
  /** The earliest acceptance time of its records (ISO 8601, UTC): stable when the batch is retried or replayed. */
  at: string;
  /**
   * Told when a destination retries part of the batch itself (a vendor's 5xx, 429, timeout), with
   * a class of failure (`http_503`, `timeout`, `network_ECONNREFUSED`; no content) and the wait.
   */
  retrying?(cls: string, waitMs: number): void;
  /**
   * The erasure epoch the batch was checked against the suppression list at, when a record of
   * it holds a pseudonym: a database destination starts each transaction with
   * `fenceStep(erasureEpoch)` (privacy/fence.ts), and the stream checks the batch again when
   * that fails.
   */
  erasureEpoch?: number;
}

/** A record that failed a processor or was refused, as a destination's error sink receives it. */
export interface FailedDelivery {
  code: string;
  reason: string;
  record_id: string;
  /** After the stream's privacy policy, never raw. */
  record: unknown;
}

export interface Destination {
  /** Its type, as dead letters name it (`segment`, `metrics`, …). */
  readonly kind: string;
  write(records: DeliveryRecord[], batch: BatchInfo): Promise<DeliveryFailure[]>;
  /** Also keeps the batch's failed records, as Firehose's S3 destination does under `Error/` (archive). */
  writeFailures?(failed: FailedDelivery[], batch: BatchInfo): Promise<void>;
  /**
   * How many batches it may write at once (default 1, in order). More only when the order of
   * writes cannot change the result (idempotent inserts and additive rollups).
   */
  readonly concurrency?: number;
  /** Readies the destination before the first write (called once at start). */
  open?(): Promise<void>;
  /** Periodic upkeep (retention); called by the runtime about once an hour. */
  maintain?(): Promise<void>;
}
