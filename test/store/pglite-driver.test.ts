// Both drivers carry long text and json parameters exactly: PGlite's driver sends them to the
// engine as UTF-8 bytes in binary format (see pglite-driver.ts), short ones as text.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VARIANTS, type TestDatabase } from '../support/databases.ts';

const LONG = `${'é€😀 "quoted" \\ back\nslash\t'.repeat(400)}end`;

for (const variant of VARIANTS) {
  describe(`query parameters on ${variant.name}`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await variant.open();
    });
    after(() => t.drop());

    it('long and short text comes back as sent, counted in characters', async () => {
      for (const s of [LONG, 'short é😀']) {
        const [r] = await t.db.query<{ s: string; n: number }>('select $1::text as s, char_length($1::text)::int as n', [s]);
        assert.equal(r.s, s);
        assert.equal(r.n, [...s].length);
      }
    });

    it('long json text is parsed by the database', async () => {
      const doc = { text: LONG, list: Array.from({ length: 50 }, (_, i) => ({ i, v: `value ${i} ✓` })) };
      const [r] = await t.db.query<{ text: string; n: number }>("select $1::text::json->>'text' as text, json_array_length($1::text::json->'list')::int as n", [JSON.stringify(doc)]);
      assert.equal(r.text, LONG);
      assert.equal(r.n, 50);
    });

    it('a NUL character is refused in a long text as in a short one', async () => {
      for (const s of [`${LONG}\u0000`, 'a\u0000b']) await assert.rejects(t.db.query('select $1::text as s', [s]));
    });

    it('numbers and booleans still bind to text parameters', async () => {
      const [r] = await t.db.query<{ a: string; b: string }>('select $1::text as a, $2::text as b', [12.5, true]);
      assert.deepEqual([r.a, r.b], ['12.5', 'true']);
    });
  });
}
