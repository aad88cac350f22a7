/**
 * The databases every storage suite runs on: PGlite (in memory) and the PostgreSQL server (a
 * fresh database per suite, dropped afterwards). In CI a missing server is a failure, never a skip.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { Database } from '../../src/store/database.ts';
import { migrate } from '../../src/store/migrations.ts';
import { PgliteDriver, type PgliteOptions } from '../../src/store/pglite-driver.ts';
import { PostgresDriver } from '../../src/store/postgres-driver.ts';

/** The server the PostgreSQL variants use (a database on it is created per suite). */
export const SERVER_URL = process.env.SLUICE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  db: Database;
  /** For a Sluice process of its own (DATABASE_URL), when the variant is a server. */
  url?: string;
  drop(): Promise<void>;
}

/** A new, empty database on the server; its URL. */
export async function createServerDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sluice_test_${randomBytes(5).toString('hex')}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/**
 * The environment of a `sluice` child process on a store: this process's, without an inherited
 * DATABASE_URL, with the server's when `server` is given (else the child uses its data dir), and
 * `extra`.
 */
export function storeEnv(server: { url: string } | null | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _inherited, ...rest } = process.env;
  return { ...rest, ...extra, ...(server ? { DATABASE_URL: server.url } : {}) };
}

export const VARIANTS: Array<{ name: string; open: () => Promise<TestDatabase> }> = [
  {
    name: 'PGlite',
    open: async () => {
      const db = await PgliteDriver.open(undefined);
      await migrate(db);
      return { db, drop: () => db.close() };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const server = await createServerDatabase();
      const db = new PostgresDriver({ url: server.url });
      await migrate(db);
      return {
        db,
        url: server.url,
        drop: async () => {
          await db.close();
          await server.drop();
        },
      };
    },
  },
];

/**
 * An embedded database in a temporary data dir, served on its socket as a running Sluice serves
 * it, and a server-driver client connected through that socket (as `sluice keys` connects).
 */
export async function withServedPglite(fn: (db: PgliteDriver, client: PostgresDriver, socket: { dir: string; path: string }) => Promise<void>, opts: PgliteOptions = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-socket-'));
  const db = await PgliteDriver.open(join(dir, 'pgdata'), opts);
  try {
    const path = join(dir, '.s.PGSQL.5432');
    await db.serve({ path });
    const client = new PostgresDriver({ path, max: 1 });
    try {
      await fn(db, client, { dir, path });
    } finally {
      await client.close();
    }
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
