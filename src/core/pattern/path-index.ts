/**
 * What the rule machine knows about one event path: hash indexes for exact, prefix, suffix and
 * equals-ignore-case values (so their cost does not grow with the number of rules), and a short
 * list for the operators that must be evaluated (wildcard, numeric ranges, cidr, anything-but).
 * Each entry names the conditions (one per sub-rule field) a matching value satisfies.
 */
import { fold, matchValue, V_NUMBER, V_STRING, type Matcher, type ValueKind } from './value-matcher.ts';
import type { Wildcard } from './wildcard.ts';

type Conds = number[];

function add<K>(map: Map<K, Conds>, key: K, cond: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [cond]);
  else if (list[list.length - 1] !== cond) list.push(cond);
}

function addLength(lengths: number[], n: number): void {
  if (!lengths.includes(n)) {
    lengths.push(n);
    lengths.sort((a, b) => a - b);
  }
}

/** The per-path index of a {@link RuleMachine}. */
export class PathIndex {
  readonly exactStr = new Map<string, Conds>();
  readonly exactKey = new Map<number, Conds>();
  readonly exactText = new Map<string, Conds>();
  readonly prefix = new AffixIndex(true);
  readonly suffix = new AffixIndex(false);
  readonly eic = new Map<string, Conds>();
  readonly prefixEic = new AffixIndex(true);
  readonly suffixEic = new AffixIndex(false);
  /** Numeric ranges, tested inline on numbers. */
  readonly ranges: Array<{ lo: number; loOpen: boolean; hi: number; hiOpen: boolean; cond: number }> = [];
  /** Wildcards, tested inline on strings. */
  readonly wildcards: Array<{ glob: Wildcard; cond: number }> = [];
  /** The rest (cidr, anything-but): evaluated one by one. */
  readonly evaluated: Array<{ matcher: Matcher; cond: number }> = [];
  readonly existsConds: Conds = [];
  readonly absentConds: Conds = [];
  /** Event epoch in which this path last had a value. */
  presentEpoch = -1;
  private folded = false;

  constructor(readonly path: string) {}

  /** Registers a matcher that satisfies `cond`. */
  add(m: Matcher, cond: number): void {
    switch (m.kind) {
      case 'exact':
        return add(this.exactStr, m.value, cond);
      case 'literal':
        if (m.key === m.key) add(this.exactKey, m.key, cond);
        return add(this.exactText, m.text, cond);
      case 'prefix':
        return this.prefix.add(m.value, cond);
      case 'suffix':
        return this.suffix.add(m.value, cond);
      case 'eic':
        this.folded = true;
        return add(this.eic, m.value, cond);
      case 'prefix-eic':
        this.folded = true;
        return this.prefixEic.add(m.value, cond);
      case 'suffix-eic':
        this.folded = true;
        return this.suffixEic.add(m.value, cond);
      case 'numeric':
        this.ranges.push({ lo: m.lo, loOpen: m.loOpen, hi: m.hi, hiOpen: m.hiOpen, cond });
        return;
      case 'wildcard':
        this.wildcards.push({ glob: m.glob, cond });
        return;
      case 'exists':
        if (m.exists) this.existsConds.push(cond);
        else this.absentConds.push(cond);
        return;
      default:
        this.evaluated.push({ matcher: m, cond });
    }
  }

  /** Calls `sat` for every condition the value satisfies (possibly more than once). */
  visit(kind: ValueKind, text: string, key: number, sat: (cond: number) => void): void {
    let list: Conds | undefined;
    if (kind === V_STRING) {
      if ((list = this.exactStr.get(text)) !== undefined) for (const c of list) sat(c);
      if (this.prefix.lens.length > 0) this.prefix.probe(text, sat);
      if (this.suffix.lens.length > 0) this.suffix.probe(text, sat);
      if (this.folded) {
        const f = fold(text);
        if ((list = this.eic.get(f)) !== undefined) for (const c of list) sat(c);
        if (this.prefixEic.lens.length > 0) this.prefixEic.probe(f, sat);
        if (this.suffixEic.lens.length > 0) this.suffixEic.probe(f, sat);
      }
      const wc = this.wildcards;
      for (let i = 0; i < wc.length; i++) if (wc[i].glob.test(text)) sat(wc[i].cond);
    } else if (kind === V_NUMBER && key === key) {
      if ((list = this.exactKey.get(key)) !== undefined) for (const c of list) sat(c);
      const rs = this.ranges;
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i];
        if ((r.loOpen ? key > r.lo : key >= r.lo) && (r.hiOpen ? key < r.hi : key <= r.hi)) sat(r.cond);
      }
    } else if ((list = this.exactText.get(text)) !== undefined) {
      for (const c of list) sat(c);
    }
    const ev = this.evaluated;
    for (let i = 0; i < ev.length; i++) if (matchValue(ev[i].matcher, kind, text, key)) sat(ev[i].cond);
    const ex = this.existsConds;
    for (let i = 0; i < ex.length; i++) sat(ex[i]);
  }
}

/**
 * Prefixes (or suffixes) of one path, grouped by length: a value is probed once per distinct
 * length, not once per rule. Affixes of up to three characters are keyed by their packed
 * character codes, so probing them allocates nothing.
 */
class AffixIndex {
  readonly lens: number[] = [];
  private readonly byLen = new Map<number, Map<string | number, Conds>>();

  constructor(private readonly front: boolean) {}

  add(affix: string, cond: number): void {
    const n = affix.length;
    addLength(this.lens, n);
    let m = this.byLen.get(n);
    if (m === undefined) this.byLen.set(n, (m = new Map()));
    add(m, n <= 3 ? pack(affix, 0, n) : affix, cond);
  }

  probe(s: string, sat: (c: number) => void): void {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const n = lens[i];
      if (n > s.length) return;
      const from = this.front ? 0 : s.length - n;
      const list = this.byLen.get(n)!.get(n <= 3 ? pack(s, from, n) : s.slice(from, from + n));
      if (list !== undefined) for (const c of list) sat(c);
    }
  }
}

function pack(s: string, from: number, n: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) k = k * 65536 + s.charCodeAt(from + i);
  return k;
}
