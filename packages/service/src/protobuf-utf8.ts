import { isUtf8 } from 'node:buffer';
import type { PackageDefinition } from '@grpc/proto-loader';

// protobufjs decodes a string field's bytes leniently: invalid UTF-8 becomes U+FFFD, so a message
// holding Latin-1 text would be accepted with its text changed. proto3 requires strings to be UTF-8
// (Go's decoder refuses such messages); the service refuses them too, as its HTTP ingest refuses a
// body that is not UTF-8. This walks a decoded message's bytes once more, by its schema, and checks
// the bytes of each string field.

/** Where a message type's strings are, by field number: its string fields, and its message fields with their shapes. */
export interface StringShape {
  readonly strings: readonly boolean[];
  readonly messages: readonly (StringShape | undefined)[];
}

interface FieldDescriptor {
  readonly number: number;
  readonly type: string;
  readonly typeName: string;
}
interface MessageDescriptor {
  readonly name: string;
  readonly field: readonly FieldDescriptor[];
  readonly nestedType: readonly MessageDescriptor[];
}

/**
 * The string shape of message type `fullName` (e.g. `analytics.v1.TrackBatchRequest`) in a proto-loader
 * package definition, following message fields (recursive types share their shapes).
 */
export function stringShape(definition: PackageDefinition, fullName: string): StringShape {
  const descriptors = new Map<string, MessageDescriptor>();
  const add = (name: string, descriptor: MessageDescriptor): void => {
    descriptors.set(name, descriptor);
    for (const nested of descriptor.nestedType) add(`${name}.${nested.name}`, nested);
  };
  for (const [name, entry] of Object.entries(definition)) {
    const type = (entry as { type?: MessageDescriptor }).type;
    if (type !== undefined && Array.isArray(type.field)) add(name, type);
  }
  const shapes = new Map<string, { strings: boolean[]; messages: (StringShape | undefined)[] }>();
  const shapeOf = (name: string): StringShape => {
    let shape = shapes.get(name);
    if (shape !== undefined) return shape;
    const descriptor = descriptors.get(name);
    if (descriptor === undefined) throw new Error(`protobuf message type ${name} is not in the definition`);
    shape = { strings: [], messages: [] };
    shapes.set(name, shape);
    for (const field of descriptor.field) {
      if (field.type === 'TYPE_STRING') shape.strings[field.number] = true;
      else if (field.type === 'TYPE_MESSAGE') shape.messages[field.number] = shapeOf(resolve(name, field.typeName));
    }
    return shape;
  };
  /** A type name as written in a field of `scope`: nested in it, in an enclosing scope, or fully qualified. */
  const resolve = (scope: string, typeName: string): string => {
    const name = typeName.startsWith('.') ? typeName.slice(1) : typeName;
    for (let at = scope; at !== ''; at = at.includes('.') ? at.slice(0, at.lastIndexOf('.')) : '') {
      if (descriptors.has(`${at}.${name}`)) return `${at}.${name}`;
    }
    return name;
  };
  return shapeOf(fullName);
}

/**
 * True when a string field of the protobuf message `bytes` (of shape `shape`), at any depth, is not
 * valid UTF-8. For bytes that decoded: whatever does not parse here is left to the decoder's verdict.
 */
export function hasInvalidUtf8(bytes: Uint8Array, shape: StringShape): boolean {
  return walk(bytes, 0, bytes.length, shape, 0);
}

/** Nesting beyond this is not judged here: the decoder accepted it, and the validator bounds nesting. */
const MAX_DEPTH = 1000;

function walk(b: Uint8Array, start: number, end: number, shape: StringShape, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  let i = start;
  while (i < end) {
    // The tag; field numbers past 2^25 (4-byte tags and more) are no field of these messages: stop judging.
    let tag = b[i++]!;
    if (tag >= 0x80) {
      tag &= 0x7f;
      for (let shift = 7; ; shift += 7) {
        if (i >= end || shift > 21) return false;
        const byte = b[i++]!;
        tag |= (byte & 0x7f) << shift;
        if (byte < 0x80) break;
      }
    }
    const wireType = tag & 7;
    if (wireType === 0) {
      while (i < end && b[i++]! >= 0x80);
    } else if (wireType === 1) {
      i += 8;
    } else if (wireType === 5) {
      i += 4;
    } else if (wireType === 2) {
      // The length: at most 4 bytes (a message is far below 2^28 bytes).
      let length = 0;
      for (let shift = 0; ; shift += 7) {
        if (i >= end || shift > 21) return false;
        const byte = b[i++]!;
        length |= (byte & 0x7f) << shift;
        if (byte < 0x80) break;
      }
      const from = i;
      i += length;
      if (i > end) return false;
      const field = tag >>> 3;
      if (shape.strings[field] === true) {
        if (!isText(b, from, i)) return true;
      } else {
        const inner = shape.messages[field];
        if (inner !== undefined && walk(b, from, i, inner, depth + 1)) return true;
      }
    } else if (wireType !== 3 && wireType !== 4) {
      return false; // no such wire type: the decoder would have refused it
    }
  }
  return false;
}

/** True when `b[from..to)` is valid UTF-8: ASCII checked here (no allocation), the rest by `isUtf8`. */
function isText(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i]! >= 0x80) return isUtf8(b.subarray(i, to));
  return true;
}
