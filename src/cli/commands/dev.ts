/**
 * `sluice dev`: Sluice on the embedded database with a demo: three tenants' keys and a stream of
 * realistic events, so there is data to query within seconds. Prints the URLs, keys and a curl.
 */
import { startDemo } from '../../runtime/demo.ts';
import { Dashboards } from '../../dashboards/dashboards.ts';
import { serve, serveUsage } from './serve.ts';

export const usage = serveUsage('dev');

export async function run(argv: string[]): Promise<number> {
  return serve('dev', argv, async ({ sluice, log, dataDir, file }) => {
    const demo = argv.includes('--no-demo') ? null : await startDemo(sluice.url, sluice.keys, dataDir, (m) => log.warn(m), new Dashboards(sluice.db));
    const lines = [
      `Sluice dev is running: ${file}, data in ${dataDir}${sluice.db.kind === 'postgres' ? ' (database: DATABASE_URL)' : ''}`,
      demo ? `  web UI:     ${sluice.url}/#key=${demo.adminKey}   (signs in with the demo admin key, also in ${dataDir}/admin-key)` : `  web UI:     ${sluice.url}/   (sign in with an admin key: sluice keys create --tenant '*' --kind admin)`,
      `  API:        ${sluice.url}   (POST /v1/events, POST /v1/query, AWS protocol on POST /)`,
      `  metrics:    ${sluice.url}/metrics`,
    ];
    if (sluice.db.kind === 'pglite') lines.push(`  database:   psql -h ${dataDir} -U postgres postgres   (while Sluice runs)`);
    if (sluice.pgPort !== undefined) lines.push(`  BI tools:   host 127.0.0.1 port ${sluice.pgPort}, user postgres, database postgres, schema bi`);
    if (demo) {
      lines.push('  demo keys (also in ' + dataDir + '/demo-keys.json):');
      for (const [t, k] of Object.entries(demo.keys)) lines.push(`    ${t.padEnd(8)} ingest ${k.ingest}\n    ${''.padEnd(8)} read   ${k.read}`);
      lines.push(
        '  query a metric:',
        `    curl -s ${sluice.url}/v1/query -H 'authorization: Bearer ${demo.keys.acme.read}' \\`,
        `      -d '{"metric":"findings_upload_completed","from":"now-24h","step":"1h","aggregations":["count","sum:new_findings_count"]}'`,
      );
    }
    log.info(lines.join('\n'));
    return () => demo?.stop();
  });
}
