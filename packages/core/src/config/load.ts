import { open } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { TrackpipeError, describeError } from '../errors.js';
import { type Environment, substituteEnv } from './env.js';
import { type ConfigIssue, configError, issuesFromZod, joinPath, safeErrorMap } from './issues.js';
import { type TrackpipeConfig, configSchema } from './schema.js';

// The configuration loader is the one place in Trackpipe that reads environment variables.

/** The environment variable `loadConfig()` falls back to: a file path, or the configuration itself. */
export const CONFIG_ENV = 'TRACKPIPE_CONFIG';

/** Configurations this module validated (createCollector does not validate or substitute them again). */
const validated = new WeakSet<object>();

/** True when `config` came out of {@link parseConfig} or {@link loadConfig}. */
export function isValidatedConfig(config: unknown): config is TrackpipeConfig {
  return typeof config === 'object' && config !== null && validated.has(config);
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** Variables for `${env:NAME}`. Default: `process.env`. */
  env?: Environment;
  /** Where the configuration came from, for error messages (a file path, `TRACKPIPE_CONFIG`). */
  source?: string;
}

/**
 * Validates a configuration object: substitutes `${env:NAME}` in string values, applies defaults,
 * checks every field. Throws TRACKPIPE_ERR_CONFIG_INVALID naming every bad path (never a value).
 * An already validated configuration is returned as is.
 */
export function parseConfig(input: unknown, options: ParseConfigOptions = {}): TrackpipeConfig {
  if (isValidatedConfig(input)) return input;
  const env = options.env ?? process.env;
  const envIssues: ConfigIssue[] = [];
  const substituted = substituteEnv(input, env, envIssues);
  let result: ReturnType<typeof configSchema.safeParse>;
  try {
    result = configSchema.safeParse(substituted, { error: safeErrorMap });
  } catch {
    // A getter of a class instance or proxy threw while the schema read it (substituteEnv copies plain
    // objects only). Its message is not repeated: it may quote a value.
    throw configError([...envIssues, ...unreadable(substituted, '')], options.source);
  }
  const issues = [...envIssues];
  if (!result.success) {
    // A value whose variable is missing was replaced by "": its own schema complaint adds nothing.
    const missing = new Set(envIssues.map((i) => i.path));
    for (const issue of issuesFromZod(result.error)) if (!missing.has(issue.path)) issues.push(issue);
  }
  if (issues.length > 0 || !result.success) throw configError(issues, options.source);
  validated.add(result.data);
  return result.data;
}

/**
 * Where the schema may have met a getter that threw: the objects in `value` that are neither plain
 * objects nor lists (class instances, proxies), by path; the root when there is none.
 */
function unreadable(value: unknown, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, joinPath(at, [i])));
    else if (Object.getPrototypeOf(node) === Object.prototype) for (const [key, item] of Object.entries(node)) walk(item, joinPath(at, [key]));
    else issues.push({ path: at, message: 'could not be read (a getter or proxy threw): give plain data (an object literal, parsed JSON or YAML)' });
  };
  try {
    walk(value, path);
  } catch {
    // Only plain objects and lists substituteEnv made are walked; nothing here should throw.
  }
  return issues.length > 0 ? issues : [{ path, message: 'could not be read (a getter or proxy threw)' }];
}

/** Parses JSON or YAML text (JSON is read as YAML 1.2). Errors give a position, never the text. */
export function parseConfigText(text: string, source: string): unknown {
  // prettyErrors computes linePos; the message (which quotes the source) is never used.
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = document.errors[0];
  if (error !== undefined) {
    const at = error.linePos?.[0];
    const where = at === undefined ? '' : ` at line ${at.line}, column ${at.col}`;
    throw configError([{ path: '', message: `not valid JSON or YAML${where} (${error.code})` }], source);
  }
  try {
    return document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch {
    // yaml refuses an alias that expands past maxAliasCount nodes (a "billion laughs" document).
    throw configError([{ path: '', message: `not a usable configuration: its YAML aliases expand too far (more than ${MAX_ALIAS_COUNT} nodes an alias)` }], source);
  }
}

/** How far one YAML alias may expand (yaml's `maxAliasCount`). */
const MAX_ALIAS_COUNT = 100;

/** The largest configuration file read, in bytes: `--config /dev/zero` must not read for ever. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Reads a text file of at most {@link MAX_CONFIG_BYTES}, also from a pipe or a device (`<(...)`),
 * which have no size until read. Throws an Error with `code` TOO_LARGE past it.
 */
async function readCapped(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_CONFIG_BYTES) throw Object.assign(new Error(`larger than ${MAX_CONFIG_BYTES} bytes`), { code: 'TOO_LARGE' });
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Options of {@link loadConfig}: one source, or none to read `TRACKPIPE_CONFIG`. */
export interface LoadConfigOptions {
  /** The configuration as an object. Wins over `file`. */
  object?: unknown;
  /** Path of a JSON or YAML file (`.json`, `.yaml`, `.yml`, or anything: JSON is read as YAML). */
  file?: string;
  /** Variables for `${env:NAME}` and `TRACKPIPE_CONFIG`. Default: `process.env`. */
  env?: Environment;
}

/** A configuration document read from its source, not validated yet. */
export interface ConfigSource {
  /** The parsed JSON or YAML. */
  readonly document: unknown;
  /** Where it came from, for error messages. */
  readonly source: string;
}

/** How errors and logs name a configuration file whose path came from `TRACKPIPE_CONFIG` (the path itself is never shown). */
const CONFIG_ENV_FILE = `the file named by ${CONFIG_ENV}`;

/**
 * Reads the configuration document from `file`, or else from `TRACKPIPE_CONFIG`, which holds either
 * the configuration itself (when its first non-blank character is `{`, or it spans several lines:
 * JSON or YAML) or the path of a configuration file. A one-line value that names no readable file
 * is read as YAML when it is a mapping (`pipelines: [...]`). Returns undefined when neither is given.
 * The value of `TRACKPIPE_CONFIG` is never repeated in an error (it may hold secrets, and so may
 * a mistyped path): errors name the variable, and a file it names is called {@link CONFIG_ENV_FILE}.
 * Programs with sections of their own (the service) validate the document themselves.
 */
export async function readConfigSource(options: { file?: string; env?: Environment } = {}): Promise<ConfigSource | undefined> {
  if (options.file !== undefined) return { document: await readConfigFile(options.file), source: options.file };
  const value = (options.env ?? process.env)[CONFIG_ENV];
  if (value === undefined || value.trim() === '') return undefined;
  if (isInline(value)) return { document: parseConfigText(value, CONFIG_ENV), source: CONFIG_ENV };
  let text: string;
  try {
    text = await readCapped(value.trim());
  } catch (error) {
    // Not a readable file. No cause is attached: Node's messages quote the path.
    const code = (error as { code?: unknown }).code;
    const mapping = oneLineMapping(value);
    if (mapping !== undefined) return { document: mapping, source: CONFIG_ENV };
    const why = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? ` (${code})` : '';
    throw configError(
      [
        {
          path: '',
          message: `${CONFIG_ENV} does not name a readable file${why} and is not a JSON or YAML configuration (its value is not shown: it may hold secrets)`,
        },
      ],
      CONFIG_ENV,
    );
  }
  return { document: parseConfigText(text, CONFIG_ENV_FILE), source: CONFIG_ENV_FILE };
}

/** The value read as one line of YAML when that gives a mapping (e.g. `pipelines: [...]`); otherwise undefined. */
function oneLineMapping(value: string): Record<string, unknown> | undefined {
  const document = parseDocument(value, { uniqueKeys: true });
  if (document.errors.length > 0) return undefined;
  let parsed: unknown;
  try {
    parsed = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch {
    return undefined; // an alias that expands too far: not a configuration
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}

/**
 * Loads and validates a configuration from an object, a JSON or YAML file, or — when neither is
 * given — the `TRACKPIPE_CONFIG` environment variable (see {@link readConfigSource}).
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<TrackpipeConfig> {
  const env = options.env ?? process.env;
  if (options.object !== undefined) return parseConfig(options.object, { env });
  const read = await readConfigSource({ ...options, env });
  if (read === undefined) {
    throw new TrackpipeError(
      'TRACKPIPE_ERR_CONFIG_INVALID',
      `no configuration: pass { object } or { file } to loadConfig(), or set ${CONFIG_ENV} to a file path or to the configuration (JSON or YAML)`,
    );
  }
  return parseConfig(read.document, { env, source: read.source });
}

function isInline(value: string): boolean {
  return value.trimStart().startsWith('{') || value.trim().includes('\n');
}

async function readConfigFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readCapped(file);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new TrackpipeError(
      'TRACKPIPE_ERR_CONFIG_INVALID',
      `cannot read the configuration file ${file}: ${code === 'TOO_LARGE' ? `it is larger than ${MAX_CONFIG_BYTES} bytes` : typeof code === 'string' ? code : describeError(error)}`,
      { cause: error, details: { source: file } },
    );
  }
  return parseConfigText(text, file);
}
