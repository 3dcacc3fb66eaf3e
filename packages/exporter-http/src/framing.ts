/** Where encoded texts go in a body: `open` + texts separated by `separator` + `close`. */
export interface Frame {
  readonly open: string;
  readonly separator: string;
  readonly close: string;
}

/**
 * Writes the parts into `buffer`; answers the bytes written, or -1 when `checked` and a part did not
 * fit whole. `buffer.write` stops before a character that does not fit, and no character takes more
 * than 4 bytes: a part can only have been cut when fewer than 4 bytes are left after it, so only
 * then is it measured.
 */
function writeFramed(buffer: Buffer, frame: Frame, texts: readonly string[], checked: boolean): number {
  let at = 0;
  const put = (text: string): boolean => {
    const n = buffer.write(text, at);
    at += n;
    return !checked || buffer.length - at >= 4 || n === Buffer.byteLength(text);
  };
  if (!put(frame.open)) return -1;
  for (let i = 0; i < texts.length; i++) {
    if (i > 0 && !put(frame.separator)) return -1;
    if (!put(texts[i] as string)) return -1;
  }
  return put(frame.close) ? at : -1;
}

/**
 * Writes `open + texts.join(separator) + close` as UTF-8 straight into one buffer of exactly its
 * size: no joined string, no slack, no copy. `bytes`, the texts' UTF-8 size, spares measuring them
 * when the caller counted it (the processor does, per event); a count that does not match the texts
 * is detected, and they are measured (`Buffer.byteLength`) and written again, so a batch that
 * miscounts cannot cut its body short or pad it.
 */
export function framed(frame: Frame, texts: readonly string[], bytes = -1): Buffer {
  const framing = Buffer.byteLength(frame.open) + Buffer.byteLength(frame.close) + Buffer.byteLength(frame.separator) * Math.max(0, texts.length - 1);
  if (bytes >= 0) {
    const buffer = Buffer.allocUnsafe(framing + bytes);
    if (writeFramed(buffer, frame, texts, true) === buffer.length) return buffer;
  }
  let size = framing;
  for (const text of texts) size += Buffer.byteLength(text);
  const buffer = Buffer.allocUnsafe(size);
  writeFramed(buffer, frame, texts, false);
  return buffer;
}
