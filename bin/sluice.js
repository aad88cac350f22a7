#!/usr/bin/env node
// The sluice command. Runs the TypeScript sources through tsx (which also lets it load
// sluice.config.ts files); `npx sluice …` works in a clone after `npm install`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
