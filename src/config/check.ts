/**
 * A small validator for configuration values: each check reports every problem it finds, with
 * the path and what is allowed, and unknown keys are errors. Used by the config loader.
 */
import { isRecord } from '../core/is-record.ts';

/** One configuration problem. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export type Check = (value: unknown, path: string, issues: ConfigIssue[]) => void;

/** How a received value is shown in a message: its JSON, shortened. Config holds no personal data. */
export function show(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const safe = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return path ? `${path}.${safe}` : safe;
}


/** A field of an object check: its check and whether it must be present. */
export interface Field {
  check: Check;
  required?: boolean;
}

/** An object with exactly these keys (unknown keys are errors). */
export function object(fields: Record<string, Field>): Check {
  return (v, path, issues) => {
    if (!isRecord(v)) {
      issues.push({ path, message: `expected an object, got ${show(v)}` });
      return;
    }
    for (const key of Object.keys(v)) {
      if (!(key in fields)) {
        const allowed = Object.keys(fields).join(', ');
        issues.push({ path: join(path, key), message: `unknown key; allowed keys are: ${allowed}` });
      }
    }
    for (const [key, field] of Object.entries(fields)) {
      if (v[key] === undefined) {
        if (field.required) issues.push({ path: join(path, key), message: 'is required' });
      } else {
        field.check(v[key], join(path, key), issues);
      }
    }
  };
}

/** An object whose keys are names (matching `namePattern`) and values pass `check`. */
export function record(check: Check, namePattern = /^[a-z][a-z0-9_-]{0,62}$/): Check {
  return (v, path, issues) => {
    if (!isRecord(v)) {
      issues.push({ path, message: `expected an object of named entries, got ${show(v)}` });
      return;
    }
    for (const [key, x] of Object.entries(v)) {
      if (!namePattern.test(key)) {
        issues.push({ path: join(path, key), message: `invalid name; names match ${namePattern.source}` });
      }
      check(x, join(path, key), issues);
    }
  };
}

export function array(check: Check, opts: { min?: number; max?: number } = {}): Check {
  return (v, path, issues) => {
    if (!Array.isArray(v)) {
      issues.push({ path, message: `expected an array, got ${show(v)}` });
      return;
    }
    if (opts.min !== undefined && v.length < opts.min) issues.push({ path, message: `expected at least ${opts.min} entries, got ${v.length}` });
    if (opts.max !== undefined && v.length > opts.max) issues.push({ path, message: `expected at most ${opts.max} entries, got ${v.length}` });
    v.forEach((x, i) => check(x, join(path, i), issues));
  };
}

export function string(opts: { pattern?: RegExp; max?: number; what?: string } = {}): Check {
  return (v, path, issues) => {
    const what = opts.what ?? (opts.pattern ? `a string matching ${opts.pattern.source}` : 'a string');
    if (typeof v !== 'string' || (opts.pattern && !opts.pattern.test(v)) || (opts.max !== undefined && v.length > opts.max)) {
      issues.push({ path, message: `expected ${what}${opts.max ? ` of at most ${opts.max} characters` : ''}, got ${show(v)}` });
    }
  };
}

export function integer(opts: { min?: number; max?: number } = {}): Check {
  const min = opts.min ?? 0;
  return (v, path, issues) => {
    const desc = min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
    const range = opts.max !== undefined ? ` and ≤ ${opts.max}` : '';
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || (opts.max !== undefined && v > opts.max)) {
      issues.push({ path, message: `expected ${desc}${range}, got ${show(v)}` });
    }
  };
}

export function boolean(): Check {
  return (v, path, issues) => {
    if (typeof v !== 'boolean') issues.push({ path, message: `expected true or false, got ${show(v)}` });
  };
}

export function fn(): Check {
  return (v, path, issues) => {
    if (typeof v !== 'function') issues.push({ path, message: `expected a function, got ${show(v)}` });
  };
}

/** Any JSON-like value (checked further elsewhere). */
export function any(): Check {
  return () => {};
}

/** Objects whose `type` picks the check for the rest. */
export function tagged(tag: string, variants: Record<string, Check>): Check {
  return (v, path, issues) => {
    if (!isRecord(v)) {
      issues.push({ path, message: `expected an object, got ${show(v)}` });
      return;
    }
    const t = v[tag];
    const check = typeof t === 'string' ? variants[t] : undefined;
    if (!check) {
      const allowed = Object.keys(variants).map((x) => JSON.stringify(x)).join(', ');
      issues.push({ path: join(path, tag), message: `expected one of ${allowed}, got ${show(t)}` });
      return;
    }
    check(v, path, issues);
  };
}

/** One of a fixed set of strings. */
export function choice(values: readonly string[]): Check {
  return (v, path, issues) => {
    if (typeof v !== 'string' || !values.includes(v)) {
      issues.push({ path, message: `expected one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${show(v)}` });
    }
  };
}

/** A plain object whose content is checked elsewhere (a JSON Schema, say). */
export function plainObject(): Check {
  return (v, path, issues) => {
    if (!isRecord(v)) issues.push({ path, message: `expected an object, got ${show(v)}` });
  };
}

/** Passes when any one of the checks passes; otherwise reports the first check's problems. */
export function either(...checks: Check[]): Check {
  return (v, path, issues) => {
    const tries = checks.map((c) => {
      const found: ConfigIssue[] = [];
      c(v, path, found);
      return found;
    });
    if (!tries.some((t) => t.length === 0)) issues.push(...tries[0]);
  };
}
