/**
 * `sluice keys create|list|revoke`: API keys in the store. Keys are printed once; the store keeps
 * their hashes. Works beside a running `sluice dev` on the same data dir (through its socket).
 */
import { parseArgs } from 'node:util';
import { KEY_KINDS, TENANT_NAME, ANY_TENANT, KeyStore, type KeyKind } from '../../auth/api-keys.ts';
import { openDatabase } from '../../store/open-database.ts';
import { loadConfigOrReport, UsageError, choice } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice keys create --tenant TENANT --kind ingest|read|admin [--json] ${STORE_USAGE}
       sluice keys list [--tenant TENANT] [--json] ${STORE_USAGE}
       sluice keys revoke KEY|KEY_ID|ACCESS_KEY_ID ${STORE_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const action = choice(argv[0], 'action', ['create', 'list', 'revoke']);
  const rest = argv.slice(1);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: action === 'revoke',
    options: { ...STORE_OPTIONS, tenant: { type: 'string' }, kind: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (values.config !== undefined && (await loadConfigOrReport(values.config)) === null) return 2;
  if (values.tenant !== undefined && values.tenant !== ANY_TENANT && !TENANT_NAME.test(values.tenant)) {
    throw new UsageError(`--tenant: expected a tenant name (lower-case letters, digits, "_" or "-", 1 to 63), got ${JSON.stringify(values.tenant)}`);
  }
  if (action === 'create') {
    if (!values.tenant) throw new UsageError('--tenant is required');
    if (values.kind === undefined) throw new UsageError(`--kind is required: one of ${KEY_KINDS.join(', ')}`);
    if (!KEY_KINDS.includes(values.kind as KeyKind)) throw new UsageError(`--kind: expected one of ${KEY_KINDS.join(', ')}, got ${JSON.stringify(values.kind)}`);
    if (values.tenant === ANY_TENANT && values.kind !== 'admin') throw new UsageError('--tenant "*" is only for admin keys');
  }
  if (action === 'revoke' && positionals.length !== 1) throw new UsageError('revoke takes one key, key id or access key id');

  const db = await openDatabase(storeLocation(values), { exclusive: false });
  try {
    const keys = new KeyStore(db);
    if (action === 'create') {
      const k = await keys.create(values.tenant!, values.kind as KeyKind);
      if (values.json) process.stdout.write(JSON.stringify(k) + '\n');
      else {
        process.stdout.write(`${k.kind} key for tenant ${k.tenant} (shown once; Sluice keeps only its hash):\n  ${k.key}\n`);
        if (k.accessKeyId) process.stdout.write(`AWS protocol (SigV4) credentials:\n  access key id:     ${k.accessKeyId}\n  secret access key: ${k.secretAccessKey}\n`);
      }
    } else if (action === 'list') {
      const list = await keys.list(values.tenant);
      if (values.json) process.stdout.write(JSON.stringify(list) + '\n');
      else for (const k of list) process.stdout.write(`${k.id}  ${k.kind.padEnd(6)}  ${k.tenant.padEnd(16)}  ${k.created_at}${k.revoked_at ? '  revoked ' + k.revoked_at : ''}${k.accessKeyId ? '  ' + k.accessKeyId : ''}\n`);
    } else {
      if (!(await keys.revoke(positionals[0]))) {
        process.stderr.write('sluice keys revoke: no such active key\n');
        return 1;
      }
      process.stdout.write('revoked\n');
    }
    return 0;
  } finally {
    await db.close();
  }
}
