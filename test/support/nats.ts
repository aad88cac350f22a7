/** A private nats-server with JetStream on loopback (Debian's 2.9), for the scale-out tests. */
import { spawn, type ChildProcess } from 'node:child_process';

export const NATS_SERVER = '/usr/sbin/nats-server';

/** Starts nats-server on `port` with its JetStream store in `dir`; resolves once it is ready. */
export function startNats(port: number, dir: string): Promise<ChildProcess> {
  const p = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((ready, fail) => {
    let err = '';
    p.stderr!.on('data', (d: Buffer) => {
      err += d;
      if (err.includes('Server is ready')) ready(p);
    });
    p.once('exit', (code) => fail(new Error(`nats-server exited ${code}: ${err}`)));
  });
}
