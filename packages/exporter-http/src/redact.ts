/** Keeps secrets out of the response excerpts that go into errors, logs and `stats().lastError`. */

const REDACTED = '[REDACTED]';

// "Bearer abc.def", "Basic dXNlcjpwYXNz", "Token xyz": keep the scheme, hide the credential.
const AUTH_SCHEME = /\b(bearer|basic|token|apikey|api-key)(\s+|=|:\s*)[A-Za-z0-9\-._~+/]+=*/gi;
// JSON Web Tokens anywhere: three base64url parts, the first starting with `eyJ` ('{"').
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
// Secrets are seldom shorter than this; shorter configured values are not searched for.
const MIN_SECRET_LENGTH = 4;
// Words of a header value that are not secret: hiding them would only hide what the excerpt is about.
const SCHEMES = new Set(['bearer', 'basic', 'token', 'digest', 'apikey', 'api-key', 'negotiate']);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The strings to hide from excerpts: every configured header value, and each of its
 * whitespace-separated parts (so that a server echoing only the token of `Bearer <token>` is caught).
 */
export function secretsOf(values: Iterable<string>): string[] {
  const secrets = new Set<string>();
  for (const value of values) {
    const trimmed = value.trim();
    if (trimmed.length >= MIN_SECRET_LENGTH) secrets.add(trimmed);
    for (const part of trimmed.split(/\s+/)) {
      if (part.length >= MIN_SECRET_LENGTH && !SCHEMES.has(part.toLowerCase())) secrets.add(part);
    }
  }
  // Longest first, so that a value is hidden whole before any of its parts.
  return [...secrets].sort((a, b) => b.length - a.length);
}

/**
 * Turns a response body into a short, single-line excerpt with `secrets` and anything that looks like
 * a credential replaced by `[REDACTED]`. Redaction runs on the whole text before it is cut, so a
 * secret cannot survive half-cut at the end.
 */
export function excerpt(body: string, secrets: readonly string[], maxLength = 200): string {
  let text = body.replace(JWT, REDACTED).replace(AUTH_SCHEME, (_m, scheme: string, sep: string) => `${scheme}${sep}${REDACTED}`);
  for (const secret of secrets) {
    if (text.includes(secret)) text = text.replace(new RegExp(escapeRegExp(secret), 'g'), REDACTED);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}
