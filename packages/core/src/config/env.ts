import { type ConfigIssue, joinPath } from './issues.js';

/** Environment variables as a plain map (e.g. `process.env`). */
export type Environment = Readonly<Record<string, string | undefined>>;

// $${env:X} (escaped, stays literal), ${env:NAME} and ${env:NAME:-default}.
const REFERENCE = /(\$?)\$\{env:([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Deepest nesting a configuration may have (a deeper one is refused, not walked into a stack overflow). */
const MAX_DEPTH = 64;

/**
 * Replaces `${env:NAME}` in every string value of `input` (keys are left alone) with the variable's
 * value; `${env:NAME:-fallback}` uses `fallback` when the variable is unset or empty; `$${env:NAME}`
 * stays literally `${env:NAME}`. Substituted text is not scanned again. Returns a new tree; a
 * missing variable or a malformed reference adds an issue at the value's path (never its value).
 * So does what no configuration can hold: a `__proto__` key (it would become the object's prototype
 * instead of a key), a value that contains itself (a YAML alias cycle), nesting deeper than 64 levels,
 * and a getter that throws. Never throws.
 */
export function substituteEnv(input: unknown, env: Environment, issues: ConfigIssue[], path = ''): unknown {
  return substitute(input, env, issues, path, []);
}

function substitute(input: unknown, env: Environment, issues: ConfigIssue[], path: string, ancestors: object[]): unknown {
  if (typeof input === 'string') return substituteString(input, env, issues, path);
  try {
    if (!Array.isArray(input) && !isPlainObject(input)) return input;
    if (ancestors.includes(input)) {
      issues.push({ path, message: 'contains itself (a YAML alias cycle or a circular object)' });
      return undefined;
    }
    if (ancestors.length >= MAX_DEPTH) {
      issues.push({ path, message: `is nested deeper than ${MAX_DEPTH} levels` });
      return undefined;
    }
    ancestors.push(input);
    try {
      if (Array.isArray(input)) return input.map((item, i) => substitute(item, env, issues, joinPath(path, [i]), ancestors));
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(input)) {
        const at = joinPath(path, [key]);
        if (key === '__proto__') issues.push({ path: at, message: 'is not allowed as a key' });
        else out[key] = substitute(value, env, issues, at, ancestors);
      }
      return out;
    } finally {
      ancestors.pop();
    }
  } catch {
    // A getter or a proxy that throws: its message is not repeated (it may quote a value).
    issues.push({ path, message: 'could not be read (a getter or proxy threw)' });
    return undefined;
  }
}

function substituteString(text: string, env: Environment, issues: ConfigIssue[], path: string): string {
  if (!text.includes('${env:')) return text;
  return text.replace(REFERENCE, (whole, escape: string, body: string) => {
    if (escape === '$') return whole.slice(1);
    const separator = body.indexOf(':-');
    const name = separator < 0 ? body : body.slice(0, separator);
    const fallback = separator < 0 ? undefined : body.slice(separator + 2);
    if (!NAME.test(name)) {
      issues.push({ path, message: 'invalid environment reference (write ${env:NAME} with NAME made of letters, digits and "_")' });
      return '';
    }
    const value = env[name];
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
    if (value === undefined) {
      issues.push({ path, message: `environment variable ${name} is not set` });
      return '';
    }
    return value;
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
