/**
 * `sluice build aws [--env dev|staging|prod] [--config FILE] [--out DIR]`: writes the deployable
 * Lambda bundles (one per handler, config compiled in, no node_modules needed) and the SAM
 * template beside them. Deploy with `sam deploy` (docs/lambda.md).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { bundleHandlers, LAMBDA_HANDLERS, MAX_BUNDLE_BYTES, type HandlerName } from '../../build/bundle.ts';
import { buildDigest, DEPLOY_ENVS, samTemplate, type DeployEnv } from '../../build/sam-template.ts';
import { loadConfigOrReport, UsageError, choice } from '../cli-io.ts';

export const usage = `usage: sluice build aws [--env ${DEPLOY_ENVS.join('|')}] [--config FILE] [--out DIR]
  writes DIR (default dist/aws): one bundle per handler (<handler>/index.mjs) and template.yaml`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { env: { type: 'string' }, config: { type: 'string' }, out: { type: 'string' } } });
  choice(positionals[0], 'target', ['aws']);
  if (positionals.length > 1) throw new UsageError(`the target is aws alone, got ${JSON.stringify(positionals.join(' '))}`);
  const env = (values.env ?? 'dev') as DeployEnv;
  if (!DEPLOY_ENVS.includes(env)) throw new UsageError(`--env must be one of ${DEPLOY_ENVS.join(', ')}, got ${JSON.stringify(values.env)}`);
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const out = resolve(values.out ?? join('dist', 'aws'));
  rmSync(out, { recursive: true, force: true });
  const names = Object.keys(LAMBDA_HANDLERS) as HandlerName[];
  const sizes = await bundleHandlers(loaded.file, out, names);
  const digest = buildDigest(names.map((n) => readFileSync(join(out, n, 'index.mjs'))));
  writeFileSync(join(out, 'template.yaml'), `# Written by sluice build aws --env ${env}; deploy with: sam deploy --guided (docs/lambda.md)\n` + stringify(samTemplate({ config: loaded.config, env, buildId: digest }), { lineWidth: 0 }));
  let over = false;
  for (const n of names) {
    const kb = (sizes[n] / 1024).toFixed(0);
    if (sizes[n] > MAX_BUNDLE_BYTES) over = true;
    process.stdout.write(`${join(out, n, 'index.mjs')}  ${kb} KiB${sizes[n] > MAX_BUNDLE_BYTES ? '  (over the 1 MiB budget)' : ''}\n`);
  }
  process.stdout.write(`${join(out, 'template.yaml')}\nnext: cd ${out} && sam deploy --guided --parameter-overrides Env=${env}\n`);
  return over ? 1 : 0;
}
