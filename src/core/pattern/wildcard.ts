/**
 * The `wildcard` operator: `*` matches any run of characters (also none), `\*` a literal
 * asterisk and `\\` a literal backslash. Consecutive wildcards and other escapes are refused,
 * as EventBridge refuses them.
 */

/**
 * Compiles a wildcard expression into an anchored regular expression, or returns the reason
 * it is invalid.
 *
 * @example compileWildcard('*.png') // /^.*\.png$/s
 */
export function compileWildcard(expr: string): RegExp | string {
  let re = '^';
  let prevStar = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '\\') {
      const n = expr[i + 1];
      if (n !== '*' && n !== '\\') return `invalid escape at position ${i}: only \\* and \\\\ are allowed`;
      re += '\\' + n;
      i++;
      prevStar = false;
    } else if (c === '*') {
      if (prevStar) return `consecutive wildcard characters at position ${i}`;
      re += '.*';
      prevStar = true;
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      prevStar = false;
    }
  }
  return new RegExp(re + '$', 's');
}
