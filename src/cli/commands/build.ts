/**
 * `sluice build aws [--env dev|staging|prod] [--config FILE] [--out DIR]`: writes the deployable
 * Lambda bundles (one per handler, config compiled in, no node_modules needed) and the SAM
 * template beside them. Deploy with `sam deploy` (docs/lambda.md).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { bundleHandlers, LAMBDA_HANDLERS, MAX_BUNDLE_BYTES, type HandlerName } from '../../build/bundle.ts';
import { buildDigest, DEPLOY_ENVS, samTemplate, type DeployEnv } from '../../build/sam-template.ts';
import { loadConfigOrReport, UsageError, choice } from '../cli-io.ts';

export const usage = `usage: sluice build aws [--env ${DEPLOY_ENVS.join('|')}] [--config FILE] [--out DIR]
  writes DIR (default dist/aws): one bundle per handler (<handler>/index.mjs and its chunks/) and template.yaml`;

/** The first line of every template this command writes; an earlier build's directory is recognized by it. */
const TEMPLATE_HEADER = '# Written by sluice build aws';

/** What a build writes into its directory: a directory per handler and the template. */
const BUILD_ENTRIES = new Set<string>([...Object.keys(LAMBDA_HANDLERS), 'template.yaml']);

/** Whether `dir` holds an earlier build: its template is this command's, or it holds nothing else. */
function earlierBuild(dir: string, entries: string[]): boolean {
  if (entries.every((e) => BUILD_ENTRIES.has(e))) return true;
  const template = join(dir, 'template.yaml');
  return existsSync(template) && readFileSync(template, 'utf8').startsWith(TEMPLATE_HEADER);
}

/**
 * Makes `out` ready for the bundles: created when missing, one level at a time (Node's recursive
 * mkdir never returns under /proc). An existing directory must be empty or an earlier build; of
 * an earlier build, only what a build writes is removed, so `sam deploy`'s samconfig.toml and
 * anything else kept beside it stay. Any other directory is refused: `--out .` in a project
 * must not delete the project.
 */
function prepareOut(out: string): void {
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a file; give a directory`);
    const entries = readdirSync(out);
    if (entries.length === 0) return;
    if (!earlierBuild(out, entries)) {
      throw new UsageError(`--out ${out} holds files that are not an earlier build (no template.yaml written by sluice build aws); give a new or empty directory`);
    }
    for (const e of entries) if (BUILD_ENTRIES.has(e)) rmSync(join(out, e), { recursive: true, force: true });
    return;
  }
  const missing: string[] = [];
  for (let d = out; !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      throw new UsageError(`--out: cannot create ${d} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { env: { type: 'string' }, config: { type: 'string' }, out: { type: 'string' } } });
  choice(positionals[0], 'target', ['aws']);
  if (positionals.length > 1) throw new UsageError(`the target is aws alone, got ${JSON.stringify(positionals.join(' '))}`);
  const env = (values.env ?? 'dev') as DeployEnv;
  if (!DEPLOY_ENVS.includes(env)) throw new UsageError(`--env must be one of ${DEPLOY_ENVS.join(', ')}, got ${JSON.stringify(values.env)}`);
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const out = resolve(values.out ?? join('dist', 'aws'));
  prepareOut(out);
  const names = Object.keys(LAMBDA_HANDLERS) as HandlerName[];
  const sizes = await bundleHandlers(loaded.file, out, names);
  const digest = buildDigest(names.map((n) => readFileSync(join(out, n, 'index.mjs'))));
  writeFileSync(join(out, 'template.yaml'), `${TEMPLATE_HEADER} --env ${env}; deploy with: sam deploy --guided (docs/lambda.md)\n` + stringify(samTemplate({ config: loaded.config, env, buildId: digest }), { lineWidth: 0 }));
  let over = false;
  const kB = (bytes: number): string => `${(bytes / 1000).toFixed(0)} kB`;
  for (const n of names) {
    const { total, entry } = sizes[n];
    if (total > MAX_BUNDLE_BYTES) over = true;
    process.stdout.write(`${join(out, n, 'index.mjs')}  ${kB(total)} (${kB(entry)} loaded at a cold start)${total > MAX_BUNDLE_BYTES ? '  over the 1 MB budget' : ''}\n`);
  }
  process.stdout.write(`${join(out, 'template.yaml')}\nnext: cd ${out} && sam deploy --guided --parameter-overrides Env=${env}\n`);
  return over ? 1 : 0;
}
