/**
 * What the rule machine knows about one event path: hash indexes for exact, prefix, suffix and
 * equals-ignore-case values (so their cost does not grow with the number of rules), and a short
 * list for the operators that must be evaluated (wildcard, numeric ranges, cidr, anything-but).
 * Each entry names the conditions (one per sub-rule field) a matching value satisfies.
 */
import { fold, matchValue, V_NUMBER, V_STRING, type Matcher, type ValueKind } from './value-matcher.ts';

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
  readonly prefix = new Map<string, Conds>();
  readonly prefixLens: number[] = [];
  readonly suffix = new Map<string, Conds>();
  readonly suffixLens: number[] = [];
  readonly eic = new Map<string, Conds>();
  readonly prefixEic = new Map<string, Conds>();
  readonly prefixEicLens: number[] = [];
  readonly suffixEic = new Map<string, Conds>();
  readonly suffixEicLens: number[] = [];
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
        addLength(this.prefixLens, m.value.length);
        return add(this.prefix, m.value, cond);
      case 'suffix':
        addLength(this.suffixLens, m.value.length);
        return add(this.suffix, m.value, cond);
      case 'eic':
        this.folded = true;
        return add(this.eic, m.value, cond);
      case 'prefix-eic':
        this.folded = true;
        addLength(this.prefixEicLens, m.value.length);
        return add(this.prefixEic, m.value, cond);
      case 'suffix-eic':
        this.folded = true;
        addLength(this.suffixEicLens, m.value.length);
        return add(this.suffixEic, m.value, cond);
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
      if (this.prefixLens.length > 0) probe(this.prefix, this.prefixLens, text, true, sat);
      if (this.suffixLens.length > 0) probe(this.suffix, this.suffixLens, text, false, sat);
      if (this.folded) {
        const f = fold(text);
        if ((list = this.eic.get(f)) !== undefined) for (const c of list) sat(c);
        if (this.prefixEicLens.length > 0) probe(this.prefixEic, this.prefixEicLens, f, true, sat);
        if (this.suffixEicLens.length > 0) probe(this.suffixEic, this.suffixEicLens, f, false, sat);
      }
    } else if (kind === V_NUMBER && key === key) {
      if ((list = this.exactKey.get(key)) !== undefined) for (const c of list) sat(c);
    } else if ((list = this.exactText.get(text)) !== undefined) {
      for (const c of list) sat(c);
    }
    const ev = this.evaluated;
    for (let i = 0; i < ev.length; i++) if (matchValue(ev[i].matcher, kind, text, key)) sat(ev[i].cond);
    const ex = this.existsConds;
    for (let i = 0; i < ex.length; i++) sat(ex[i]);
  }
}

function probe(map: Map<string, Conds>, lens: number[], s: string, front: boolean, sat: (c: number) => void): void {
  for (let i = 0; i < lens.length; i++) {
    const n = lens[i];
    if (n > s.length) return;
    const list = map.get(front ? s.slice(0, n) : s.slice(s.length - n));
    if (list !== undefined) for (const c of list) sat(c);
  }
}
