// The suppression list as streams check it (src/privacy/suppression.ts), on PGlite and on
// PostgreSQL: held in memory and reloaded when an erasure bumps the epoch; past its size limit,
// each check asks the database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SuppressionList } from '../../src/privacy/suppression.ts';
import { VARIANTS, type TestDatabase } from '../support/databases.ts';

const p = (c: string) => `k1:${c.repeat(32)}`;

for (const variant of VARIANTS) {
  describe(`suppression list on ${variant.name}`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await variant.open();
    });
    after(() => t.drop());

    /** What an erasure does to the list: its pseudonyms and the epoch, in one transaction. */
    const erase = (...pseudonyms: string[]) =>
      t.db.transaction(async (tx) => {
        await tx.query('update sluice.erasure_epoch set n = n + 1');
        await tx.query('insert into sluice.erased_subjects (pseudonym) select json_array_elements_text($1::text::json)', [JSON.stringify(pseudonyms)]);
      });

    it('answers from memory until an erasure bumps the epoch', async () => {
      const list = new SuppressionList(t.db);
      assert.deepEqual(await list.check([p('a'), p('b')]), { erased: new Set(), epoch: 0 });
      await erase(p('a'));
      assert.deepEqual(await list.check([p('a'), p('b')]), { erased: new Set([p('a')]), epoch: 1 });
      // A row added without the epoch (never what an erasure does) shows the list is held, not re-read.
      await t.db.query('insert into sluice.erased_subjects (pseudonym) values ($1)', [p('b')]);
      assert.deepEqual(await list.check([p('a'), p('b')]), { erased: new Set([p('a')]), epoch: 1 });
      await erase(p('c'));
      assert.deepEqual(await list.check([p('a'), p('b'), p('c'), p('d')]), { erased: new Set([p('a'), p('b'), p('c')]), epoch: 2 });
    });

    it('past its size limit, every check asks the database', async () => {
      const list = new SuppressionList(t.db, 2); // the list holds 3 by now
      assert.deepEqual(await list.check([p('b'), p('d')]), { erased: new Set([p('b')]), epoch: 2 });
      await t.db.query('insert into sluice.erased_subjects (pseudonym) values ($1)', [p('d')]);
      assert.deepEqual(await list.check([p('b'), p('d')]), { erased: new Set([p('b'), p('d')]), epoch: 2 });
    });
  });
}
