/**
 * A JSON text parser that keeps what `JSON.parse` throws away and EventBridge semantics need:
 * duplicate object keys (in order) and the exact spelling of every number (`300.0`, `3e2`).
 *
 * Objects become {@link JsonEntries}, numbers become {@link JsonNumber}; everything else is the
 * plain JavaScript value. The pattern compiler, the matcher and the input transformer accept
 * both these "loose" values and ordinary `JSON.parse` output.
 */

/** A JSON number with its original text. */
export class JsonNumber {
  constructor(
    readonly raw: string,
    readonly value: number,
  ) {}
}

/** A JSON object as its ordered list of entries; duplicate keys are kept. */
export class JsonEntries {
  constructor(readonly entries: Array<[string, Loose]>) {}
}

/** A JSON value as {@link parseJsonText} or `JSON.parse` produce it. */
export type Loose =
  | null
  | boolean
  | string
  | number
  | JsonNumber
  | JsonEntries
  | Loose[]
  | { [key: string]: Loose };

/** Thrown for JSON text that does not parse; the message names the position. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

const MAX_DEPTH = 512;

/**
 * Parses JSON text keeping duplicate keys and number spellings.
 *
 * @example
 *   const v = parseJsonText('{"a":1,"a":2.0}') as JsonEntries;
 *   v.entries; // [["a", JsonNumber{raw:"1"}], ["a", JsonNumber{raw:"2.0"}]]
 */
export function parseJsonText(text: string): Loose {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.pos < text.length) throw new JsonSyntaxError(`Unexpected '${text[p.pos]}' after the JSON value`, p.pos);
  return v;
}

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  ws(): void {
    const t = this.text;
    let c = t.charCodeAt(this.pos);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++this.pos);
  }

  value(depth: number): Loose {
    if (depth > MAX_DEPTH) throw new JsonSyntaxError(`Nesting deeper than ${MAX_DEPTH}`, this.pos);
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    if (c === 123) return this.object(depth);
    if (c === 91) return this.array(depth);
    if (c === 34) return this.string();
    if (c === 45 || (c >= 48 && c <= 57)) return this.number();
    if (t.startsWith('true', this.pos)) return (this.pos += 4), true;
    if (t.startsWith('false', this.pos)) return (this.pos += 5), false;
    if (t.startsWith('null', this.pos)) return (this.pos += 4), null;
    if (this.pos >= t.length) throw new JsonSyntaxError('Unexpected end of JSON text', this.pos);
    throw new JsonSyntaxError(`Unexpected '${t[this.pos]}'`, this.pos);
  }

  object(depth: number): JsonEntries {
    const entries: Array<[string, Loose]> = [];
    this.pos++;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 125) return this.pos++, new JsonEntries(entries);
    for (;;) {
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 34) throw new JsonSyntaxError('Expected a string key', this.pos);
      const key = this.string();
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 58) throw new JsonSyntaxError("Expected ':'", this.pos);
      this.pos++;
      this.ws();
      entries.push([key, this.value(depth + 1)]);
      this.ws();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 125) return new JsonEntries(entries);
      if (c !== 44) throw new JsonSyntaxError("Expected ',' or '}'", this.pos - 1);
    }
  }

  array(depth: number): Loose[] {
    const out: Loose[] = [];
    this.pos++;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 93) return this.pos++, out;
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 93) return out;
      if (c !== 44) throw new JsonSyntaxError("Expected ',' or ']'", this.pos - 1);
    }
  }

  string(): string {
    const end = scanStringEnd(this.text, this.pos);
    if (end < 0) throw new JsonSyntaxError('Unterminated string', this.pos);
    const s = decodeJsonString(this.text, this.pos + 1, end);
    if (s === null) throw new JsonSyntaxError('Invalid string escape or control character', this.pos);
    this.pos = end + 1;
    return s;
  }

  number(): JsonNumber {
    const m = NUMBER.exec(this.text.slice(this.pos, this.pos + 400));
    if (!m) throw new JsonSyntaxError('Invalid number', this.pos);
    this.pos += m[0].length;
    return new JsonNumber(m[0], Number(m[0]));
  }
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/;

/** Index of the closing quote of the string whose opening quote is at `open`, or -1. */
export function scanStringEnd(text: string, open: number): number {
  let i = open + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return -1;
    let b = q - 1;
    while (text.charCodeAt(b) === 92) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    i = q + 1;
  }
}

const NONE = 0x7fffffff;

function next(t: string, ch: string, from: number): number {
  const i = t.indexOf(ch, from);
  return i < 0 ? NONE : i;
}

/**
 * End (exclusive) of the object or array starting at `i`, or -1. Jumps between brackets and
 * quotes with `indexOf`, which runs natively: several times faster than a loop over characters
 * on the long runs of numbers that coordinates and the like are made of.
 */
export function skipContainer(t: string, i: number): number {
  let depth = 0;
  let open1 = next(t, '[', i);
  let close1 = next(t, ']', i);
  let open2 = next(t, '{', i);
  let close2 = next(t, '}', i);
  let quote = next(t, '"', i);
  for (;;) {
    let p = open1;
    let k = 0;
    if (close1 < p) {
      p = close1;
      k = 1;
    }
    if (open2 < p) {
      p = open2;
      k = 2;
    }
    if (close2 < p) {
      p = close2;
      k = 3;
    }
    if (quote < p) {
      p = quote;
      k = 4;
    }
    if (p === NONE) return -1;
    if (k === 0) {
      depth++;
      open1 = next(t, '[', p + 1);
    } else if (k === 2) {
      depth++;
      open2 = next(t, '{', p + 1);
    } else if (k === 1 || k === 3) {
      if (--depth === 0) return p + 1;
      if (k === 1) close1 = next(t, ']', p + 1);
      else close2 = next(t, '}', p + 1);
    } else {
      const e = scanStringEnd(t, p);
      if (e < 0) return -1;
      if (open1 < e) open1 = next(t, '[', e + 1);
      if (close1 < e) close1 = next(t, ']', e + 1);
      if (open2 < e) open2 = next(t, '{', e + 1);
      if (close2 < e) close2 = next(t, '}', e + 1);
      quote = next(t, '"', e + 1);
    }
  }
}

/** Decodes the string body between `start` and `end` (exclusive), or null if it is not valid JSON. */
export function decodeJsonString(text: string, start: number, end: number): string | null {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) {
      try {
        const s = JSON.parse(text.slice(start - 1, end + 1));
        return typeof s === 'string' ? s : null;
      } catch {
        return null;
      }
    }
    if (c < 32) return null;
  }
  return text.slice(start, end);
}

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * Where the value of the top-level member `key` of a JSON object text is, as `[start, end)`, or
 * null if there is none. Like `JSON.parse`, the last member of that name wins. For text that
 * `JSON.parse` already accepted: it lets a caller reuse a member's text as it was sent instead of
 * serializing the parsed value again.
 *
 * @example memberSpan('{"a":1,"detail":{"x":[1]}}', 'detail') // [16, 25]
 */
export function memberSpan(text: string, key: string): [number, number] | null {
  let i = 0;
  while (isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 123) return null;
  i++;
  let found: [number, number] | null = null;
  for (;;) {
    while (isSpace(text.charCodeAt(i))) i++;
    const open = i;
    if (text.charCodeAt(open) !== 34) return found; // '}' of an empty object, or not JSON
    const close = scanStringEnd(text, open);
    if (close < 0) return null;
    // A key written with escapes is longer than its value: only then is it decoded.
    const length = close - open - 1;
    const named = length === key.length ? text.startsWith(key, open + 1) : length > key.length && decodeJsonString(text, open + 1, close) === key;
    i = close + 1;
    while (isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 58) return null;
    i++;
    while (isSpace(text.charCodeAt(i))) i++;
    const start = i;
    const c = text.charCodeAt(i);
    if (c === 34) i = scanStringEnd(text, i) + 1;
    else if (c === 123 || c === 91) i = skipContainer(text, i);
    else while (i < text.length && !isSpace(text.charCodeAt(i)) && text.charCodeAt(i) !== 44 && text.charCodeAt(i) !== 125) i++;
    if (i <= 0) return null;
    if (named) found = [start, i];
    while (isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 44) return found;
    i++;
  }
}

/** True for an object value in either representation (not an array, not a number wrapper). */
export function isObject(v: Loose): v is JsonEntries | { [key: string]: Loose } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber);
}

/** The entries of an object value in either representation. */
export function entriesOf(v: JsonEntries | { [key: string]: Loose }): Array<[string, Loose]> {
  return v instanceof JsonEntries ? v.entries : Object.entries(v);
}

/** The number of a number value in either representation, else undefined. */
export function numberOf(v: Loose): number | undefined {
  return typeof v === 'number' ? v : v instanceof JsonNumber ? v.value : undefined;
}

/**
 * Serializes a loose value back to JSON text. Number spellings and duplicate keys survive, so
 * a value parsed with {@link parseJsonText} prints as the source wrote it (minus whitespace).
 */
export function stringifyLoose(v: Loose): string {
  if (v instanceof JsonNumber) return v.raw;
  if (v instanceof JsonEntries) {
    return '{' + v.entries.map(([k, x]) => JSON.stringify(k) + ':' + stringifyLoose(x)).join(',') + '}';
  }
  if (Array.isArray(v)) return '[' + v.map(stringifyLoose).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    return (
      '{' +
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => JSON.stringify(k) + ':' + stringifyLoose(x))
        .join(',') +
      '}'
    );
  }
  return JSON.stringify(v);
}
