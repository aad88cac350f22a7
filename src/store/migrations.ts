/**
 * The schema, as an ordered list of migrations applied once each, under an advisory lock so that
 * several processes starting together on one PostgreSQL apply each exactly once. Only PostgreSQL
 * 15 features: the same migrations run on PGlite and on a server.
 */
import type { Database } from './database.ts';

/** The role tenant-scoped reads switch to: row-level security admits only the current tenant. */
export const TENANT_ROLE = 'sluice_tenant';

export const MIGRATIONS: string[] = [
  // 1: keys, intake log, stream error output, metrics store.
  `
  create table sluice.settings (name text primary key, value text not null);

  create table sluice.api_keys (
    id text primary key,
    tenant text not null,
    kind text not null check (kind in ('ingest', 'read', 'admin')),
    secret_sha256 text not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
  );

  -- Processes sharing the database; a log entry owned by a process whose heartbeat is stale is
  -- claimed again by another.
  create table sluice.workers (
    id text primary key,
    started_at timestamptz not null default now(),
    heartbeat_at timestamptz not null default now()
  );

  -- One row per accepted request: its events (or direct stream records) as NDJSON. Deleted once
  -- every record derived from it has been delivered or sent to an error output.
  create table sluice.intake_log (
    id bigserial primary key,
    received_at timestamptz not null default now(),
    tenant text not null,
    kind text not null check (kind in ('events', 'records')),
    stream text,
    count integer not null,
    payload text not null,
    owner text,
    attempts integer not null default 0
  );
  create index intake_log_owner on sluice.intake_log (owner, id);

  -- A stream's error output: records that failed a step, with the reason. The record is stored
  -- after the stream's pseudonymization policy, never raw.
  create table sluice.stream_errors (
    id bigserial primary key,
    at timestamptz not null default now(),
    stream text not null,
    tenant text,
    step text not null,
    code text not null,
    reason text not null,
    record_id text not null,
    record jsonb,
    unique (stream, record_id)
  );

  -- Points as Timestream models them: dimensions, measures, time. Idempotent on the record id
  -- within a tenant and metric; partitioned by day so that retention drops whole partitions.
  create table sluice.metric_points (
    tenant text not null,
    metric text not null,
    time timestamptz not null,
    record_id text not null,
    dimensions jsonb not null,
    measures jsonb not null,
    primary key (tenant, metric, time, record_id)
  ) partition by range (time);

  -- Hourly rollups maintained in the same statement that inserts points (only points actually
  -- inserted count), per dimension set; measure '' holds the point count.
  create table sluice.metric_rollups (
    tenant text not null,
    metric text not null,
    bucket timestamptz not null,
    measure text not null,
    dimensions jsonb not null,
    count bigint not null,
    sum double precision not null,
    min double precision,
    max double precision,
    primary key (tenant, metric, bucket, measure, dimensions)
  );

  do $$ begin
    create role ${TENANT_ROLE} nologin;
  exception when duplicate_object or unique_violation then null;
  end $$;
  grant usage on schema sluice to ${TENANT_ROLE};
  grant select on sluice.metric_points, sluice.metric_rollups to ${TENANT_ROLE};
  alter table sluice.metric_points enable row level security;
  alter table sluice.metric_rollups enable row level security;
  create policy tenant_isolation on sluice.metric_points for select to ${TENANT_ROLE}
    using (tenant = current_setting('sluice.tenant', true));
  create policy tenant_isolation on sluice.metric_rollups for select to ${TENANT_ROLE}
    using (tenant = current_setting('sluice.tenant', true));
  `,
  // 2: BI tables live in schema bi; erasure audit and the suppression list.
  `
  create schema if not exists bi;

  -- One row per erasure: when, how, and counts per place. Never the raw subject id.
  create table sluice.erasures (
    id bigserial primary key,
    at timestamptz not null default now(),
    field text not null,
    pseudonyms text[] not null,
    counts jsonb not null,
    dry_run boolean not null
  );

  -- Pseudonyms of erased subjects: records for them that arrive later are dropped.
  create table sluice.erased_subjects (
    pseudonym text primary key,
    erased_at timestamptz not null default now()
  );
  `,
  // 3: ANALYZE must not copy sample values of raw events into pg_statistic.
  `
  alter table sluice.intake_log alter column payload set statistics 0;
  `,
  // 4: S3 objects already loaded by the Lambda S3 handler (a redelivered notification is skipped).
  `
  create table sluice.loaded_objects (
    bucket text not null,
    key text not null,
    version text not null,
    lines integer not null,
    failed integer not null,
    loaded_at timestamptz not null default now(),
    primary key (bucket, key, version)
  );
  `,
  // 5: dead letters (records a destination refused or that exhausted their retries), and
  // intake log entries that send dead letters back to their stream.
  `
  create table sluice.dead_letters (
    id bigserial primary key,
    stream text not null,
    destination text not null,
    source_tenant text not null,
    tenant text,
    code text not null,
    reason text not null,
    record_id text not null,
    record jsonb,
    attempts integer not null,
    first_failed_at timestamptz not null default now(),
    last_failed_at timestamptz not null default now(),
    redriven_at timestamptz,
    redrives integer not null default 0,
    unique (stream, record_id)
  );
  create index dead_letters_pending on sluice.dead_letters (last_failed_at) where redriven_at is null;
  alter table sluice.dead_letters alter column record set statistics 0;
  alter table sluice.intake_log drop constraint intake_log_kind_check;
  alter table sluice.intake_log add constraint intake_log_kind_check check (kind in ('events', 'records', 'redrive'));
  `,
  // 6: backfill checkpoints: per job (sources, format, stream) and source, the lines delivered.
  `
  create table sluice.backfills (
    job text not null,
    source text not null,
    lines bigint not null,
    done boolean not null,
    updated_at timestamptz not null default now(),
    primary key (job, source)
  );
  `,
  // 7: a statement that must not half-apply aborts itself (the metrics store's fast path): no
  // transaction around it, so a connection lost mid-way leaves nothing to roll back. Unused since
  // the fast path became a plain INSERT that the primary key aborts; migration 11 drops it.
  `
  create or replace function sluice.abort_unless(ok boolean, reason text) returns boolean language plpgsql as $$
  begin
    if not ok then raise exception using errcode = 'SL001', message = reason; end if;
    return true;
  end $$;
  `,
  // 8: dashboards (a tenant's grid of saved queries, in order) and the activity the overview
  // draws: records per minute by stream, tenant, outcome and code, written by every process.
  `
  create table sluice.dashboards (
    id text primary key,
    tenant text not null,
    name text not null,
    charts jsonb not null,
    position integer not null default 0,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  );
  create index dashboards_tenant on sluice.dashboards (tenant, position);

  create table sluice.activity (
    minute timestamptz not null,
    stream text not null,
    tenant text not null,
    outcome text not null,
    code text not null,
    n bigint not null,
    primary key (minute, stream, tenant, outcome, code)
  );
  `,
  // 9: intake log payloads are stored out of line without compression: an entry lives seconds,
  // and compressing each request's events cost more than writing them (PGlite: ~8% of the
  // intake's time).
  `
  alter table sluice.intake_log alter column payload set storage external;
  `,
  // 10: where the server has LZ4 (PostgreSQL built with it; not PGlite), payloads are compressed
  // with it instead: about ten times fewer bytes of table and WAL than storing them plain, for
  // less CPU than pglz (measured: docs/benchmarks.md, "Sustained rates, two processes, and LZ4"). Elsewhere
  // migration 9 stands.
  `
  do $$ begin
    if exists (select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
      alter table sluice.intake_log alter column payload set storage extended, alter column payload set compression lz4;
    end if;
  end $$;
  `,
  // 11: migration 7's function, which nothing calls any more.
  `
  drop function if exists sluice.abort_unless(boolean, text);
  `,
  // 12: the erasure fence (privacy/fence.ts): erasures bump the epoch under advisory lock 727114
  // held exclusive; a fenced write takes it shared and fails with SL002 when an erasure committed
  // after its batch was checked against the suppression list. The function is VOLATILE, so the
  // epoch is read with a snapshot taken after the lock is granted.
  `
  create table sluice.erasure_epoch (
    one boolean primary key default true check (one),
    n bigint not null
  );
  insert into sluice.erasure_epoch (n) values (0);

  create function sluice.erasure_fence(checked bigint) returns bigint language plpgsql volatile as $$
  declare
    current_epoch bigint;
  begin
    perform pg_advisory_xact_lock_shared(727114);
    select n into current_epoch from sluice.erasure_epoch;
    if current_epoch > checked then
      raise exception using errcode = 'SL002', message = 'subjects were erased after this batch was checked against the suppression list';
    end if;
    return current_epoch;
  end $$;
  `,
  // 13: erasure requests to vendors (privacy/vendor-erasure.ts): queued in the erasure's
  // transaction, sent after it commits, retried until the vendor takes them. They hold
  // pseudonyms, never a raw id.
  `
  create table sluice.vendor_erasures (
    id bigint generated always as identity primary key,
    erasure_id bigint not null,
    stream text not null,
    vendor text not null,
    pseudonyms jsonb not null,
    state text not null default 'pending' check (state in ('pending', 'sent', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    reference text,
    created_at timestamptz not null default now(),
    sent_at timestamptz
  );
  create index vendor_erasures_due on sluice.vendor_erasures (next_attempt_at) where state = 'pending';
  create index vendor_erasures_open on sluice.vendor_erasures (state) where state <> 'sent';
  `,
  // 14: the archives' subject index (destinations/archive): the objects an archive destination
  // wrote, and for each the 64-bit hashes of the pseudonyms in it (of their 32 hex digits), so an
  // erasure reads only the objects that may hold its subjects (and those written before this).
  `
  create table sluice.archive_objects (
    id bigint generated always as identity primary key,
    stream text not null,
    key text not null,
    unique (stream, key)
  );
  create table sluice.archive_subjects (
    subject bigint not null,
    object bigint not null,
    primary key (subject, object)
  );
  `,
  // 15: what the vendors say of the deletions they took (privacy/vendor-erasure.ts, track): their
  // own status word, when it was last asked, and, once final, whether the data was deleted.
  `
  alter table sluice.vendor_erasures
    add column vendor_status text,
    add column status_checked_at timestamptz,
    add column outcome text check (outcome in ('deleted', 'not_deleted')),
    add column completed_at timestamptz;
  create index vendor_erasures_tracked on sluice.vendor_erasures (status_checked_at nulls first, id)
    where state = 'sent' and outcome is null and reference is not null;
  create index vendor_erasures_not_deleted on sluice.vendor_erasures (id) where outcome = 'not_deleted';
  `,
];

/**
 * Applies the migrations this database has not seen yet.
 *
 * @example await migrate(db);
 */
export async function migrate(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(727111)');
    await tx.query('create schema if not exists sluice');
    await tx.query('create table if not exists sluice.migrations (version integer primary key, applied_at timestamptz not null default now())');
    const rows = await tx.query<{ v: number }>('select coalesce(max(version), 0)::int as v from sluice.migrations');
    for (let v = rows[0].v; v < MIGRATIONS.length; v++) {
      for (const statement of splitStatements(MIGRATIONS[v])) await tx.query(statement);
      await tx.query('insert into sluice.migrations (version) values ($1)', [v + 1]);
    }
  });
}

/** Splits a migration at top-level semicolons (not inside `$$` bodies), without its comments. */
function splitStatements(text: string): string[] {
  const sql = text.replace(/--.*$/gm, '');
  const out: string[] = [];
  let start = 0;
  let inBody = false;
  for (let i = 0; i < sql.length; i++) {
    if (sql.startsWith('$$', i)) {
      inBody = !inBody;
      i++;
    } else if (sql[i] === ';' && !inBody) {
      out.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  out.push(sql.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}
