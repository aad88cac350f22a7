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
}

export interface DeliveryFailure {
  index: number;
  code: string;
  reason: string;
}

export interface Destination {
  write(records: DeliveryRecord[]): Promise<DeliveryFailure[]>;
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
