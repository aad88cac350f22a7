// Helpers the end-to-end benchmarks share: arguments, a fresh PostgreSQL database, the load
// generator in a worker thread.
import { Worker } from 'node:worker_threads';
import postgres from 'postgres';
import { LOAD } from './findings.mjs';

export const SERVER = process.env.SLUICE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

/** The middle value; for an even count, the mean of the two middle ones. */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A new database on the server; `drop()` removes it. */
export async function freshDatabase(prefix = 'sluice_bench') {
  const admin = postgres(SERVER, { max: 1, onnotice: () => {} });
  const name = `${prefix}_${Date.now()}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** Runs the load generator (see findings.mjs) and resolves with its counts. */
export function load(workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(LOAD, { eval: true, workerData });
    w.once('message', resolve);
    w.once('error', reject);
  });
}
