import { type AttributeValue, type Recorded, type TelemetryEvent, TrackpipeError } from '@trackpipe/core';
import type { HttpBodyFormat, HttpExporterOptions, HttpTlsOptions } from './http-exporter.js';
import type { OtlpOptions } from './otlp.js';

const FORMATS: readonly HttpBodyFormat[] = ['json', 'ndjson', 'otlp'];
const TOP_KEYS = ['url', 'headers', 'format', 'envelopeKey', 'gzipThresholdBytes', 'keepAlive', 'maxSockets', 'tls', 'otlp'];
const TLS_KEYS = ['ca', 'cert', 'key', 'rejectUnauthorized'];
const OTLP_KEYS = ['serviceName', 'resourceAttributes', 'scope'];
const SCOPE_KEYS = ['name', 'version'];

type Problem = (field: string, problem: string) => never;

function problemAt(path: string): Problem {
  return (field, problem) => {
    const where = `${path}.${field}`;
    // Never the value: it may be a secret substituted from the environment.
    throw new TrackpipeError('TRACKPIPE_ERR_CONFIG_INVALID', `${where} ${problem}`, { details: { path: where } });
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(record: Record<string, unknown>, allowed: readonly string[], prefix: string, fail: Problem): void {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) fail(`${prefix}${key}`, `is not a known option (known: ${allowed.join(', ')})`);
  }
}

function optionalString(value: unknown, field: string, fail: Problem): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(field, 'must be a non-empty string');
  return value;
}

function optionalBoolean(value: unknown, field: string, fail: Problem): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(field, 'must be true or false');
  return value;
}

function isAttributeValue(value: unknown, depth = 0): value is AttributeValue {
  if (depth > 8) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isAttributeValue(v, depth + 1));
  if (isRecord(value)) return Object.values(value).every((v) => isAttributeValue(v, depth + 1));
  return false;
}

function tlsOptions(value: unknown, fail: Problem): HttpTlsOptions | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) fail('tls', 'must be an object');
  onlyKeys(value, TLS_KEYS, 'tls.', fail);
  const { ca } = value;
  if (ca !== undefined && typeof ca !== 'string' && !(Array.isArray(ca) && ca.every((c) => typeof c === 'string'))) {
    fail('tls.ca', 'must be a PEM string or a list of them');
  }
  return {
    ca,
    cert: optionalString(value.cert, 'tls.cert', fail),
    key: optionalString(value.key, 'tls.key', fail),
    rejectUnauthorized: optionalBoolean(value.rejectUnauthorized, 'tls.rejectUnauthorized', fail),
  };
}

function otlpOptions(value: unknown, fail: Problem): OtlpOptions | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) fail('otlp', 'must be an object');
  onlyKeys(value, OTLP_KEYS, 'otlp.', fail);
  const out: OtlpOptions = {};
  out.serviceName = optionalString(value.serviceName, 'otlp.serviceName', fail);
  const attributes = value.resourceAttributes;
  if (attributes !== undefined) {
    if (!isRecord(attributes)) fail('otlp.resourceAttributes', 'must be an object of attribute values');
    for (const key of Object.keys(attributes)) {
      if (!isAttributeValue(attributes[key])) fail(`otlp.resourceAttributes.${key}`, 'must be a string, finite number, boolean, null, list or object');
    }
    out.resourceAttributes = attributes as Record<string, AttributeValue>;
  }
  const scope = value.scope;
  if (scope !== undefined) {
    if (!isRecord(scope)) fail('otlp.scope', 'must be an object with a name');
    onlyKeys(scope, SCOPE_KEYS, 'otlp.scope.', fail);
    const name = optionalString(scope.name, 'otlp.scope.name', fail);
    if (name === undefined) fail('otlp.scope.name', 'is required');
    const version = optionalString(scope.version, 'otlp.scope.version', fail);
    out.scope = version === undefined ? { name } : { name, version };
  }
  return out;
}

/**
 * Validates the plain-data config of an `http` exporter (as in a config file, `${env:...}` already
 * substituted) and turns it into {@link HttpExporterOptions}. Throws TRACKPIPE_ERR_CONFIG_INVALID
 * naming `<path>.<field>` and the problem, never the value.
 */
export function httpExporterOptionsFromConfig<E extends TelemetryEvent = Recorded<TelemetryEvent>>(
  options: Readonly<Record<string, unknown>>,
  path: string,
): HttpExporterOptions<E> {
  const fail: Problem = problemAt(path);
  if (!isRecord(options)) {
    throw new TrackpipeError('TRACKPIPE_ERR_CONFIG_INVALID', `${path} must be an object`, { details: { path } });
  }
  onlyKeys(options, TOP_KEYS, '', fail);

  const { url } = options;
  if (url === undefined) fail('url', 'is required');
  if (typeof url !== 'string') fail('url', 'must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail('url', 'must be a valid http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('url', 'must use http: or https:');

  const { headers } = options;
  if (headers !== undefined) {
    if (!isRecord(headers)) fail('headers', 'must be an object of header names to string values');
    for (const name of Object.keys(headers)) {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) fail('headers', 'has a header name that is not a valid HTTP token');
      const value = headers[name];
      if (typeof value !== 'string') fail(`headers.${name}`, 'must be a string');
      if (/[\r\n\0]/.test(value)) fail(`headers.${name}`, 'must not contain line breaks or NUL');
    }
  }

  const { format } = options;
  if (format !== undefined && !FORMATS.includes(format as HttpBodyFormat)) fail('format', `must be one of ${FORMATS.join(', ')}`);
  const envelopeKey = optionalString(options.envelopeKey, 'envelopeKey', fail);
  if (envelopeKey !== undefined && (format ?? 'json') !== 'json') fail('envelopeKey', 'is only valid with format json');

  const { gzipThresholdBytes } = options;
  if (
    gzipThresholdBytes !== undefined &&
    gzipThresholdBytes !== false &&
    (typeof gzipThresholdBytes !== 'number' || !Number.isFinite(gzipThresholdBytes) || gzipThresholdBytes < 0)
  ) {
    fail('gzipThresholdBytes', 'must be a number >= 0, or false');
  }
  const { maxSockets } = options;
  if (maxSockets !== undefined && (typeof maxSockets !== 'number' || !Number.isInteger(maxSockets) || maxSockets < 1)) {
    fail('maxSockets', 'must be an integer >= 1');
  }
  const keepAlive = optionalBoolean(options.keepAlive, 'keepAlive', fail);
  const tls = tlsOptions(options.tls, fail);
  if (tls !== undefined && parsed.protocol !== 'https:') fail('tls', 'is only valid with an https: url');
  const otlp = otlpOptions(options.otlp, fail);
  if (otlp !== undefined && format !== 'otlp') fail('otlp', 'is only valid with format otlp');

  return {
    url,
    headers: headers as Record<string, string> | undefined,
    format: format as HttpBodyFormat | undefined,
    envelopeKey,
    gzipThresholdBytes,
    keepAlive,
    maxSockets,
    tls,
    otlp,
  };
}
