// The 405 answer's Allow header comes from the routes the app registered (src/api/app.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { allowedMethods } from '../../src/api/app.ts';

test('allowed methods: literal segments, :name parameters and *; other route forms refuse to start', () => {
  const app = new Hono();
  app.use(async (_c, next) => next());
  app.get('/v1/dashboards/:id', (c) => c.text(''));
  app.put('/v1/dashboards/:id', (c) => c.text(''));
  app.post('/v1/dashboards', (c) => c.text(''));
  app.get('/assets/*', (c) => c.text(''));
  app.options('/v1/embed/query', (c) => c.text(''));
  const allowed = allowedMethods(app);
  assert.deepEqual(allowed('/v1/dashboards/abc'), ['GET', 'PUT']);
  assert.deepEqual(allowed('/v1/dashboards'), ['POST']);
  assert.deepEqual(allowed('/v1/dashboards/abc/def'), []);
  assert.deepEqual(allowed('/assets/a/b.js'), ['GET']);
  assert.deepEqual(allowed('/v1/embed/query'), [], 'OPTIONS (CORS preflight) is not offered in Allow');
  assert.deepEqual(allowed('/v1/dashboardsX'), []);

  const regex = new Hono();
  regex.get('/v1/items/:id{[0-9]+}', (c) => c.text(''));
  assert.throws(() => allowedMethods(regex), /extend it for \/v1\/items\/:id\{\[0-9\]\+\}/);
});
