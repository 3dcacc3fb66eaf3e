/**
 * One place that keeps secrets out of what Trackpipe writes: errors, logs, `stats().lastError` and
 * metrics. Exporters, receivers and the service use these helpers instead of their own.
 */

/** What every hidden value is replaced with. */
export const REDACTED = '[REDACTED]';

// "Bearer abc.def", "Basic dXNlcjpwYXNz", "Token xyz": keep the scheme, hide the credential.
const AUTH_SCHEME = /\b(bearer|basic|token|apikey|api-key)(\s+|=|:\s*)[A-Za-z0-9\-._~+/]+=*/gi;
// JSON Web Tokens anywhere: three base64url parts, the first starting with `eyJ` ('{"'). A match
// starts only where a run of base64url characters starts (not after a `-` or `_` either): with `\b`,
// a hostile text such as `-eyJaaaa` repeated made every `eyJ` scan to the end of the run, quadratic
// (a 64 KiB answer body took 2.5 s); this way each run is scanned once.
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
// Whitespace and control characters (a terminal's escape sequences among them): one space in an excerpt.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]+/g;
// Secrets are seldom shorter than this; shorter configured values are not searched for.
const MIN_SECRET_LENGTH = 4;
// Words of a header value that are not secret: hiding them would only hide what the excerpt is about.
const SCHEMES = new Set(['bearer', 'basic', 'token', 'digest', 'apikey', 'api-key', 'negotiate']);
/** Field and header names whose values are secret whatever they hold. */
const SECRET_NAME = /authorization|api[-_]?key|token|password|passwd|secret|cookie|credential|sasl|passphrase/i;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when a field, header or option named `name` holds a secret (authorization, apiKey, token, password, ...). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * The strings to hide: every configured value given (header values, passwords, keys), and each of its
 * whitespace-separated parts (so that a server echoing only the token of `Bearer <token>` is caught).
 * Values shorter than four characters are not searched for. Longest first.
 */
export function secretsOf(values: Iterable<unknown>): string[] {
  const secrets = new Set<string>();
  for (const value of values) {
    if (typeof value !== 'string') continue;
    const trimmed = value.trim();
    if (trimmed.length >= MIN_SECRET_LENGTH) secrets.add(trimmed);
    for (const part of trimmed.split(/\s+/)) {
      if (part.length >= MIN_SECRET_LENGTH && !SCHEMES.has(part.toLowerCase())) secrets.add(part);
    }
  }
  // Longest first, so that a value is hidden whole before any of its parts.
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** Replaces `secrets` and anything that looks like a credential (JWTs, `Bearer …`, `apikey=…`) in `text` by `[REDACTED]`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(JWT, REDACTED).replace(AUTH_SCHEME, (_m, scheme: string, sep: string) => `${scheme}${sep}${REDACTED}`);
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.replace(new RegExp(escapeRegExp(secret), 'g'), REDACTED);
  }
  return out;
}

/**
 * Turns a response body or error text into a short, single-line excerpt, redacted (see {@link redact}),
 * with whitespace and control characters as single spaces (a hostile body cannot drive a terminal).
 * Redaction runs on the whole text before it is cut, so a secret cannot survive half-cut at the end.
 */
export function excerpt(body: string, secrets: readonly string[] = [], maxLength = 200): string {
  const text = redact(body, secrets).replace(SPACE_OR_CONTROL, ' ').trim();
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

/**
 * What may be shown of a URL: its origin only (`https://hooks.example.com`), never the user info,
 * path or query, which often carry tokens (webhook URLs). Anything unparsable becomes `[REDACTED]`.
 */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return parsed.origin === 'null' ? `${parsed.protocol}${REDACTED}` : parsed.origin;
  } catch {
    return REDACTED;
  }
}
