/**
 * `sluice bi-role create --name NAME [--json]`: a PostgreSQL login role for BI tools (Metabase,
 * Superset, psql) that can read the tables in schema `bi` (now and later) and nothing else: not
 * the intake log, the keys, the metrics store or the error output. The password is printed once.
 * Only on PostgreSQL: the embedded database runs every connection as its one user, so a role
 * there would restrict nothing, and the command refuses rather than print a password that
 * protects nothing.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { BI_SCHEMA } from '../../destinations/table/table-schema.ts';
import { openDatabase } from '../../store/open-database.ts';
import { UsageError, choice } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice bi-role create --name NAME [--json] ${STORE_USAGE}`;

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function run(argv: string[]): Promise<number> {
  choice(argv[0], 'action', ['create']);
  const rest = argv.slice(1);
  const { values } = parseArgs({ args: rest, options: { ...STORE_OPTIONS, name: { type: 'string' }, json: { type: 'boolean' } } });
  if (!values.name) throw new UsageError('--name is required: the role to create (lower-case letters, digits and _, 1 to 63)');
  if (!ROLE_NAME.test(values.name)) throw new UsageError(`--name: expected a role name (lower-case letters, digits and _, 1 to 63), got ${JSON.stringify(values.name)}`);
  if (['postgres', 'sluice_tenant'].includes(values.name) || values.name.startsWith('pg_')) throw new UsageError(`--name: ${values.name} is reserved`);
  const name = values.name;
  const where = storeLocation(values);
  if (!where.databaseUrl) {
    throw new UsageError(
      'a BI role needs the PostgreSQL server: the embedded database (PGlite) runs every connection as its one user and enforces no roles, ' +
        'so a role there would restrict nothing. Set DATABASE_URL to the server Sluice writes to (docs/bi.md, "Connecting BI tools"); ' +
        'in development, sluice dev --pg-port 5433 serves the embedded database to BI tools as user postgres',
    );
  }
  // base64url: safe inside a quoted literal (utility statements take no parameters).
  const password = randomBytes(24).toString('base64url');
  const db = await openDatabase(where, { exclusive: false });
  try {
    const exists = await db.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [name]);
    if (exists[0].n > 0) {
      process.stderr.write(`sluice bi-role: a role named ${name} already exists\n`);
      return 1;
    }
    await db.transaction(async (tx) => {
      await tx.query(`create role "${name}" login password '${password}' nosuperuser nocreatedb nocreaterole noinherit`);
      await tx.query(`grant usage on schema ${BI_SCHEMA} to "${name}"`);
      await tx.query(`grant select on all tables in schema ${BI_SCHEMA} to "${name}"`);
      // Tables Sluice creates later (as the role it connects with) are readable too.
      await tx.query(`alter default privileges in schema ${BI_SCHEMA} grant select on tables to "${name}"`);
    });
    if (values.json) process.stdout.write(JSON.stringify({ name, password, schema: BI_SCHEMA }) + '\n');
    else process.stdout.write(`role ${name} can read schema ${BI_SCHEMA} (password shown once):\n  ${password}\nconnect BI tools with user ${name} to this database; see docs/bi.md\n`);
    return 0;
  } finally {
    await db.close();
  }
}
