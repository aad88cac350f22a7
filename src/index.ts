/** Sluice's public entry point: configuration, patterns, transformers and the router. */
export * from './config/index.ts';
export * from './core/pattern/index.ts';
export * from './core/transform/index.ts';
export { Router, type Routed } from './pipeline/router.ts';
export { parseJsonText, JsonEntries, JsonNumber, type Loose } from './core/json/json-text.ts';
export { ok, drop, fail, type Outcome } from './core/outcome.ts';
export { cached } from './processors/enrich.ts';
