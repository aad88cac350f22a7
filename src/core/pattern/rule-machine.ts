/**
 * The rule machine: many EventBridge patterns compiled once, matched against each event in time
 * that does not grow with the number of rules in the common case. Like AWS's engine it walks
 * only the event paths some rule mentions, looks each value up in per-path hash indexes, and
 * counts satisfied fields per sub-rule; a sub-rule matches when all its fields are satisfied.
 *
 * Events come as values ({@link RuleMachine.matchEvent}) or as JSON text
 * ({@link RuleMachine.matchJsonText}), which skips the subtrees no rule reads without building them.
 */
import { isObject, JsonEntries, JsonNumber, parseJsonText, type Loose } from '../json/json-text.ts';
import { compilePattern, type SubRule } from './compile-pattern.ts';
import { matchSubRule } from './match-reference.ts';
import { PathIndex } from './path-index.ts';
import { scanJsonText } from './scan-json-text.ts';
import { compileWalker, type Walker } from './compile-walker.ts';
import { comparableKey, V_LITERAL, V_NUMBER, V_STRING } from './value-matcher.ts';

/** A node of the path trie. Children are keyed by every dotted join of the following segments. */
export interface PathNode {
  children: Map<string, PathNode>;
  /** The children as a flat [key, node, …] list while there are few of them (scanned in place). */
  small: Array<string | PathNode> | null;
  index: PathIndex | null;
}

const SMALL_CHILDREN = 8;

/**
 * Matches events against many named patterns.
 *
 * @example
 *   const m = new RuleMachine<string>();
 *   m.add('ec2', { source: ['aws.ec2'] });
 *   m.matchEvent({ source: 'aws.ec2' }); // ['ec2']
 */
export class RuleMachine<T = string> {
  readonly root: PathNode = { children: new Map(), small: [], index: null };
  private readonly nodes = new Map<string, PathNode>([['', this.root]]);
  private readonly names: T[] = [];
  private readonly subRules: Array<{ rule: number; fields: number; compiled: SubRule }> = [];
  private condSub = new Int32Array(64);
  private condCount = 0;
  private readonly absentPaths: PathIndex[] = [];
  // Per-event scratch, reset by bumping the epoch instead of clearing.
  private epoch = 0;
  private condEpoch = new Int32Array(64);
  private subEpoch = new Int32Array(16);
  private subCount = new Int32Array(16);
  private ruleEpoch = new Int32Array(16);
  private candidates: number[] = [];
  private readonly ruleScratch: number[] = [];
  /** The generated walker for parsed events; undefined until first needed after a change. */
  private walker: Walker | null | undefined;
  /** Set during a walk when a value came from an object inside an array. */
  objectInArray = false;

  /** Number of rules added. */
  get size(): number {
    return this.names.length;
  }

  /**
   * Adds a rule. The pattern is validated; an invalid one throws {@link PatternError} and leaves
   * the machine unchanged.
   */
  add(name: T, pattern: Loose | string): void {
    const compiled = compilePattern(pattern);
    this.walker = undefined;
    const rule = this.names.push(name) - 1;
    this.ruleEpoch = grow(this.ruleEpoch, rule + 1);
    for (const sub of compiled) {
      const s = this.subRules.push({ rule, fields: sub.length, compiled: sub }) - 1;
      this.subEpoch = grow(this.subEpoch, s + 1);
      this.subCount = grow(this.subCount, s + 1);
      for (const field of sub) {
        const cond = this.condCount++;
        this.condSub = grow(this.condSub, cond + 1);
        this.condEpoch = grow(this.condEpoch, cond + 1);
        this.condSub[cond] = s;
        const index = this.indexFor(field.path);
        for (const m of field.matchers) index.add(m, cond);
        if (index.absentConds.length > 0 && !this.absentPaths.includes(index)) this.absentPaths.push(index);
      }
    }
  }

  private node(path: string): PathNode {
    let n = this.nodes.get(path);
    if (n === undefined) this.nodes.set(path, (n = { children: new Map(), small: [], index: null }));
    return n;
  }

  private indexFor(path: string): PathIndex {
    const segs = path.split('.');
    for (let i = 0; i < segs.length; i++) {
      const from = this.node(segs.slice(0, i).join('.'));
      for (let j = i + 1; j <= segs.length; j++) {
        from.children.set(segs.slice(i, j).join('.'), this.node(segs.slice(0, j).join('.')));
      }
      // Names that objects inherit (toString, __proto__…) would be found on the prototype by a
      // lookup, so such nodes always enumerate.
      const inherited = [...from.children.keys()].some((k) => k in Object.prototype);
      from.small = from.children.size > SMALL_CHILDREN || inherited ? null : [...from.children].flat();
    }
    const leaf = this.node(path);
    return (leaf.index ??= new PathIndex(path));
  }

  /** Marks `cond` satisfied for the current event. */
  readonly sat = (cond: number): void => {
    const epoch = this.epoch;
    if (this.condEpoch[cond] === epoch) return;
    this.condEpoch[cond] = epoch;
    const s = this.condSub[cond];
    if (this.subEpoch[s] !== epoch) {
      this.subEpoch[s] = epoch;
      this.subCount[s] = 0;
    }
    if (++this.subCount[s] === this.subRules[s].fields) this.candidates.push(s);
  };

  /** Starts a new event. */
  begin(): void {
    if (++this.epoch === 0x7fffffff) {
      this.epoch = 1;
      for (const a of [this.condEpoch, this.subEpoch, this.ruleEpoch]) a.fill(0);
      for (const n of this.nodes.values()) if (n.index) n.index.presentEpoch = -1;
    }
    this.candidates.length = 0;
    this.objectInArray = false;
  }

  /** Delivers one leaf value found at a path with an index. */
  value(index: PathIndex, kind: 0 | 1 | 2, text: string, key: number): void {
    index.presentEpoch = this.epoch;
    index.visit(kind, text, key, this.sat);
  }

  /**
   * Finishes the event: applies `exists: false` and array consistency, returns matched names.
   * `event` is the event (or its JSON text), parsed only if array consistency must be checked.
   */
  finish(event: Loose | string, isText: boolean): T[] {
    for (const index of this.absentPaths) {
      if (index.presentEpoch !== this.epoch) for (const c of index.absentConds) this.sat(c);
    }
    const out: T[] = [];
    if (this.candidates.length === 0) return out;
    const ids = this.objectInArray ? new WeakMap<object, number>() : null;
    let tree: Loose | undefined;
    const rules = this.ruleScratch;
    rules.length = 0;
    for (const s of this.candidates) {
      const sub = this.subRules[s];
      if (this.ruleEpoch[sub.rule] === this.epoch) continue;
      if (ids !== null && sub.fields > 1) {
        tree ??= isText ? parseJsonText(event as string) : event;
        if (!matchSubRule(tree, sub.compiled, ids)) continue;
      }
      this.ruleEpoch[sub.rule] = this.epoch;
      rules.push(sub.rule);
    }
    if (rules.length > 1) rules.sort((a, b) => a - b);
    for (const r of rules) out.push(this.names[r]);
    return out;
  }

  /** Names of the rules matching an event given as a value (parsed JSON). */
  matchEvent(event: Loose): T[] {
    this.begin();
    if (event !== null && typeof event === 'object' && Object.getPrototypeOf(event) === Object.prototype) {
      if (this.walker === undefined) this.walker = compileWalker(this.root);
      if (this.walker !== null) this.walker(event, this);
      else this.walkObject(event as { [k: string]: Loose }, this.root, false);
    } else if (isObject(event)) {
      this.walkObject(event, this.root, false);
    }
    return this.finish(event, false);
  }

  /**
   * Names of the rules matching an event given as JSON text. Subtrees that no rule reads are
   * skipped, not built. The text must be a JSON object; malformed text throws.
   */
  matchJsonText(text: string): T[] {
    this.begin();
    scanJsonText(text, this);
    return this.finish(text, true);
  }

  private walkObject(obj: JsonEntries | { [k: string]: Loose }, node: PathNode, inArray: boolean): void {
    if (inArray) this.objectInArray = true;
    const children = node.children;
    if (obj instanceof JsonEntries) {
      for (const [k, v] of obj.entries) {
        const child = children.get(k);
        if (child !== undefined) this.walkValue(v, child, inArray);
      }
      return;
    }
    const small = node.small;
    if (small !== null) {
      // Few children (dotted joins included): look each one up rather than enumerate the object.
      for (let i = 0; i < small.length; i += 2) {
        const v = obj[small[i] as string];
        if (v !== undefined) this.walkValue(v, small[i + 1] as PathNode, inArray);
      }
      return;
    }
    for (const k in obj) {
      const child = children.get(k);
      if (child !== undefined) this.walkValue(obj[k], child, inArray);
    }
  }

  /** Walks any value at `node` (the generic path; the generated walker falls back to it). */
  walkValue(v: Loose, node: PathNode, inArray: boolean): void {
    if (typeof v === 'string') {
      if (node.index !== null) this.value(node.index, V_STRING, v, NaN);
    } else if (typeof v === 'number') {
      if (node.index !== null) {
        const key = comparableKey(v);
        this.value(node.index, V_NUMBER, key === key ? '' : JSON.stringify(v), key);
      }
    } else if (v === null || typeof v === 'boolean') {
      if (node.index !== null) this.value(node.index, V_LITERAL, String(v), NaN);
    } else if (v instanceof JsonNumber) {
      if (node.index !== null) this.value(node.index, V_NUMBER, v.raw, comparableKey(v.value));
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) this.walkValue(v[i], node, true);
    } else if (node.children.size > 0 && v !== undefined) {
      this.walkObject(v, node, inArray);
    }
  }
}

function grow(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  if (n <= a.length) return a;
  const b = new Int32Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

