// Hand-written SVG bar charts for RESULTS.md: one horizontal bar per client, drawn from the report's
// own figures (the medians of the tables), with the range over the runs as a whisker.

/** One client's bar. */
export interface Bar {
  /** Row label (the client). */
  readonly label: string;
  /** Bar length: the median over the runs. */
  readonly value: number;
  /** Lowest and highest value over the runs (a whisker), when there was more than one run. */
  readonly range?: readonly [number, number];
  /** Text after the value, e.g. `0 lost`. */
  readonly note?: string;
  /** Colour group: the hand-written floor, Trackpipe, or a peer. Default `peer`. */
  readonly group?: 'floor' | 'trackpipe' | 'peer';
}

/** A horizontal bar chart. */
export interface BarChart {
  readonly title: string;
  /** Unit shown after each value, e.g. `events/s` or `µs`. */
  readonly unit: string;
  /** Which way is better; said under the title. */
  readonly better: 'higher' | 'lower';
  /** Decimals of the values shown. Default 0. */
  readonly digits?: number;
  readonly bars: readonly Bar[];
}

const BAR_AREA = 370;
/** Rough width of one character at 13 px in a sans-serif font, to leave room for labels and values. */
const CHAR_PX = 7.4;
const ROW = 30;
const TOP = 58;
const COLORS = { floor: '#8c8c8c', trackpipe: '#2f6fdb', peer: '#e0892b' } as const;

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function format(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The largest value of the chart's scale: the largest bar or whisker, rounded up to a round step (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten). */
export function scaleMax(values: readonly number[]): number {
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)));
  if (max === 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= max) return Number((step * power).toPrecision(12));
  return 10 * power;
}

/** Renders the chart as a standalone SVG document (text, so it diffs and reads in review). */
export function barChartSvg(chart: BarChart): string {
  const digits = chart.digits ?? 0;
  const max = scaleMax(chart.bars.flatMap((bar) => [bar.value, ...(bar.range ?? [])]));
  const valueText = (bar: Bar): string => `${format(bar.value, digits)} ${chart.unit}${bar.note === undefined ? '' : ` · ${bar.note}`}`;
  const labelWidth = Math.ceil(Math.max(120, ...chart.bars.map((bar) => bar.label.length * CHAR_PX + 20)));
  const width = Math.ceil(Math.max(labelWidth + BAR_AREA + 24 + Math.max(0, ...chart.bars.map((bar) => valueText(bar).length * CHAR_PX)), chart.title.length * 8.4 + 24));
  const x = (value: number): number => labelWidth + (Math.max(0, value) / max) * BAR_AREA;
  const height = TOP + chart.bars.length * ROW + 34;
  const round = (n: number): string => (Math.round(n * 10) / 10).toString();
  const summary = chart.bars.map((bar) => `${bar.label}: ${format(bar.value, digits)} ${chart.unit}`).join('; ');
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="title desc" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="13">`,
    `<title id="title">${escapeXml(chart.title)}</title>`,
    `<desc id="desc">${escapeXml(`${summary} (median over the runs; ${chart.better} is better)`)}</desc>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="15" font-weight="600" fill="#1a1a1a">${escapeXml(chart.title)}</text>`,
    `<text x="12" y="43" fill="#555555">${escapeXml(`${chart.unit}, median over the runs (whiskers: lowest to highest run); ${chart.better} is better`)}</text>`,
  ];
  // Grid: 0, half and the scale's maximum.
  for (const tick of [0, max / 2, max]) {
    const tx = round(x(tick));
    out.push(`<line x1="${tx}" y1="${TOP - 6}" x2="${tx}" y2="${TOP + chart.bars.length * ROW}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${tx}" y="${TOP + chart.bars.length * ROW + 16}" text-anchor="middle" fill="#777777" font-size="11">${escapeXml(tick === 0 ? '0' : format(tick, tick < 10 && digits > 0 ? digits : 0))}</text>`);
  }
  chart.bars.forEach((bar, index) => {
    const y = TOP + index * ROW;
    const end = x(bar.value);
    const color = COLORS[bar.group ?? 'peer'];
    out.push(`<g class="bar" data-label="${escapeXml(bar.label)}" data-value="${bar.value}">`);
    out.push(`<text x="${labelWidth - 10}" y="${y + 19}" text-anchor="end" fill="#1a1a1a">${escapeXml(bar.label)}</text>`);
    out.push(`<rect x="${labelWidth}" y="${y + 6}" width="${round(Math.max(1, end - labelWidth))}" height="${ROW - 12}" fill="${color}"/>`);
    let textX = end;
    if (bar.range !== undefined && bar.range[0] !== bar.range[1]) {
      const [low, high] = [x(bar.range[0]), x(bar.range[1])];
      const mid = y + ROW / 2;
      out.push(
        `<path d="M${round(low)} ${mid}H${round(high)}M${round(low)} ${mid - 5}V${mid + 5}M${round(high)} ${mid - 5}V${mid + 5}" stroke="#1a1a1a" stroke-width="1.2" fill="none"/>`,
      );
      textX = Math.max(textX, high);
    }
    out.push(`<text x="${round(textX + 8)}" y="${y + 19}" fill="#1a1a1a">${escapeXml(valueText(bar))}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
