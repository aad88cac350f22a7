/**
 * A scanner over the JSON text of an event that hands the rule machine only the values at paths
 * some rule mentions. Everything else is skipped by bracket counting, never decoded or built:
 * this is why matching from text can beat `JSON.parse` alone.
 */
import type { PathIndex } from './path-index.ts';
import type { PathNode } from './rule-machine.ts';
import { decodeJsonString, scanStringEnd, skipContainer } from '../json/json-text.ts';
import { comparableKey, V_LITERAL, V_NUMBER, V_STRING } from './value-matcher.ts';

/** The part of the rule machine the scanner feeds. */
export interface ScanSink {
  readonly root: PathNode;
  objectInArray: boolean;
  value(index: PathIndex, kind: 0 | 1 | 2, text: string, key: number): void;
}

class JsonScanError extends Error {
  constructor(what: string, pos: number) {
    super(`event is not valid JSON: ${what} at position ${pos}`);
  }
}

/** Scans `text` (a JSON object) and feeds `sink` the values at indexed paths. */
export function scanJsonText(text: string, sink: ScanSink): void {
  const s = new Scanner(text, sink);
  s.ws();
  if (text.charCodeAt(s.pos) !== 123) throw new JsonScanError('expected an object', s.pos);
  s.object(sink.root, false);
}

class Scanner {
  pos = 0;
  constructor(
    readonly text: string,
    readonly sink: ScanSink,
  ) {}

  ws(): void {
    const t = this.text;
    let c = t.charCodeAt(this.pos);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++this.pos);
  }

  object(node: PathNode, inArray: boolean): void {
    if (inArray) this.sink.objectInArray = true;
    const t = this.text;
    this.pos++;
    this.ws();
    if (t.charCodeAt(this.pos) === 125) {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      if (t.charCodeAt(this.pos) !== 34) throw new JsonScanError('expected a key', this.pos);
      const end = scanStringEnd(t, this.pos);
      if (end < 0) throw new JsonScanError('unterminated key', this.pos);
      const start = this.pos + 1;
      const child = findChild(node, t, start, end);
      this.pos = end + 1;
      this.ws();
      if (t.charCodeAt(this.pos) !== 58) throw new JsonScanError("expected ':'", this.pos);
      this.pos++;
      this.ws();
      if (child === undefined) this.skip();
      else this.value(child, inArray);
      this.ws();
      const c = t.charCodeAt(this.pos++);
      if (c === 44) continue;
      if (c === 125) return;
      throw new JsonScanError("expected ',' or '}'", this.pos - 1);
    }
  }

  value(node: PathNode, inArray: boolean): void {
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    const index = node.index;
    if (c === 123) {
      if (node.children.size > 0) this.object(node, inArray);
      else this.skip();
    } else if (c === 91) {
      this.pos++;
      this.ws();
      if (t.charCodeAt(this.pos) === 93) {
        this.pos++;
        return;
      }
      for (;;) {
        this.ws();
        this.value(node, true);
        this.ws();
        const d = t.charCodeAt(this.pos++);
        if (d === 44) continue;
        if (d === 93) return;
        throw new JsonScanError("expected ',' or ']'", this.pos - 1);
      }
    } else if (index === null) {
      this.skip();
    } else if (c === 34) {
      const end = scanStringEnd(t, this.pos);
      if (end < 0) throw new JsonScanError('unterminated string', this.pos);
      const s = decodeJsonString(t, this.pos + 1, end);
      if (s === null) throw new JsonScanError('invalid string', this.pos);
      this.pos = end + 1;
      this.sink.value(index, V_STRING, s, NaN);
    } else {
      const start = this.pos;
      this.skipScalar();
      const raw = t.slice(start, this.pos);
      if (raw === 'true' || raw === 'false' || raw === 'null') this.sink.value(index, V_LITERAL, raw, NaN);
      else {
        const n = Number(raw);
        if (raw === '' || n !== n) throw new JsonScanError('invalid value', start);
        this.sink.value(index, V_NUMBER, raw, comparableKey(n));
      }
    }
  }

  skipScalar(): void {
    const t = this.text;
    let c = t.charCodeAt(this.pos);
    while (c === c && c !== 44 && c !== 125 && c !== 93 && c !== 32 && c !== 10 && c !== 13 && c !== 9) {
      c = t.charCodeAt(++this.pos);
    }
  }

  skip(): void {
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    if (c === 34) {
      const end = scanStringEnd(t, this.pos);
      if (end < 0) throw new JsonScanError('unterminated string', this.pos);
      this.pos = end + 1;
      return;
    }
    if (c !== 123 && c !== 91) return this.skipScalar();
    const end = skipContainer(t, this.pos);
    if (end < 0) throw new JsonScanError('unterminated object or array', this.pos);
    this.pos = end;
  }
}

/** The child of `node` named by the key text between `start` and `end`, without allocating when it can. */
function findChild(node: PathNode, t: string, start: number, end: number): PathNode | undefined {
  const small = node.small;
  if (small !== null) {
    const len = end - start;
    for (let i = 0; i < small.length; i += 2) {
      const k = small[i] as string;
      if (k.length === len && t.startsWith(k, start)) return small[i + 1] as PathNode;
    }
    // Only a key written with escapes can still name a child.
    let escaped = false;
    for (let i = start; i < end && !escaped; i++) escaped = t.charCodeAt(i) === 92;
    if (!escaped) return undefined;
  }
  const key = decodeJsonString(t, start, end) ?? t.slice(start, end);
  return node.children.get(key);
}
