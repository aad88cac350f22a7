/**
 * RFC 3339 date-times, as JSON Schema's `date-time` format (ajv-formats' full mode) checks them:
 * `YYYY-MM-DD`, then `T`, `t` or a white-space character, then `hh:mm:ss`, optional fraction
 * digits and a required zone (`Z`, `z`, `±hh`, `±hhmm` or `±hh:mm`, hours at most 23 and
 * minutes at most 59). The day must exist in its month (29 February in leap years only); the
 * time must be at most 23:59:59.x, or a leap second: `:60` in the last minute of a UTC day.
 * The same answers as ajv-formats' check, read a character at a time instead of by regular
 * expressions and splitting, which allocated strings for every record validated.
 */
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** What JavaScript's `\s` matches, for the separator between date and time. */
const SEPARATOR = /[tT\s]/;

const digit = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
};

/** The two-digit number at `i`, or -1. */
function two(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

const isLeapYear = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/**
 * Whether `s` is an RFC 3339 date-time.
 *
 * @example isDateTime('2026-11-22T10:00:00.123Z') // true
 * @example isDateTime('2026-02-29T10:00:00Z') // false: 2026 is not a leap year
 */
export function isDateTime(s: string): boolean {
  // Date: four digits of year, month 01–12, a day of that month.
  if (s.length < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  const centuries = two(s, 0);
  const years = two(s, 2);
  const month = two(s, 5);
  const day = two(s, 8);
  if (centuries < 0 || years < 0 || month < 1 || month > 12 || day < 1) return false;
  if (day > (month === 2 && isLeapYear(centuries * 100 + years) ? 29 : DAYS[month])) return false;
  if (!SEPARATOR.test(s[10])) return false;
  // Time: hh:mm:ss, then fraction digits if there is a point.
  const hr = two(s, 11);
  const min = two(s, 14);
  const secInt = two(s, 17);
  if (hr < 0 || min < 0 || secInt < 0 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false;
  let i = 19;
  let sec = secInt;
  if (s.charCodeAt(i) === 46) {
    i++;
    while (digit(s, i) >= 0) i++;
    if (i === 20) return false;
    // A fraction changes the comparisons below only when it rounds a :59 or :60 up to the next second.
    if (secInt >= 59) sec = Number(s.slice(17, i));
  }
  // Zone: required.
  let tzSign = 1;
  let tzH = 0;
  let tzM = 0;
  const z = s.charCodeAt(i);
  if (z === 90 || z === 122) {
    if (i + 1 !== s.length) return false;
  } else if (z === 43 || z === 45) {
    tzSign = z === 45 ? -1 : 1;
    tzH = two(s, i + 1);
    if (tzH < 0) return false;
    i += 3;
    if (i < s.length) {
      if (s.charCodeAt(i) === 58) i++;
      tzM = two(s, i);
      if (tzM < 0 || i + 2 !== s.length) return false;
    }
  } else return false;
  if (tzH > 23 || tzM > 59) return false;
  if (hr <= 23 && min <= 59 && sec < 60) return true;
  // A leap second: 23:59:60 in UTC.
  const utcMin = min - tzM * tzSign;
  const utcHr = hr - tzH * tzSign - (utcMin < 0 ? 1 : 0);
  return (utcHr === 23 || utcHr === -1) && (utcMin === 59 || utcMin === -1) && sec < 61;
}
