#!/usr/bin/env node
// The sluice command. Runs the TypeScript sources through tsx (which also lets it load
// sluice.config.ts files); `npx sluice …` works in a clone after `npm install`.
import { register } from 'tsx/esm/api';

// A reader that stops reading (`sluice dlq list | head`) ends the command quietly, as it ends
// `cat`, instead of in a stack trace.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
