// Finds the runnable example of a package README: the code block right after the marker line
//   <!-- packed-example -->                                   (exit 0 is all it must do), or
//   <!-- packed-example: prints "complete: true", "202" -->   (and print each of these strings).
// The packed-install test (packed.kafka.test.ts) runs it against the installed tarballs.

/** A README's runnable example. */
export interface ReadmeExample {
  /** `ts` is type-checked and compiled before it runs; `js` runs as it is (an ES module). */
  readonly lang: 'ts' | 'js';
  /** `vitest` when the example is a test file (it imports from 'vitest'): it runs under vitest. */
  readonly runner: 'node' | 'vitest';
  readonly code: string;
  /** Strings the example's standard output must contain. */
  readonly prints: readonly string[];
  /** Whether it needs a Kafka broker (it reads KAFKA_BROKERS). */
  readonly needsKafka: boolean;
  /** 1-based line of the code block's opening fence. */
  readonly line: number;
}

const MARKER = /^<!--\s*packed-example\s*(?::\s*(.*?))?\s*-->\s*$/;
const FENCE = /^```\s*(ts|typescript|js|javascript|mjs)\s*$/;

/** The marked example of `readme` (`file` names it in errors). Throws when there is none, several, or a malformed one. */
export function readmeExample(readme: string, file: string): ReadmeExample {
  const lines = readme.split(/\r?\n/);
  const markers = lines.flatMap((text, index) => (MARKER.test(text.trim()) ? [index] : []));
  if (markers.length === 0) {
    throw new Error(`${file} has no runnable example marked for the packed-install test: put a line "<!-- packed-example -->" right before its \`\`\`ts or \`\`\`js block`);
  }
  if (markers.length > 1) throw new Error(`${file} has ${markers.length} "<!-- packed-example -->" markers (lines ${markers.map((i) => i + 1).join(', ')}); mark one example`);
  const at = markers[0]!;
  const spec = MARKER.exec(lines[at]!.trim())?.[1] ?? '';
  const prints = parsePrints(spec, `${file}:${at + 1}`);
  let open = at + 1;
  while (open < lines.length && lines[open]!.trim() === '') open++;
  const fence = FENCE.exec(lines[open]?.trim() ?? '');
  if (fence === null) throw new Error(`${file}:${at + 1}: the "<!-- packed-example -->" marker must be followed by a \`\`\`ts or \`\`\`js block`);
  const close = lines.findIndex((text, index) => index > open && text.trim() === '```');
  if (close < 0) throw new Error(`${file}:${open + 1}: the example's code block is not closed`);
  const code = `${lines.slice(open + 1, close).join('\n')}\n`;
  const lang = fence[1] === 'ts' || fence[1] === 'typescript' ? 'ts' : 'js';
  return {
    lang,
    runner: /from\s+['"]vitest['"]/.test(code) ? 'vitest' : 'node',
    code,
    prints,
    needsKafka: code.includes('KAFKA_BROKERS'),
    line: open + 1,
  };
}

function parsePrints(spec: string, where: string): string[] {
  if (spec === '') return [];
  const match = /^prints\s+(.+)$/.exec(spec);
  if (match === null) throw new Error(`${where}: unknown marker option "${spec}" (expected: prints "text", "more text")`);
  const list = match[1]!;
  const strings: string[] = [];
  const rest = list.replace(/"((?:[^"\\]|\\.)*)"\s*,?\s*/g, (_, text: string) => {
    strings.push(JSON.parse(`"${text}"`) as string);
    return '';
  });
  if (rest.trim() !== '' || strings.length === 0) throw new Error(`${where}: "prints" takes double-quoted strings separated by commas, got ${list}`);
  return strings;
}
