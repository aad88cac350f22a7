/**
 * Column types of `table` destinations: what a config may declare, how a value is checked
 * against it before it is written (so a bad value fails its record, naming the column, and never
 * its batch), and which changes of an existing column are safe widenings.
 */

export type ColumnType =
  | { kind: 'text' }
  | { kind: 'varchar'; length: number }
  | { kind: 'smallint' | 'integer' | 'bigint' }
  | { kind: 'numeric'; precision?: number; scale: number }
  | { kind: 'real' | 'double precision' }
  | { kind: 'boolean' | 'date' | 'timestamptz' | 'jsonb' | 'uuid' };

const ALIASES: Record<string, string> = {
  int: 'integer',
  int4: 'integer',
  int2: 'smallint',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  decimal: 'numeric',
  'character varying': 'varchar',
  'timestamp with time zone': 'timestamptz',
};

export const TYPE_NAMES = 'text, varchar(n), smallint, integer, bigint, numeric, numeric(p), numeric(p,s), real, double precision, boolean, date, timestamptz, jsonb, uuid';

/**
 * Parses a type as a config writes it or as PostgreSQL's `format_type` prints it, or returns
 * null for a type Sluice does not write.
 *
 * @example parseColumnType('numeric(12,2)') // { kind: 'numeric', precision: 12, scale: 2 }
 */
export function parseColumnType(text: string): ColumnType | null {
  const t = text.trim().toLowerCase().replace(/\s+/g, ' ');
  const m = /^([a-z ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?$/.exec(t);
  if (!m) return null;
  const name = ALIASES[m[1]] ?? m[1];
  const a = m[2] === undefined ? undefined : Number(m[2]);
  const b = m[3] === undefined ? undefined : Number(m[3]);
  if (name === 'varchar') return a !== undefined && b === undefined && a >= 1 && a <= 10_485_760 ? { kind: 'varchar', length: a } : null;
  if (name === 'numeric') {
    if (a === undefined) return { kind: 'numeric', scale: 0 };
    const scale = b ?? 0;
    return a >= 1 && a <= 1000 && scale <= a ? { kind: 'numeric', precision: a, scale } : null;
  }
  if (a !== undefined) return null;
  if (['text', 'smallint', 'integer', 'bigint', 'real', 'double precision', 'boolean', 'date', 'timestamptz', 'jsonb', 'uuid'].includes(name)) {
    return { kind: name } as ColumnType;
  }
  return null;
}

/** The type as SQL. */
export function typeSql(t: ColumnType): string {
  if (t.kind === 'varchar') return `varchar(${t.length})`;
  if (t.kind === 'numeric') return t.precision === undefined ? 'numeric' : `numeric(${t.precision},${t.scale})`;
  return t.kind;
}

/** Integer digits a type can hold (numeric without precision: unbounded). */
const INTEGER_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };

/**
 * Why changing a column from `from` to `to` is unsafe, or null when every value of `from` fits
 * `to` unchanged (a widening PostgreSQL can apply in place).
 */
export function unsafeChange(from: ColumnType, to: ColumnType): string | null {
  const a = typeSql(from);
  const b = typeSql(to);
  if (a === b) return null;
  const ints = ['smallint', 'integer', 'bigint'];
  if (ints.includes(from.kind) && ints.includes(to.kind) && ints.indexOf(from.kind) < ints.indexOf(to.kind)) return null;
  if (ints.includes(from.kind) && to.kind === 'numeric') {
    if (to.precision === undefined || to.precision - to.scale >= INTEGER_DIGITS[from.kind]) return null;
    return `numeric(${to.precision},${to.scale}) holds fewer integer digits than ${a}`;
  }
  if (from.kind === 'numeric' && to.kind === 'numeric') {
    if (to.precision === undefined) return null;
    if (from.precision === undefined) return `${a} is unbounded; ${b} would round or reject stored values`;
    if (to.scale >= from.scale && to.precision - to.scale >= from.precision - from.scale) return null;
    return `${b} holds fewer digits than ${a} (before or after the point)`;
  }
  if (from.kind === 'real' && to.kind === 'double precision') return null;
  if (from.kind === 'varchar' && to.kind === 'text') return null;
  if (from.kind === 'varchar' && to.kind === 'varchar') return to.length > from.length ? null : `${b} is shorter than ${a}`;
  return `changing ${a} to ${b} is not a widening Sluice can apply safely`;
}

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const UUID = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const DATE = /^\d{4}-\d{2}-\d{2}/;
const INTEGER_RANGE: Record<string, [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};

/** The same ranges as numbers, for the safe integers most values are (exact for all of them). */
const INTEGER_LIMITS: Record<string, [number, number]> = Object.fromEntries(Object.entries(INTEGER_RANGE).map(([k, [lo, hi]]) => [k, [Number(lo), Number(hi)]]));

/** Whether a number (a JavaScript number, or its text) has at most `digits` digits before the point. */
function fitsDigits(v: number | string, digits: number): boolean {
  if (typeof v === 'number') return digits <= 15 ? Math.trunc(Math.abs(v)) < 10 ** digits : integerDigits(String(v)) <= digits;
  return integerDigits(v) <= digits;
}

/** Why a value of the wrong kind does not fit. A function of its own, not a closure made per call. */
const expected = (what: string, v: unknown): Unfit => new Unfit(`expected ${what}, got ${Array.isArray(v) ? 'an array' : typeof v}`);

// The rows of a batch often share a time: the last one checked is remembered.
let lastDate = '';

function isDate(v: string): boolean {
  if (v === lastDate) return true;
  if (!DATE.test(v) || !Number.isFinite(Date.parse(v))) return false;
  lastDate = v;
  return true;
}

/** Digits before the decimal point of a plain or exponent-form numeric string. */
function integerDigits(s: string): number {
  const [mantissa, exp] = s.replace(/^[+-]/, '').toLowerCase().split('e');
  const [int] = mantissa.split('.');
  const n = int.replace(/^0+/, '').length + (exp ? Number(exp) : 0);
  return Math.max(0, n);
}

/** Why a value does not fit its column type (the reason never quotes the value: it may be personal data). */
export class Unfit {
  constructor(readonly reason: string) {}
}

/**
 * The value as the JSON the insert reads for this type (a row's array element), or why it does
 * not fit. No result object for a value that fits: this runs for every column of every row. A
 * number that fits stays a number: its JSON text is its text, which the column's input reads.
 */
export function columnValue(t: ColumnType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'text':
    case 'varchar': {
      if (typeof v === 'object') return expected('a string', v);
      const s = typeof v === 'string' ? v : String(v);
      // Characters are code points: only a string longer in UTF-16 units can be too long.
      if (t.kind === 'varchar' && s.length > t.length && [...s].length > t.length) return new Unfit(`longer than ${t.length} characters`);
      return s;
    }
    case 'smallint':
    case 'integer':
    case 'bigint': {
      if (typeof v === 'number' && Number.isSafeInteger(v)) {
        const [lo, hi] = INTEGER_LIMITS[t.kind];
        return v < lo || v > hi ? new Unfit(`out of range for ${t.kind}`) : v;
      }
      const s = typeof v === 'number' ? (Number.isInteger(v) ? BigInt(v).toString() : '') : typeof v === 'string' ? v.trim() : '';
      if (!/^[+-]?\d+$/.test(s)) return expected(`an integer (${t.kind})`, v);
      const n = BigInt(s);
      const [lo, hi] = INTEGER_RANGE[t.kind];
      if (n < lo || n > hi) return new Unfit(`out of range for ${t.kind}`);
      return s;
    }
    case 'numeric':
    case 'real':
    case 'double precision': {
      // A finite number's own text is always a valid numeric literal.
      const finite = typeof v === 'number' && Number.isFinite(v);
      const n = finite ? v : typeof v === 'string' ? v.trim() : '';
      if (typeof n === 'string' && !NUMERIC.test(n)) return expected('a number', v);
      if (t.kind === 'numeric' && t.precision !== undefined && !fitsDigits(n, t.precision - t.scale)) {
        return new Unfit(`too many digits for numeric(${t.precision},${t.scale})`);
      }
      if (t.kind !== 'numeric' && typeof n === 'string' && !Number.isFinite(Number(n))) return new Unfit(`out of range for ${t.kind}`);
      return n;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === 'false') return v === 'true';
      return expected('a boolean', v);
    case 'date':
    case 'timestamptz': {
      if (typeof v !== 'string' || !isDate(v)) return expected(t.kind === 'date' ? 'an ISO 8601 date' : 'an ISO 8601 date-time', v);
      return v;
    }
    case 'uuid':
      return typeof v === 'string' && UUID.test(v) ? v : expected('a UUID', v);
    case 'jsonb':
      return v;
  }
}
