import { describe, expect, it } from 'vitest';
import { barChartSvg, escapeXml, scaleMax } from '../src/charts.js';

/** The bars of a chart as drawn: label, value (from the data attributes), where the bar starts, its width, and the text after it. */
function barsOf(svg: string): { label: string; value: number; x: number; width: number; text: string }[] {
  return [...svg.matchAll(/<g class="bar" data-label="([^"]*)" data-value="([^"]*)">\n<text[^>]*>[^<]*<\/text>\n<rect x="(\d+)" y="[\d.]+" width="([\d.]+)"[^>]*\/>\n(?:<path[^>]*\/>\n)?<text[^>]*>([^<]*)<\/text>/g)].map(
    (m) => ({ label: m[1]!, value: Number(m[2]), x: Number(m[3]), width: Number(m[4]), text: m[5]! }),
  );
}

describe('barChartSvg', () => {
  const svg = barChartSvg({
    title: 'End to end: delivered events per second',
    unit: 'events/s',
    better: 'higher',
    bars: [
      { label: 'floor (hand-written)', value: 300_000, group: 'floor' },
      { label: 'Trackpipe JSON', value: 240_000, range: [230_000, 310_000], group: 'trackpipe' },
      { label: 'OpenTelemetry JS', value: 60_000, note: '0 lost' },
    ],
  });

  it('draws one bar per figure, in order, with its label and value', () => {
    const bars = barsOf(svg);
    expect(bars.map((b) => [b.label, b.value])).toEqual([
      ['floor (hand-written)', 300_000],
      ['Trackpipe JSON', 240_000],
      ['OpenTelemetry JS', 60_000],
    ]);
    expect(bars.map((b) => b.text)).toEqual(['300,000 events/s', '240,000 events/s', '60,000 events/s · 0 lost']);
  });

  it('draws bar lengths in proportion to the values, on a scale that holds the largest', () => {
    const [floor, trackpipe, otel] = barsOf(svg);
    expect(trackpipe!.width / floor!.width).toBeCloseTo(0.8, 2);
    expect(otel!.width / floor!.width).toBeCloseTo(0.2, 2);
    expect(floor!.width).toBeCloseTo(370 * (300_000 / 400_000), 0);
    expect(svg).toContain('>400,000</text>'); // scale maximum: the whisker's 310 000 rounded up to a round step
  });

  it('draws the range over the runs as a whisker only where there is one', () => {
    expect(svg.match(/<path /g)).toHaveLength(1);
    const whisker = /<path d="M([\d.]+) [\d.]+H([\d.]+)/.exec(svg);
    const toX = (value: number) => barsOf(svg)[0]!.x + (value / 400_000) * 370;
    expect(Number(whisker![1])).toBeCloseTo(toX(230_000), 0);
    expect(Number(whisker![2])).toBeCloseTo(toX(310_000), 0);
  });

  it('is a standalone, accessible SVG document: title, description with every value, which way is better', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('<title id="title">End to end: delivered events per second</title>');
    expect(svg).toContain('floor (hand-written): 300,000 events/s; Trackpipe JSON: 240,000 events/s; OpenTelemetry JS: 60,000 events/s');
    expect(svg).toContain('higher is better');
  });

  it('escapes labels and notes, and shows decimals as asked', () => {
    const tricky = barChartSvg({ title: 'a < b & "c"', unit: 'µs', better: 'lower', digits: 2, bars: [{ label: '<script>', value: 3.14159, note: "it's" }] });
    expect(tricky).not.toContain('<script>');
    expect(tricky).toContain('&lt;script&gt;');
    expect(tricky).toContain('a &lt; b &amp; &quot;c&quot;');
    expect(barsOf(tricky)[0]!.text).toBe('3.14 µs · it&#39;s');
  });

  it('leaves room for the longest label and value text', () => {
    const long = barChartSvg({ title: 't', unit: 'events/s', better: 'higher', bars: [{ label: 'Trackpipe JSON + gzip (default), a long label', value: 1_000_000, note: 'a long note too' }] });
    const [bar] = barsOf(long);
    const width = Number(/<svg [^>]*width="(\d+)"/.exec(long)![1]);
    expect(bar!.x).toBeGreaterThan('Trackpipe JSON + gzip (default), a long label'.length * 6);
    expect(width - (bar!.x + bar!.width)).toBeGreaterThan('1,000,000 events/s · a long note too'.length * 6);
  });

  it('draws a zero as a hairline and never a negative width', () => {
    const bars = barsOf(barChartSvg({ title: 't', unit: 'u', better: 'lower', bars: [{ label: 'a', value: 0 }, { label: 'b', value: 2 }] }));
    expect(bars.map((b) => b.width)).toEqual([1, 370]);
  });
});

describe('scaleMax', () => {
  it('rounds the largest value up to a round step (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8) of its power of ten', () => {
    expect([scaleMax([0.7]), scaleMax([3]), scaleMax([1_195]), scaleMax([248_752]), scaleMax([342_923]), scaleMax([78.1]), scaleMax([100]), scaleMax([130.9])]).toEqual([
      0.8, 3, 1_200, 250_000, 400_000, 80, 100, 150,
    ]);
    expect(scaleMax([])).toBe(1);
    expect(scaleMax([0, Number.NaN])).toBe(1);
  });

  it('escapes the five XML special characters', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
