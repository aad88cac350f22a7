/**
 * Chooses the database: PostgreSQL when a URL is configured, else PGlite in the data dir. While
 * a Sluice process holds a PGlite data dir it serves it on a Unix socket in that dir, and other
 * commands (`sluice keys …`) connect through it instead of opening the files a second time.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import type { Database } from './database.ts';
import { migrate } from './migrations.ts';
import { PgliteDriver } from './pglite-driver.ts';
import { PostgresDriver } from './postgres-driver.ts';

export const DEFAULT_DATA_DIR = '.sluice';

export interface StoreLocation {
  /** A PostgreSQL URL; when set, the data dir holds no database. */
  databaseUrl?: string;
  /** Folder of the embedded database. */
  dataDir?: string;
}

/** The socket a running Sluice serves its embedded database on (psql -h DIR connects to it). */
export function socketPath(dataDir: string): string {
  return join(resolve(dataDir), '.s.PGSQL.5432');
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/**
 * Opens and migrates the store. `exclusive` is for the process that serves the data dir; other
 * commands pass false and share a running one's database through its socket.
 *
 * @example const db = await openDatabase({ dataDir: '.sluice' }, { exclusive: false });
 */
export async function openDatabase(where: StoreLocation, opts: { exclusive: boolean; poolSize?: number }): Promise<Database> {
  let db: Database;
  if (where.databaseUrl) {
    db = new PostgresDriver({ url: where.databaseUrl, max: opts.poolSize });
  } else {
    const dir = resolve(where.dataDir ?? DEFAULT_DATA_DIR);
    const sock = socketPath(dir);
    if (existsSync(sock) && (await socketAnswers(sock))) {
      if (opts.exclusive) throw new Error(`another Sluice process is serving ${dir} (socket ${sock}); stop it or use another --data-dir`);
      db = new PostgresDriver({ path: sock, max: 1 });
    } else {
      mkdirSync(dir, { recursive: true });
      db = await PgliteDriver.open(join(dir, 'pgdata'));
    }
  }
  await migrate(db);
  return db;
}
