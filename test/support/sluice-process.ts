/**
 * The `sluice` command as a child process, for tests that run it the way users do, and a
 * bounded wait for what such a process does in the background.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const SLUICE_BIN = join(import.meta.dirname, '../../bin/sluice.js');

/** Runs `sluice …` to its exit; resolves with the exit code and everything it wrote. */
export function runSluice(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [SLUICE_BIN, ...args], { env });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** Polls `f` every 200 ms until it returns a value (a throw counts as not yet); fails after `ms`. */
export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `check` every 100 ms until it is true (a throw fails at once); fails after `ms`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, ms = 90_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
