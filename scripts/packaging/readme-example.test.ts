import { describe, expect, it } from 'vitest';
import { readmeExample } from './readme-example.js';

const fence = '```';

describe('readmeExample', () => {
  it('takes the code block right after the marker, with what it must print', () => {
    const readme = [
      '# pkg',
      '',
      `${fence}ts`,
      "import { no } from 'not-this-one';",
      fence,
      '',
      '<!-- packed-example: prints "complete: true", "say \\"hi\\"" -->',
      '',
      `${fence}ts`,
      "import { yes } from 'pkg';",
      'console.log(process.env.KAFKA_BROKERS);',
      fence,
      '',
    ].join('\n');
    expect(readmeExample(readme, 'README.md')).toEqual({
      lang: 'ts',
      runner: 'node',
      code: "import { yes } from 'pkg';\nconsole.log(process.env.KAFKA_BROKERS);\n",
      prints: ['complete: true', 'say "hi"'],
      needsKafka: true,
      line: 9,
    });
  });

  it('runs a test file under vitest and a js block as it is', () => {
    const test = readmeExample(`<!-- packed-example -->\n${fence}ts\nimport { it } from 'vitest';\n${fence}\n`, 'README.md');
    expect(test).toMatchObject({ lang: 'ts', runner: 'vitest', prints: [], needsKafka: false });
    expect(readmeExample(`<!-- packed-example -->\n${fence}js\nconsole.log(1);\n${fence}\n`, 'README.md')).toMatchObject({ lang: 'js', runner: 'node' });
  });

  it('names the README and says what to add when there is no marker', () => {
    expect(() => readmeExample(`# pkg\n\n${fence}ts\nx;\n${fence}\n`, 'packages/x/README.md')).toThrow(
      'packages/x/README.md has no runnable example marked for the packed-install test: put a line "<!-- packed-example -->"',
    );
  });

  it('refuses two markers, a marker without a code block after it, an unclosed block and an unknown option', () => {
    const block = `${fence}ts\nx;\n${fence}\n`;
    expect(() => readmeExample(`<!-- packed-example -->\n${block}<!-- packed-example -->\n${block}`, 'R.md')).toThrow('R.md has 2 "<!-- packed-example -->" markers (lines 1, 5)');
    expect(() => readmeExample(`<!-- packed-example -->\nSome text.\n${block}`, 'R.md')).toThrow('R.md:1: the "<!-- packed-example -->" marker must be followed by');
    expect(() => readmeExample(`<!-- packed-example -->\n${fence}sh\nls\n${fence}\n`, 'R.md')).toThrow('must be followed by a ```ts or ```js block');
    expect(() => readmeExample(`<!-- packed-example -->\n${fence}ts\nx;\n`, 'R.md')).toThrow('R.md:2: the example\'s code block is not closed');
    expect(() => readmeExample(`<!-- packed-example: shows "x" -->\n${block}`, 'R.md')).toThrow('R.md:1: unknown marker option "shows "x""');
    expect(() => readmeExample(`<!-- packed-example: prints x -->\n${block}`, 'R.md')).toThrow('"prints" takes double-quoted strings');
  });
});
