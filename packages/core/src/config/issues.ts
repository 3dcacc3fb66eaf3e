import type * as z from 'zod';
import { TrackpipeError } from '../errors.js';

/** One problem found in a configuration: where, and what is wrong. Never holds the value. */
export interface ConfigIssue {
  /** Path in the configuration, e.g. `pipelines[0].batch.maxBatchSize`. */
  readonly path: string;
  /** What is wrong, e.g. `must be an integer >= 1`. */
  readonly message: string;
}

type PathKey = PropertyKey;

/** Joins a path prefix and keys as `a.b[0].c` (keys that are not identifiers as `["odd key"]`). */
export function joinPath(prefix: string, keys: readonly PathKey[]): string {
  let out = prefix;
  for (const key of keys) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  bigint: 'an integer',
  null: 'null',
};

function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}

/**
 * A zod error map that words every issue without the input value (a value may be a secret), so
 * schemas only need a custom message where a clearer one helps. Pass it as `{ error: safeErrorMap }`.
 */
export const safeErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${EXPECTED[issue.expected] ?? issue.expected}`;
    case 'too_small': {
      const { minimum, inclusive, origin } = issue;
      if (origin === 'array' || origin === 'set') return `must have at least ${plural(minimum, 'item')}`;
      if (origin === 'string') return minimum === 1 ? 'must not be empty' : `must have at least ${plural(minimum, 'character')}`;
      return `must be ${inclusive === false ? '>' : '>='} ${minimum}`;
    }
    case 'too_big': {
      const { maximum, inclusive, origin } = issue;
      if (origin === 'array' || origin === 'set') return `must have at most ${plural(maximum, 'item')}`;
      if (origin === 'string') return `must have at most ${plural(maximum, 'character')}`;
      return `must be ${inclusive === false ? '<' : '<='} ${maximum}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'starts_with' && 'prefix' in issue ? `must start with ${JSON.stringify(issue.prefix)}` : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return 'is invalid';
  }
};

/** Turns zod issues into config issues under `prefix`; an unknown key becomes an issue at its own path. */
export function issuesFromZod(error: z.core.$ZodError, prefix = ''): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ path: joinPath(prefix, [...issue.path, key]), message: 'unknown key' });
    } else {
      issues.push({ path: joinPath(prefix, issue.path), message: issue.message });
    }
  }
  return issues;
}

/**
 * The error every configuration problem becomes: TRACKPIPE_ERR_CONFIG_INVALID, one line per issue
 * (`path: problem`), the issues in `details.issues`. `source` names where the config came from;
 * `cause` is kept as the error's cause (not printed).
 */
export function configError(issues: readonly ConfigIssue[], source?: string, cause?: unknown): TrackpipeError {
  const where = source === undefined ? '' : ` (${source})`;
  const lines = issues.map((i) => `  - ${i.path === '' ? '(root)' : i.path}: ${i.message}`);
  const head = issues.length === 1 ? 'the configuration has a problem' : `the configuration has ${issues.length} problems`;
  return new TrackpipeError('TRACKPIPE_ERR_CONFIG_INVALID', `${head}${where}:\n${lines.join('\n')}`, {
    cause,
    details: { issues: issues.map((i) => ({ path: i.path, message: i.message })), ...(source === undefined ? {} : { source }) },
  });
}

/** The issues a TRACKPIPE_ERR_CONFIG_INVALID error carries (empty for other errors). */
export function issuesOf(error: unknown): ConfigIssue[] {
  if (!(error instanceof TrackpipeError) || error.code !== 'TRACKPIPE_ERR_CONFIG_INVALID') return [];
  const issues: unknown = error.details.issues;
  if (!Array.isArray(issues)) return [];
  return (issues as unknown[]).filter((i): i is ConfigIssue => {
    const issue = i as Partial<Record<keyof ConfigIssue, unknown>> | null;
    return typeof issue === 'object' && issue !== null && typeof issue.path === 'string' && typeof issue.message === 'string';
  });
}

/**
 * The issue of options a schema could not read — it threw: a getter, a revoked proxy, nesting too deep
 * for the stack. Says which, never what was thrown (a getter's message may quote a value, a password).
 */
export function unreadableOptions(error: unknown, path = ''): ConfigIssue {
  const why = error instanceof RangeError ? 'nested too deep' : 'a getter threw, or a proxy refused';
  return { path, message: `the options could not be read (${why})` };
}

/**
 * Validates an exporter's options against a zod schema for an {@link ExporterFactory}: returns the
 * parsed options, or throws TRACKPIPE_ERR_CONFIG_INVALID naming each bad path below `context.path`
 * (values are never echoed) — also when reading them threw (a getter, a revoked proxy, nesting too
 * deep for the stack).
 */
export function parseExporterOptions<S extends z.ZodType>(
  schema: S,
  options: unknown,
  context: { readonly path: string },
): z.output<S> {
  let result: z.ZodSafeParseResult<z.output<S>>;
  try {
    result = schema.safeParse(options, { error: safeErrorMap });
  } catch (error) {
    throw configError([unreadableOptions(error, context.path)], undefined, error);
  }
  if (!result.success) throw configError(issuesFromZod(result.error, context.path));
  return result.data;
}
