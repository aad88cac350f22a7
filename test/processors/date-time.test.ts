// The validate step's date-time check answers as ajv-formats' own date-time format does: on
// chosen edge cases, and on many strings made by mutating valid date-times a character at a time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { isDateTime } from '../../src/core/date-time.ts';

const reference = (fullFormats['date-time'] as { validate: (s: string) => boolean }).validate;

const CASES: Array<[string, boolean]> = [
  ['2026-11-22T10:00:00Z', true],
  ['2026-11-22T10:00:00.123Z', true],
  ['2026-11-22t10:00:00z', true],
  ['2026-11-22 10:00:00+01:00', true],
  ['2026-11-22\u00a010:00:00+0100', true],
  ['2026-11-22T10:00:00-05', true],
  ['2026-11-22T10:00:00', false], // no zone
  ['2026-11-22T10:00:00.Z', false],
  ['2026-11-22T10:00:00+24:00', false],
  ['2026-11-22T10:00:00+01:60', false],
  ['2026-11-22T10:00:00+01:', false],
  ['2024-02-29T00:00:00Z', true],
  ['2026-02-29T00:00:00Z', false],
  ['1900-02-29T00:00:00Z', false],
  ['2000-02-29T00:00:00Z', true],
  ['2026-04-31T00:00:00Z', false],
  ['2026-13-01T00:00:00Z', false],
  ['2026-00-01T00:00:00Z', false],
  ['2026-01-00T00:00:00Z', false],
  ['2026-12-31T23:59:60Z', true], // a leap second
  ['2026-12-31T22:59:60-01:00', true],
  ['2026-12-31T23:58:60Z', false],
  ['2026-12-31T23:59:60.5Z', true],
  ['2026-12-31T23:59:61Z', false],
  ['2026-12-31T24:00:00Z', false],
  ['2026-12-31T10:59:59.99999999999999999Z', false], // rounds to :60 outside the last minute
  ['2026-11-22TT10:00:00Z', false],
  ['2026-11-22T10:00:00Z ', false],
  [' 2026-11-22T10:00:00Z', false],
  ['2026-11-2210:00:00Z', false],
  ['yesterday at noon', false],
  ['', false],
];

describe('date-time check', () => {
  it('answers the edge cases as stated and as ajv-formats does', () => {
    for (const [s, want] of CASES) {
      assert.equal(isDateTime(s), want, JSON.stringify(s));
      assert.equal(reference(s), want, `ajv-formats on ${JSON.stringify(s)}`);
    }
  });

  it('agrees with ajv-formats on mutated date-times', () => {
    // A seeded generator: the same strings every run.
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = '0123456789:-+.TtZz \u00a0x';
    const bases = CASES.filter(([, ok]) => ok).map(([s]) => s);
    let checked = 0;
    let valid = 0;
    for (let n = 0; n < 50_000; n++) {
      let s = bases[rand(bases.length)];
      for (let k = rand(3); k > 0; k--) {
        const at = rand(s.length + 1);
        const c = alphabet[rand(alphabet.length)];
        const op = rand(3);
        s = op === 0 ? s.slice(0, at) + c + s.slice(at + 1) : op === 1 ? s.slice(0, at) + c + s.slice(at) : s.slice(0, at) + s.slice(at + 1);
      }
      assert.equal(isDateTime(s), reference(s), JSON.stringify(s));
      checked++;
      if (reference(s)) valid++;
    }
    // The mutations reach both answers often.
    assert.ok(valid > checked / 10 && valid < checked / 2, `${valid} of ${checked} valid`);
  });
});
