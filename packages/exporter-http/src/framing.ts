/** Where encoded texts go in a body: `open` + texts separated by `separator` + `close`. */
export interface Frame {
  readonly open: string;
  readonly separator: string;
  readonly close: string;
}

/**
 * Writes `open + texts.join(separator) + close` as UTF-8 straight into one buffer: no joined string,
 * no second UTF-8 pass (about three times cheaper than `Buffer.from(parts.join(','))`). The buffer is
 * sized from the characters: exactly when `bytes` (the texts' UTF-8 size, when known) says the texts
 * are ASCII, else at the UTF-8 upper bound of 3 bytes per UTF-16 unit; a body that used less than half
 * of that is copied into a buffer of its own size, so that a batch waiting for a retry holds no slack.
 */
export function framed(frame: Frame, texts: readonly string[], bytes = -1): Buffer {
  let chars = 0;
  for (const text of texts) chars += text.length;
  const framing = frame.open.length + frame.close.length + frame.separator.length * Math.max(0, texts.length - 1);
  const capacity = framing * 3 + (bytes === chars ? chars : 3 * chars);
  const buffer = Buffer.allocUnsafe(capacity);
  let at = buffer.write(frame.open, 0);
  for (let i = 0; i < texts.length; i++) {
    if (i > 0) at += buffer.write(frame.separator, at);
    at += buffer.write(texts[i] as string, at);
  }
  at += buffer.write(frame.close, at);
  return at * 2 < capacity ? Buffer.from(buffer.subarray(0, at)) : buffer.subarray(0, at);
}
