import { type ConfigIssue, joinPath } from './issues.js';

/** Environment variables as a plain map (e.g. `process.env`). */
export type Environment = Readonly<Record<string, string | undefined>>;

// $${env:X} (escaped, stays literal), ${env:NAME} and ${env:NAME:-default}.
const REFERENCE = /(\$?)\$\{env:([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces `${env:NAME}` in every string value of `input` (keys are left alone) with the variable's
 * value; `${env:NAME:-fallback}` uses `fallback` when the variable is unset or empty; `$${env:NAME}`
 * stays literally `${env:NAME}`. Substituted text is not scanned again. Returns a new tree; a
 * missing variable or a malformed reference adds an issue at the value's path (never its value).
 */
export function substituteEnv(input: unknown, env: Environment, issues: ConfigIssue[], path = ''): unknown {
  if (typeof input === 'string') return substituteString(input, env, issues, path);
  if (Array.isArray(input)) return input.map((item, i) => substituteEnv(item, env, issues, joinPath(path, [i])));
  if (isPlainObject(input)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) out[key] = substituteEnv(value, env, issues, joinPath(path, [key]));
    return out;
  }
  return input;
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
