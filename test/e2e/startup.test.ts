// Starting: the HTTP port is taken before anything else, and answers 503 `starting` until the
// app is ready; a port in use is refused at once, naming it.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { listening } from '../../src/runtime/sluice-node.ts';

describe('the HTTP port while Sluice starts', () => {
  it('answers 503 starting with Retry-After until the app is served, then the app', async () => {
    const { server, serve } = await listening(0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const early = await fetch(`${url}/healthz`);
      assert.equal(early.status, 503);
      assert.equal(early.headers.get('retry-after'), '1');
      assert.deepEqual(await early.json(), { error: { code: 'starting', message: 'Sluice is starting; retry shortly' } });
      serve((req) => new Response(`app: ${new URL(req.url).pathname}`));
      const ready = await fetch(`${url}/healthz`);
      assert.deepEqual([ready.status, await ready.text()], [200, 'app: /healthz']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses a port in use, naming it', async () => {
    const { server } = await listening(0, '127.0.0.1');
    try {
      const port = (server.address() as AddressInfo).port;
      await assert.rejects(listening(port, '127.0.0.1'), { message: `port ${port} on 127.0.0.1 is in use (another Sluice, or another program): stop it or give --port` });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
