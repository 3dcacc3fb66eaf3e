// A small, strict parser of the Prometheus text exposition format (version 0.0.4), for tests: it
// checks structure (HELP/TYPE before samples, every sample in a declared family, well-formed labels
// and values) and gives the values back, so that tests compare numbers instead of matching strings.

export interface Sample {
  /** Full sample name (`x_bucket`, `x_sum`, `x_count` for histograms). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function unescape(text: string, quotes: boolean): string {
  return text.replace(/\\(.)/g, (whole, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\') return '\\';
    if (quotes && c === '"') return '"';
    throw new Error(`bad escape ${whole}`);
  });
}

// Like Prometheus (Go's strconv.ParseFloat), NaN and Inf are case-insensitive: prom-client writes "Nan".
function parseValue(text: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (lower === 'nan') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad sample value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` content starting at `i` (just after `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`label without "=": ${line}`);
    const name = line.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`duplicate label ${name}`);
    if (line[eq + 1] !== '"') throw new Error(`label value not quoted: ${line}`);
    let j = eq + 2;
    let raw = '';
    while (j < line.length && line[j] !== '"') {
      if (line[j] === '\\') {
        raw += line.slice(j, j + 2);
        j += 2;
      } else {
        raw += line[j];
        j++;
      }
    }
    if (j >= line.length) throw new Error(`unterminated label value: ${line}`);
    labels[name] = unescape(raw, true);
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`expected "," or "}" after a label: ${line}`);
  }
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct !== undefined) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const family = families.get(sample.slice(0, -suffix.length));
      if (family !== undefined && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) return family;
    }
  }
  return undefined;
}

/** Parses an exposition; throws on anything malformed. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) continue; // a plain comment
      const [, keyword, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
      if (keyword === 'HELP') {
        helps.set(name, unescape(rest, false));
      } else {
        if (!TYPES.has(rest)) throw new Error(`bad type ${JSON.stringify(rest)} for ${name}`);
        if (families.has(name)) throw new Error(`second TYPE line for ${name}`);
        families.set(name, { name, type: rest, help: helps.get(name) ?? '', samples: [] });
      }
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`bad sample name ${JSON.stringify(name)}`);
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const parsed = parseLabels(line, nameEnd + 1);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const family = familyOf(name, families);
    if (family === undefined) throw new Error(`sample ${name} has no TYPE line before it`);
    family.samples.push({ name, labels, value: parseValue(parts[0]!) });
  }
  return families;
}

/** The samples of `name` whose labels include `labels`. */
export function samples(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): Sample[] {
  const family = familyOf(name, families);
  if (family === undefined) return [];
  return family.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample of `name` with exactly these labels; throws if absent or ambiguous. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string>): number {
  const found = samples(families, name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
  if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}
