/**
 * One esbuild bundle per Lambda handler: the handler, the config compiled in, and every
 * dependency, as ES modules that run without node_modules: `index.mjs`, and in `chunks/` what it
 * imports only when needed. The embedded database (PGlite) is left out: deployed functions use
 * PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/** The handlers a deployment has, by bundle name: the module and factory each one is made by. */
export const LAMBDA_HANDLERS = {
  dynamodb: ['lambda/container.ts', 'dynamodbHandler'],
  'firehose-transform': ['lambda/container.ts', 'firehoseTransformHandler'],
  s3: ['lambda/s3-handler.ts', 's3Handler'],
  http: ['lambda/http-handler.ts', 'httpHandler'],
  drain: ['lambda/container.ts', 'drainHandler'],
  migrate: ['lambda/container.ts', 'migrateHandler'],
} as const;
export type HandlerName = keyof typeof LAMBDA_HANDLERS;

/** The budget of each handler's bundle: 1 MB, 1,000,000 bytes. */
export const MAX_BUNDLE_BYTES = 1_000_000;

const source = (rel: string): string => fileURLToPath(new URL(`../${rel}`, import.meta.url));

/**
 * What a function never runs, replaced: the embedded database (opening it says what to
 * configure instead), the TypeScript loader of config files (the config is compiled in; a
 * config that imports `sluice/config` reaches it through the re-exports), node-postgres's
 * optional native binding (absent, as when `pg-native` is not installed) and its ~/.pgpass
 * lookup (a function's database URL carries its password), and the browser user-agent parser
 * the AWS SDK loads only in a browser.
 */
const STUBS: Record<string, string> = {
  'pglite-driver': `export class PgliteDriver { static async open() { throw new Error('a Lambda function uses PostgreSQL: set the database-url parameter under SLUICE_SSM_PATH, or DATABASE_URL'); } }`,
  tsx: `export async function tsImport() { throw new Error('a Lambda bundle has its config compiled in'); }`,
  'pg-native': `const e = new Error('pg-native is not bundled'); e.code = 'MODULE_NOT_FOUND'; throw e;`,
  pgpass: `module.exports = (params, found) => found(undefined);`,
  bowser: `export default {};`,
};
const stubs: Plugin = {
  name: 'sluice-lambda-stubs',
  setup(b) {
    b.onResolve({ filter: /pglite-driver\.ts$/ }, () => ({ path: 'pglite-driver', namespace: 'sluice-stub' }));
    b.onResolve({ filter: /^tsx\/esm\/api$/ }, () => ({ path: 'tsx', namespace: 'sluice-stub' }));
    b.onResolve({ filter: /^\.\/native$/ }, (a) => (/[\\/]pg[\\/]lib$/.test(a.resolveDir) ? { path: 'pg-native', namespace: 'sluice-stub' } : undefined));
    b.onResolve({ filter: /^(bowser|pgpass)$/ }, (a) => ({ path: a.path, namespace: 'sluice-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'sluice-stub' }, (a) => ({ contents: STUBS[a.path], loader: 'js' }));
  },
};

/** A handler's bundle, in bytes: everything it deploys (`total`) and what a cold start loads (`entry`). */
export interface BundleSize {
  total: number;
  entry: number;
}

/**
 * Writes `outDir/<handler>/index.mjs` (exporting `handler`) and its `chunks/`, and returns each
 * bundle's size.
 *
 * @example await bundleHandlers('sluice.config.ts', 'dist/aws');
 */
export async function bundleHandlers(configFile: string, outDir: string, names: HandlerName[] = Object.keys(LAMBDA_HANDLERS) as HandlerName[]): Promise<Record<string, BundleSize>> {
  const sizes: Record<string, BundleSize> = {};
  for (const name of names) {
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    const [module, factory] = LAMBDA_HANDLERS[name];
    const entry = [
      `import * as configModule from ${JSON.stringify(resolve(configFile))};`,
      `import { lambdaContainer } from ${JSON.stringify(source('lambda/container.ts'))};`,
      `import { ${factory} } from ${JSON.stringify(source(module))};`,
      `import { validConfig } from ${JSON.stringify(source('config/config-error.ts'))};`,
      `export const handler = ${factory}(lambdaContainer(async () => validConfig(configModule.default, ${JSON.stringify(basename(configFile))})));`,
    ].join('\n');
    const result = await build({
      stdin: { contents: entry, resolveDir: process.cwd(), sourcefile: `${name}-handler.mjs`, loader: 'js' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      // Dependencies' ES module builds first (the AWS SDK's dist-es): they can be tree-shaken,
      // where their CommonJS builds (esbuild's default for Node) are bundled whole.
      mainFields: ['module', 'main'],
      minify: true,
      legalComments: 'none',
      // What a handler imports only when it needs it (the S3 client, the AWS SDK's credential
      // providers) goes into chunks of its own, loaded then; a cold start loads index.mjs and
      // the chunks it imports statically (code it shares with the others).
      splitting: true,
      outdir: dir,
      entryNames: 'index',
      chunkNames: 'chunks/[name]-[hash]',
      outExtension: { '.js': '.mjs' },
      metafile: true,
      plugins: [stubs],
      // CommonJS dependencies call require() for Node's own modules.
      banner: { js: `import { createRequire as __sluiceRequire } from 'node:module'; const require = __sluiceRequire(import.meta.url);` },
      logLevel: 'silent',
    });
    const outputs = result.metafile.outputs;
    // A cold start loads index.mjs and the chunks it imports statically, not the dynamic ones.
    const loaded = new Set<string>();
    const load = (file: string): void => {
      if (loaded.has(file) || !outputs[file]) return;
      loaded.add(file);
      for (const i of outputs[file].imports) if (i.kind === 'import-statement') load(i.path);
    };
    load(Object.keys(outputs).find((file) => file.endsWith('/index.mjs')) ?? '');
    const bytes = (files: Iterable<string>): number => [...files].reduce((sum, f) => sum + outputs[f].bytes, 0);
    sizes[name] = { total: bytes(Object.keys(outputs)), entry: bytes(loaded) };
  }
  return sizes;
}
