/**
 * GDPR erasure. The subject's raw id is turned into its pseudonyms under every key of every key
 * ring in the config (so rows written before a key rotation are found too); rows holding one of
 * them are deleted from every BI table column marked with that subject field, from the metrics
 * store (the dimension of that name; the hourly rollups of the touched hours are recomputed),
 * from the error output and the dead letters. The pseudonyms join the suppression list, so a
 * replay or backfill of the subject's events is dropped. An audit row records when, which
 * pseudonyms and the counts, never the raw id. All of that is one transaction, which bumps the
 * erasure epoch under the fence's lock (fence.ts); a dry run counts the same way and rolls back.
 * Then the archives are rewritten without the lines holding a pseudonym (an object left empty is
 * deleted), and the vendors that hold the pseudonyms are asked to delete them (vendor-erasure.ts;
 * the requests are queued in the same transaction).
 */
import type { KeyRing } from '../core/privacy/pseudonymizer.ts';
import { Pseudonymizer } from '../core/privacy/pseudonymizer.ts';
import type { SecretSource, SluiceConfig } from '../config/config.ts';
import type { Database, Queryable } from '../store/database.ts';
import { columnText, dimensionText, subjectIn } from '../store/subject-key.ts';
import type { MetricsStore } from '../destinations/metrics/metrics-store.ts';
import { qualified, quoteIdent } from '../destinations/table/table-schema.ts';
import { archiveStore, removeLines, type ArchiveStore } from '../destinations/archive/index.ts';
import { ERASURE_LOCK } from './fence.ts';
import { hashedFields } from '../config/policy-fields.ts';
import { VendorErasures, vendorTargets, type VendorRequestState, type VendorTarget } from './vendor-erasure.ts';

export interface ErasureTargets {
  rings: KeyRing[];
  /** Per table, the columns holding pseudonyms of each subject field. */
  tables: Array<{ table: string; subjects: Map<string, string[]> }>;
  /** The fields some stream hashes, by their last name (`metadata.user_id` → `user_id`). */
  hashedFields: string[];
  /** The archives of archive destinations, by stream: their lines holding a pseudonym are removed. */
  archives: Array<{ stream: string; store: ArchiveStore; indexed?: boolean }>;
  /** The Segment and Mixpanel destinations configured to take erasures. */
  vendors: VendorTarget[];
}

export interface ErasureResult {
  field: string;
  pseudonyms: string[];
  dry_run: boolean;
  /** Rows deleted (or that would be) per place: `bi.<table>`, `metric_points`, `stream_errors`, `dead_letters`, `archive.<stream>` (lines), and ids whose deletion was requested from a vendor, `segment.<stream>` and `mixpanel.<stream>`. */
  counts: Record<string, number>;
  /** The requests to vendors, and what became of them (absent in a dry run and when no vendor holds the field). */
  vendor_requests?: VendorRequestState[];
}

export class ErasureError extends Error {
  constructor(
    message: string,
    /** The API's error code. */
    readonly code: 'invalid_request' | 'unknown_field' = 'invalid_request',
  ) {
    super(message);
  }
}

const FIELD = /^[a-z_][a-z0-9_]{0,62}$/;
/** Subjects one erasure request may name. */
export const MAX_SUBJECTS = 1000;
class DryRun extends Error {
  constructor(readonly counts: Record<string, number>) {
    super('dry run');
  }
}

/** The audit row of an erasure (the pseudonyms as a JSON list; never the raw subject). */
async function audit(db: Queryable, field: string, pseudonyms: string, counts: Record<string, number>, dryRun: boolean): Promise<number> {
  const [row] = await db.query<{ id: number }>(
    'insert into sluice.erasures (field, pseudonyms, counts, dry_run) values ($1, (select array_agg(p) from json_array_elements_text($2::text::json) p), $3::text::jsonb, $4) returning id::float8 as id',
    [field, pseudonyms, JSON.stringify(counts), dryRun],
  );
  return row.id;
}

/**
 * @example
 *   const e = new Eraser(db, { rings: [ring], tables: [{ table: 'transactions', subjects: new Map([['user_id', ['user_id']]]) }] }, new MetricsStore(db));
 *   await e.erase('alice@example.com', 'user_id', { dryRun: true });
 */
export class Eraser {
  /** The queue of requests to vendors; the running Sluice retries what is pending (flush). */
  readonly vendors: VendorErasures;

  /**
   * @param onErased Told, once an erasure has committed, which tenants' metrics lost points (the
   * running Sluice drops its cached query results for them).
   */
  constructor(
    private readonly db: Database,
    private readonly targets: ErasureTargets,
    private readonly metrics: MetricsStore,
    private readonly onErased: (pairs: Array<{ tenant: string; metric: string }>) => void = () => {},
  ) {
    this.vendors = new VendorErasures(db, targets.vendors);
  }

  async erase(subject: string, field: string, opts: { dryRun: boolean }): Promise<ErasureResult> {
    return (await this.eraseMany([subject], field, opts))[0];
  }

  /**
   * Erases several subjects (at most MAX_SUBJECTS): each in a transaction and an audit row of its
   * own, then every archive in one pass for all of them, which is what makes a batch of
   * requests cheaper than as many erasures. Results are in the order of `subjects`.
   */
  async eraseMany(subjects: string[], field: string, opts: { dryRun: boolean }): Promise<ErasureResult[]> {
    if (subjects.length === 0 || subjects.length > MAX_SUBJECTS) throw new ErasureError(`give 1 to ${MAX_SUBJECTS} subjects, got ${subjects.length}`);
    const bad = subjects.findIndex((s) => s.length === 0 || s.length > 1024);
    if (bad >= 0) throw new ErasureError(subjects.length === 1 ? 'subject must be 1 to 1024 characters' : `subjects[${bad}] must be 1 to 1024 characters`);
    if (!FIELD.test(field)) throw new ErasureError(`field must match ${FIELD.source}`);
    if (this.targets.rings.length === 0) throw new ErasureError('the config has no pseudonymize step, so there are no pseudonyms to erase');
    // A field nothing holds pseudonyms in (a typo) would erase no row of a table or the metrics
    // store and still be audited as done: refused, naming the fields there are.
    const { fields, indexed } = await this.subjectFields();
    if (!fields.includes(field)) {
      throw new ErasureError(`field "${field}" holds no pseudonyms here; subject fields: ${fields.join(', ') || 'none'} (table columns declared with subject, and fields a stream hashes)`, 'unknown_field');
    }
    const pseudonymizers = this.targets.rings.map((ring) => new Pseudonymizer(ring, {}));
    const erased: Array<{ result: ErasureResult; auditId: number; requests: number[] }> = [];
    const touched = new Map<string, { tenant: string; metric: string }>();
    for (const subject of subjects) {
      const pseudonyms = [...new Set(pseudonymizers.flatMap((p) => p.pseudonymsOf(subject)))].sort();
      erased.push({ result: { field, pseudonyms, dry_run: opts.dryRun, counts: {} }, auditId: 0, requests: [] });
      const one = erased[erased.length - 1];
      try {
        const metrics: Array<{ tenant: string; metric: string }> = [];
        one.result.counts = await this.db.transaction(async (tx) => {
          const c = await this.deleteRows(tx, field, pseudonyms, indexed, opts.dryRun, metrics);
          for (const place of this.vendors.placesFor(field)) c[place] = pseudonyms.length;
          if (opts.dryRun) throw new DryRun(c);
          one.auditId = await audit(tx, field, JSON.stringify(pseudonyms), c, false);
          one.requests = await this.vendors.queue(tx, field, pseudonyms, one.auditId);
          return c;
        });
        for (const m of metrics) touched.set(`${m.tenant}\u0000${m.metric}`, m);
      } catch (e) {
        if (!(e instanceof DryRun)) throw e;
        one.result.counts = e.counts;
      }
    }
    if (touched.size > 0) this.onErased([...touched.values()]);
    // Archives after the database: the subjects' pseudonyms are suppressed by then, so no new
    // record of theirs is archived behind this pass (a batch whose write was under way when this
    // committed cleans its object after the write: removeErasedSince in the archive). A failure
    // here leaves the database erased; erasing again (idempotent) finishes the archives.
    for (const a of this.targets.archives) {
      const lines = await removeLines(a.store, erased.map((e) => e.result.pseudonyms), opts.dryRun, a.indexed ? { db: this.db, stream: a.stream } : undefined);
      erased.forEach((e, i) => (e.result.counts[`archive.${a.stream}`] = lines[i]));
    }
    for (const { result, auditId } of erased) {
      const list = JSON.stringify(result.pseudonyms);
      if (opts.dryRun) await audit(this.db, field, list, result.counts, true);
      else if (this.targets.archives.length > 0) await this.db.query('update sluice.erasures set counts = $2::text::jsonb where id = $1', [auditId, JSON.stringify(result.counts)]);
    }
    // Last, after every local deletion: the requests just queued (merged, one per vendor), and
    // any older ones due for a retry. One a vendor did not take stays pending for the next flush.
    const queued = erased.flatMap((e) => e.requests);
    if (queued.length > 0) {
      // The erasure is done here whatever the vendors answer; a flush that fails (the database
      // away) leaves the requests pending, and the listing below says so or fails in turn.
      await this.vendors.flush().catch(() => {});
      const states = new Map((await this.vendors.list({ ids: queued, limit: queued.length })).map((r) => [r.id, r]));
      for (const e of erased) if (e.requests.length > 0) e.result.vendor_requests = e.requests.map((id) => states.get(id)!);
    }
    return erased.map((e) => e.result);
  }

  /**
   * Deletes the rows holding one of a subject's pseudonyms, in the caller's transaction, and
   * (unless a dry run, which is rolled back) puts the pseudonyms on the suppression list; the
   * counts per place.
   */
  private async deleteRows(tx: Queryable, field: string, pseudonyms: string[], indexed: string[], dryRun: boolean, metrics: Array<{ tenant: string; metric: string }>): Promise<Record<string, number>> {
    const list = JSON.stringify(pseudonyms);
    // Waits for the fenced writes in flight (their rows are then visible here) and holds new
    // ones until this commits; the epoch tells batches checked before it to check again.
    if (!dryRun) {
      await tx.query(`select pg_advisory_xact_lock(${ERASURE_LOCK})`);
      await tx.query('update sluice.erasure_epoch set n = n + 1');
    }
    const c: Record<string, number> = {};
    for (const t of this.targets.tables) {
      const columns = t.subjects.get(field) ?? [];
      if (columns.length === 0) continue;
      const rows = await tx.query<{ n: number }>(
        `with d as (delete from ${qualified(t.table)} where ${columns.map((col) => subjectIn(columnText(quoteIdent(col)), '$1')).join(' or ')} returning 1) select count(*)::int as n from d`,
        [list],
      );
      c[`bi.${t.table}`] = rows[0].n;
    }
    // Points hold pseudonyms in the dimensions a metrics stream hashes, and those have a
    // subject index (MetricsStore.prepare); another field would only scan every point.
    const buckets = !indexed.includes(field) ? [] : await tx.query<{ tenant: string; metric: string; bucket: string; n: number }>(
      // The field is validated (FIELD) and written literally, so the expression index on it is used.
      `with d as (delete from sluice.metric_points where ${subjectIn(dimensionText(field), '$1')} returning tenant, metric, time)
       select tenant, metric, to_char(date_trunc('hour', time, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"') as bucket, count(*)::int as n
         from d group by 1, 2, 3`,
      [list],
    );
    c.metric_points = buckets.reduce((a, b) => a + b.n, 0);
    if (buckets.length > 0) await this.metrics.recompute(tx, buckets);
    for (const b of buckets) metrics.push({ tenant: b.tenant, metric: b.metric });
    // The error output and the dead letters hold records as a whole: any that mentions a pseudonym goes.
    for (const table of ['stream_errors', 'dead_letters']) {
      const rows = await tx.query<{ n: number }>(
        `with d as (delete from sluice.${table} e where exists (select 1 from json_array_elements_text($1::text::json) p where strpos(e.record::text, p) > 0) returning 1)
         select count(*)::int as n from d`,
        [list],
      );
      c[table] = rows[0].n;
    }
    if (!dryRun) await tx.query('insert into sluice.erased_subjects (pseudonym) select json_array_elements_text($1::text::json) on conflict do nothing', [list]);
    return c;
  }

  /**
   * The fields an erasure can name: the config's table subjects and hashed fields, and the
   * metrics dimensions with a subject index (`indexed`), this config's or an earlier one's.
   */
  async subjectFields(): Promise<{ fields: string[]; indexed: string[] }> {
    const indexed = await this.metrics.indexedSubjectDimensions();
    const fields = new Set([...this.targets.tables.flatMap((t) => [...t.subjects.keys()]), ...this.targets.hashedFields, ...indexed]);
    return { fields: [...fields].sort(), indexed };
  }
}

/** Where an erasure looks, for a config and its key rings. */
export function erasureTargets(config: SluiceConfig, rings: KeyRing[]): ErasureTargets {
  const hashed = Object.values(config.streams ?? {}).flatMap((s) => hashedFields(s));
  const archives = Object.entries(config.streams ?? {}).flatMap(([stream, s]) => (s.destination.type === 'archive' ? [{ stream, store: archiveStore(s.destination), indexed: s.destination.subject_index !== false }] : []));
  return { rings, tables: tableSubjects(config), hashedFields: [...new Set(hashed)], archives, vendors: vendorTargets(config) };
}

/** The BI tables of a config and their subject columns. */
export function tableSubjects(config: SluiceConfig): ErasureTargets['tables'] {
  const out: ErasureTargets['tables'] = [];
  for (const s of Object.values(config.streams ?? {})) {
    const d = s.destination;
    if (d.type !== 'table') continue;
    const subjects = new Map<string, string[]>();
    for (const [name, c] of Object.entries(d.columns)) {
      if (typeof c === 'object' && c.subject) subjects.set(c.subject, [...(subjects.get(c.subject) ?? []), name]);
    }
    out.push({ table: d.table, subjects });
  }
  return out;
}

/** The key sources of every pseudonymize step of a config. */
export function pseudonymKeySources(config: SluiceConfig): SecretSource[] {
  const seen = new Map<string, SecretSource>();
  for (const s of Object.values(config.streams ?? {})) {
    for (const p of s.processors ?? []) if (p.type === 'pseudonymize') seen.set(JSON.stringify(p.key), p.key);
  }
  return [...seen.values()];
}
