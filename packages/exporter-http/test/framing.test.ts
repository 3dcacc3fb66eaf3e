import { describe, expect, it } from 'vitest';
import { framed } from '../src/framing.js';

const frame = { open: '{"batch":[', separator: ',', close: ']}' };
const joined = (texts: string[]): string => `${frame.open}${texts.join(frame.separator)}${frame.close}`;

describe('framed', () => {
  const texts = ['{"a":"plain"}', '{"b":"é ü ß"}', '{"c":"😀 𝄞"}', '{"d":"lone \ud800 surrogate"}', '{"e":"日本語"}', ''];

  it('writes open + texts joined by the separator + close as UTF-8, exactly as large as that', () => {
    for (const parts of [texts, texts.slice(0, 1), [], ['{"x":1}']]) {
      const body = framed(frame, parts);
      const expected = Buffer.from(joined(parts), 'utf8');
      expect(body.equals(expected)).toBe(true);
      expect(body.length).toBe(expected.length);
    }
  });

});

describe('framed with a byte count', () => {
  const texts = ['{"a":"plain"}', '{"b":"é ü ß"}', '{"c":"😀 𝄞"}', '{"d":"lone \ud800 surrogate"}', '{"e":"日本語"}'];
  const expected = Buffer.from(joined(texts));
  let bytes = 0;
  for (const text of texts) bytes += Buffer.byteLength(text);

  it('uses the count when it matches the texts', () => {
    expect(framed(frame, texts, bytes).equals(expected)).toBe(true);
  });

  it('writes the whole body, no more, whatever count it is given', () => {
    const chars = texts.join('').length;
    for (const wrong of [0, 1, 3, bytes - 4, bytes - 3, bytes - 2, bytes - 1, bytes + 1, bytes + 3, bytes + 4, bytes * 3, chars]) {
      const body = framed(frame, texts, wrong);
      expect(body.equals(expected), `count ${wrong}`).toBe(true);
    }
  });

  it('finds a cut inside the last text, right before the close', () => {
    // The last text ends with a 4-byte character: a count 1 to 4 bytes short cuts it, and the close still fits.
    const parts = ['"x"', '🚀'];
    const whole = Buffer.from(joined(parts));
    const real = Buffer.byteLength(parts.join(''));
    for (const short of [1, 2, 3, 4]) expect(framed(frame, parts, real - short).equals(whole), `${short} short`).toBe(true);
  });
});
