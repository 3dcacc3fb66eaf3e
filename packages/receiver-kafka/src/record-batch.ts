// A decoder of Kafka record batches (magic 2) for the receiver's consumers, in place of kafkajs 2.2.4's
// (`protocol/recordBatch/v0/decoder` and its record decoder). It gives kafkajs the same records
// (offsets and timestamps as decimal strings, key and value as Buffers, headers as an object, the
// batch's context), for about a fifth of kafkajs's cost: kafkajs parses the batch's first offset and
// timestamp from their strings again for every record, adds 64-bit `Long`s, builds a decoder object
// per record and spreads the headers object again for each header (quadratic in their number: one
// record of 20 000 headers held the event loop for 70 s). Here a record's fields are read in place,
// with integer arithmetic while it is exact (BigInt past 2^53), and the headers in one pass.
//
// It is stricter than kafkajs where kafkajs reads garbage: a batch whose magic byte is not 2, a
// record that runs past its batch, a field that runs past its record, a record whose fields do not
// fill its length exactly (what the Java client refuses too, as it does the magic byte), a negative
// length other than -1 (null) throw, and the caller turns the batch into one `corrupt` marker.

/** What kafkajs's batch decoder shares with each record of a batch (`batchContext`), as kafkajs builds it. */
export interface RecordBatchContext {
  readonly firstOffset: string;
  readonly firstTimestamp: string;
  readonly partitionLeaderEpoch: number;
  readonly inTransaction: boolean;
  readonly isControlBatch: boolean;
  readonly lastOffsetDelta: number;
  readonly producerId: string;
  readonly producerEpoch: number;
  readonly firstSequence: number;
  readonly maxTimestamp: string;
  readonly timestampType: number;
  readonly magicByte: number;
}

/** A record's header values as kafkajs gives them: one header, its value; a repeated one, the list of its values. */
export type DecodedHeaders = Record<string, Buffer | null | (Buffer | null)[]>;

/**
 * A record as kafkajs's decoder gives it. `key`, `headers` and `timestamp` are read from the batch's
 * bytes when first asked for (the receiver asks for one header, through {@link header}, and never for
 * the key or the timestamp); the rest is read at once.
 */
export class DecodedRecord {
  readonly magicByte: number;
  readonly isControlRecord: boolean;
  readonly attributes: number;
  readonly offset: string;
  readonly value: Buffer | null;
  readonly batchContext: RecordBatchContext;
  // Where the lazy fields are read from (private: a spread or an inspection of the record shows kafkajs's fields only).
  readonly #buf: Buffer;
  /** Where its key's length starts. */
  readonly #keyAt: number;
  /** Where its header count starts. */
  readonly #headersAt: number;
  /** Where the record ends: no lazy read goes past it. */
  readonly #end: number;
  readonly #timestampDelta: number | bigint;
  readonly #firstTimestamp: bigint;
  #key: Buffer | null | undefined;
  #headers: DecodedHeaders | undefined;
  #timestamp: string | undefined;

  /** Called by {@link decodeRecordBatch} only (positional: one object per record, no more). */
  constructor(
    attributes: number,
    offset: string,
    value: Buffer | null,
    batchContext: RecordBatchContext,
    buf: Buffer,
    keyAt: number,
    headersAt: number,
    end: number,
    timestampDelta: number | bigint,
    firstTimestamp: bigint,
  ) {
    this.magicByte = batchContext.magicByte;
    this.attributes = attributes;
    this.offset = offset;
    this.value = value;
    this.isControlRecord = batchContext.isControlBatch;
    this.batchContext = batchContext;
    this.#buf = buf;
    this.#keyAt = keyAt;
    this.#headersAt = headersAt;
    this.#end = end;
    this.#timestampDelta = timestampDelta;
    this.#firstTimestamp = firstTimestamp;
  }

  get key(): Buffer | null {
    if (this.#key === undefined) this.#key = new Reader(this.#buf, this.#keyAt, this.#end).bytes();
    return this.#key;
  }

  get timestamp(): string {
    const context = this.batchContext;
    this.#timestamp ??= context.timestampType === LOG_APPEND_TIME ? context.maxTimestamp : plus(this.#firstTimestamp, exact(this.#firstTimestamp), this.#timestampDelta);
    return this.#timestamp;
  }

  get headers(): DecodedHeaders {
    if (this.#headers !== undefined) return this.#headers;
    const headers: DecodedHeaders = {};
    const reader = new Reader(this.#buf, this.#headersAt, this.#end);
    const count = reader.varint();
    for (let h = 0; h < count; h++) {
      const name = String(reader.string());
      const next = joined(Object.hasOwn(headers, name) ? headers[name] : undefined, reader.bytes());
      // An own property whatever its name (`__proto__` as well), as kafkajs's object spread gives it.
      if (name === '__proto__') Object.defineProperty(headers, name, { value: next, writable: true, enumerable: true, configurable: true });
      else headers[name] = next;
    }
    this.#headers = headers;
    return headers;
  }

  /**
   * One header's value, as `headers[name]` gives it (undefined when absent), without building the
   * headers object when `name` is ASCII (compared with the names' bytes; any other name is looked up
   * in the headers object, whose names are the bytes decoded as UTF-8).
   */
  header(name: string): Buffer | null | (Buffer | null)[] | undefined {
    if (this.#headers !== undefined || !isAscii(name)) {
      const headers = this.headers;
      return Object.hasOwn(headers, name) ? headers[name] : undefined;
    }
    const buf = this.#buf;
    const reader = new Reader(buf, this.#headersAt, this.#end);
    const count = reader.varint();
    let found: Buffer | null | (Buffer | null)[] | undefined;
    for (let h = 0; h < count; h++) {
      const at = reader.skip();
      // A header without a name (-1) is `headers.null`, as kafkajs names it.
      let same = at === -1 ? name === 'null' : reader.pos - at === name.length;
      if (at !== -1) for (let i = 0; same && i < name.length; i++) same = buf[at + i] === name.charCodeAt(i);
      const value = reader.bytes();
      if (same) found = joined(found, value);
    }
    return found;
  }
}

/** A compression codec as kafkajs's table holds them. */
export interface RecordsCodec {
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** Bytes of a batch's header from its first offset up to and including the record count. */
const BATCH_HEADER_BYTES = 61;
/** The record-batch format (magic 2, Kafka 0.11+), the only one read here. */
export const MAGIC_V2 = 2;
/** Where the magic byte is, in a batch and in the older messages alike. */
export const MAGIC_OFFSET = 16;
const TIMESTAMP_TYPE_FLAG = 0x08;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;
/** kafkajs's `TimestampTypes`. */
const CREATE_TIME = 0;
const LOG_APPEND_TIME = 1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A cursor over one buffer, bounded by `end`; every read past it throws. */
class Reader {
  pos: number;
  end: number;
  constructor(
    readonly buf: Buffer,
    pos: number,
    end: number,
  ) {
    this.pos = pos;
    this.end = end;
  }

  /** A zigzag varint of at most 5 bytes, as kafkajs's `readVarInt` (32-bit). */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= this.end) throw new Error('a record runs past its end (varint)');
      if (shift > 28) throw new Error('a varint is longer than 5 bytes');
      const byte = buf[pos++]!;
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    this.pos = pos;
    return (value >>> 1) ^ -(value & 1);
  }

  /** A zigzag varlong of at most 10 bytes, as kafkajs's `readVarLong`: a number when exact, else a BigInt. */
  varlong(): number | bigint {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    let shift = 0;
    // Seven bytes (49 bits) add up exactly in a double; a longer one is read again as a BigInt.
    for (; shift < 49; shift += 7) {
      if (pos >= this.end) throw new Error('a record runs past its end (varlong)');
      const byte = buf[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        this.pos = pos;
        return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      }
    }
    let big = BigInt(value);
    for (; ; shift += 7) {
      if (shift > 63) throw new Error('a varlong is longer than 10 bytes');
      if (pos >= this.end) throw new Error('a record runs past its end (varlong)');
      const byte = buf[pos++]!;
      big |= BigInt(byte & 0x7f) << BigInt(shift);
      if (byte < 0x80) break;
    }
    this.pos = pos;
    // As kafkajs: no wrap to 64 bits (a tenth byte can carry bits past them).
    return (big >> 1n) ^ -(big & 1n);
  }

  /** Moves past a length-prefixed field; where it starts, or -1 for null (length -1). */
  skip(): number {
    const length = this.varint();
    if (length === -1) return -1;
    if (length < 0 || length > this.end - this.pos) throw new Error('a record field runs past its record');
    const start = this.pos;
    this.pos += length;
    return start;
  }

  /** A length-prefixed byte string (-1: null), sharing the buffer's memory as kafkajs's slices do. */
  bytes(): Buffer | null {
    const start = this.skip();
    return start === -1 ? null : this.buf.subarray(start, this.pos);
  }

  /** A length-prefixed UTF-8 string (-1: null). */
  string(): string | null {
    const start = this.skip();
    return start === -1 ? null : this.buf.toString('utf8', start, this.pos);
  }
}

/** `base + delta` as kafkajs's `Long.add(...).toString()` gives it (kafkajs's `Long` is a BigInt: it does not wrap). */
function plus(base: bigint, baseNumber: number | undefined, delta: number | bigint): string {
  if (baseNumber !== undefined && typeof delta === 'number') {
    const sum = baseNumber + delta;
    if (Number.isSafeInteger(sum)) return String(sum);
  }
  return (base + BigInt(delta)).toString();
}

/** A header's values with one more, as kafkajs gives them: the value alone, then the list of them. */
function joined(current: Buffer | null | (Buffer | null)[] | undefined, value: Buffer | null): Buffer | null | (Buffer | null)[] {
  if (current === undefined) return value;
  if (!Array.isArray(current)) return [current, value];
  current.push(value);
  return current;
}

/** True when every character of `text` is ASCII (its UTF-8 bytes are its char codes). */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The value as a number when it is one exactly. */
function exact(value: bigint): number | undefined {
  return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : undefined;
}

/**
 * Decodes the record batch (magic 2) at `at` in `bytes`, whose whole length (12 + its length field)
 * the caller checked is there. `codecFor(attributes)` is kafkajs's `lookupCodecByAttributes` (null:
 * not compressed). Throws on a batch it cannot read.
 */
export async function decodeRecordBatch(bytes: Buffer, at: number, codecFor: (attributes: number) => RecordsCodec | null): Promise<DecodedRecord[]> {
  const end = at + 12 + bytes.readInt32BE(at + 8);
  if (end - at < BATCH_HEADER_BYTES || end > bytes.length) throw new Error('a record batch is shorter than its header');
  // kafkajs reads any as 2; the Java client refuses it (what follows may be any format, or none).
  const magicByte = bytes.readInt8(at + MAGIC_OFFSET);
  if (magicByte !== MAGIC_V2) throw new Error(`a record batch's magic byte is ${magicByte}, not ${MAGIC_V2}`);
  const firstOffset = bytes.readBigInt64BE(at);
  const attributes = bytes.readInt16BE(at + 21);
  const firstTimestamp = bytes.readBigInt64BE(at + 27);
  const maxTimestamp = bytes.readBigInt64BE(at + 35).toString();
  const timestampType = (attributes & TIMESTAMP_TYPE_FLAG) > 0 ? LOG_APPEND_TIME : CREATE_TIME;
  const context: RecordBatchContext = {
    firstOffset: firstOffset.toString(),
    firstTimestamp: firstTimestamp.toString(),
    partitionLeaderEpoch: bytes.readInt32BE(at + 12),
    inTransaction: (attributes & TRANSACTIONAL_FLAG) > 0,
    isControlBatch: (attributes & CONTROL_FLAG) > 0,
    lastOffsetDelta: bytes.readInt32BE(at + 23),
    producerId: bytes.readBigInt64BE(at + 43).toString(),
    producerEpoch: bytes.readInt16BE(at + 51),
    firstSequence: bytes.readInt32BE(at + 53),
    maxTimestamp,
    timestampType,
    magicByte,
  };
  const count = bytes.readInt32BE(at + 57);
  const codec = codecFor(attributes);
  let reader: Reader;
  if (codec === null) {
    if (count === -1) return [];
    reader = new Reader(bytes, at + BATCH_HEADER_BYTES, end);
  } else {
    if (count <= 0) return [];
    const records = await codec.decompress(bytes.subarray(at + BATCH_HEADER_BYTES, end));
    reader = new Reader(records, 0, records.length);
  }
  // Every record takes at least 7 bytes: a count past that is damage, not a reason to allocate.
  if (count < 0 || count > (reader.end - reader.pos) / 7) throw new Error(`a record batch claims ${count} records in ${reader.end - reader.pos} bytes`);
  const offsetBase = exact(firstOffset);
  const limit = reader.end;
  const out = new Array<DecodedRecord>(count);
  for (let i = 0; i < count; i++) {
    const length = reader.varint();
    if (length < 0 || length > limit - reader.pos) throw new Error('a record runs past its batch');
    const recordEnd = reader.pos + length;
    reader.end = recordEnd;
    if (reader.pos >= recordEnd) throw new Error('a record runs past its end (attributes)');
    const recordAttributes = reader.buf.readInt8(reader.pos++);
    const timestampDelta = reader.varlong();
    const offsetDelta = reader.varint();
    const keyAt = reader.pos;
    reader.skip();
    const value = reader.bytes();
    const headersAt = reader.pos;
    const headerCount = reader.varint();
    if (headerCount < -1) throw new Error(`a record claims ${headerCount} headers`);
    for (let h = 0; h < headerCount; h++) {
      reader.skip();
      reader.skip();
    }
    if (reader.pos !== recordEnd) throw new Error(`a record's fields take ${reader.pos - recordEnd + length} of its ${length} bytes`);
    reader.end = limit;
    out[i] = new DecodedRecord(recordAttributes, plus(firstOffset, offsetBase, offsetDelta), value, context, reader.buf, keyAt, headersAt, recordEnd, timestampDelta, firstTimestamp);
  }
  return out;
}
