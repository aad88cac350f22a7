/**
 * Rows as COPY's text format reads them: one line per row, fields separated by tabs, `\N` for
 * null, and a backslash, tab, newline or carriage return inside a field escaped with a backslash.
 * A field is read by its column's input function, as a literal of the column's type would be.
 */

const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeChar = (c: string): string => ESCAPES[c];

/** A text field, escaped. */
export function copyText(s: string): string {
  return SPECIAL.test(s) ? s.replace(/[\\\t\n\r]/g, escapeChar) : s;
}

/**
 * JSON text (from `JSON.stringify`, which writes no whitespace and escapes tabs, newlines and
 * carriage returns inside strings) as a field: only its backslashes need escaping, found with a
 * search cheaper than `copyText`'s pattern.
 */
export function copyJson(json: string): string {
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

/**
 * A value as a field: null and undefined as `\N`, strings escaped, numbers and booleans as their
 * text (a finite number's JavaScript text is a valid numeric literal), anything else as its JSON
 * (a jsonb column).
 */
export function copyField(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return copyText(v);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'undefined':
      return '\\N';
    default:
      return v === null ? '\\N' : copyText(JSON.stringify(v));
  }
}
