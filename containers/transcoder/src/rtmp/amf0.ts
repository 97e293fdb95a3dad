// AMF0 (Adobe "Action Message Format -- AMF 0", 2007): the encoding of RTMP commands and
// onMetaData. Decoding is bounded in nesting depth and string size and fails with a typed error;
// the length fields of a hostile message can never make it allocate more than the message holds.

export const Amf0Marker = {
  NUMBER: 0x00,
  BOOLEAN: 0x01,
  STRING: 0x02,
  OBJECT: 0x03,
  MOVIECLIP: 0x04,
  NULL: 0x05,
  UNDEFINED: 0x06,
  REFERENCE: 0x07,
  ECMA_ARRAY: 0x08,
  OBJECT_END: 0x09,
  STRICT_ARRAY: 0x0a,
  DATE: 0x0b,
  LONG_STRING: 0x0c,
  UNSUPPORTED: 0x0d,
  RECORDSET: 0x0e,
  XML_DOCUMENT: 0x0f,
  TYPED_OBJECT: 0x10,
  AVMPLUS: 0x11,
} as const;

export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Amf0Object
  | Amf0EcmaArray
  | readonly Amf0Value[];

export interface Amf0Object {
  readonly [key: string]: Amf0Value;
}

/** An associative array ("ECMA array", marker 0x08); kept apart from objects so it round-trips. */
export class Amf0EcmaArray {
  readonly properties: Amf0Object;

  constructor(properties: Amf0Object) {
    this.properties = properties;
  }
}

export type Amf0DecodeErrorCode =
  | 'truncated'
  | 'unsupported_marker'
  | 'unknown_marker'
  | 'too_deep'
  | 'too_large';

export class Amf0DecodeError extends Error {
  override readonly name = 'Amf0DecodeError';
  readonly code: Amf0DecodeErrorCode;
  readonly offset: number;

  constructor(code: Amf0DecodeErrorCode, offset: number, message: string) {
    super(`${message} at offset ${offset}`);
    this.code = code;
    this.offset = offset;
  }
}

export interface Amf0DecodeOptions {
  /** Nesting of objects and arrays; default 16 (onMetaData needs 2). */
  maxDepth?: number;
  /** Bytes of a single string; default 1 MiB. */
  maxStringLength?: number;
}

const DEFAULT_MAX_DEPTH = 16;
const DEFAULT_MAX_STRING_LENGTH = 1024 * 1024;

/** Decodes every value in `buffer` back to back, as in a command or data message. */
export function decodeAmf0Values(buffer: Buffer, options: Amf0DecodeOptions = {}): Amf0Value[] {
  const decoder = new Amf0Decoder(buffer, options);
  const values: Amf0Value[] = [];
  while (decoder.offset < buffer.length) values.push(decoder.readValue(0));
  return values;
}

/** Decodes one value at `offset`; returns it with the offset after it. */
export function decodeAmf0Value(
  buffer: Buffer,
  offset = 0,
  options: Amf0DecodeOptions = {},
): { value: Amf0Value; offset: number } {
  const decoder = new Amf0Decoder(buffer, options, offset);
  const value = decoder.readValue(0);
  return { value, offset: decoder.offset };
}

class Amf0Decoder {
  readonly #buffer: Buffer;
  readonly #maxDepth: number;
  readonly #maxStringLength: number;
  offset: number;

  constructor(buffer: Buffer, options: Amf0DecodeOptions, offset = 0) {
    this.#buffer = buffer;
    this.#maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.#maxStringLength = options.maxStringLength ?? DEFAULT_MAX_STRING_LENGTH;
    this.offset = offset;
  }

  readValue(depth: number): Amf0Value {
    const markerOffset = this.offset;
    const marker = this.#readUInt8();
    switch (marker) {
      case Amf0Marker.NUMBER:
        return this.#readDouble();
      case Amf0Marker.BOOLEAN:
        return this.#readUInt8() !== 0;
      case Amf0Marker.STRING:
        return this.#readString(this.#readUInt16());
      case Amf0Marker.LONG_STRING:
        return this.#readString(this.#readUInt32());
      case Amf0Marker.NULL:
        return null;
      case Amf0Marker.UNDEFINED:
        return undefined;
      case Amf0Marker.OBJECT:
        return this.#readProperties(this.#enter(depth, markerOffset));
      case Amf0Marker.TYPED_OBJECT:
        // "class-name" then the properties: the class name carries nothing RTMP ingest needs.
        this.#readString(this.#readUInt16());
        return this.#readProperties(this.#enter(depth, markerOffset));
      case Amf0Marker.ECMA_ARRAY: {
        const nextDepth = this.#enter(depth, markerOffset);
        // The count is only a hint ("associative-count"); encoders are known to get it wrong, so
        // the object-end marker decides where the array stops.
        this.#readUInt32();
        return new Amf0EcmaArray(this.#readProperties(nextDepth));
      }
      case Amf0Marker.STRICT_ARRAY: {
        const nextDepth = this.#enter(depth, markerOffset);
        const count = this.#readUInt32();
        // Every element takes at least one byte: a larger count cannot be honest.
        if (count > this.#buffer.length - this.offset) {
          throw new Amf0DecodeError('truncated', markerOffset, `strict array of ${count} elements`);
        }
        const items: Amf0Value[] = [];
        for (let index = 0; index < count; index += 1) items.push(this.readValue(nextDepth));
        return items;
      }
      case Amf0Marker.DATE: {
        const time = this.#readDouble();
        // "time-zone = S16 ; reserved, not supported should be set to 0x0000"
        this.#readUInt16();
        return new Date(time);
      }
      case Amf0Marker.MOVIECLIP:
      case Amf0Marker.REFERENCE:
      case Amf0Marker.UNSUPPORTED:
      case Amf0Marker.RECORDSET:
      case Amf0Marker.XML_DOCUMENT:
      case Amf0Marker.AVMPLUS:
      case Amf0Marker.OBJECT_END:
        throw new Amf0DecodeError(
          'unsupported_marker',
          markerOffset,
          `unsupported AMF0 marker 0x${marker.toString(16)}`,
        );
      default:
        throw new Amf0DecodeError(
          'unknown_marker',
          markerOffset,
          `unknown AMF0 marker 0x${marker.toString(16)}`,
        );
    }
  }

  #enter(depth: number, markerOffset: number): number {
    if (depth + 1 > this.#maxDepth) {
      throw new Amf0DecodeError('too_deep', markerOffset, `nesting deeper than ${this.#maxDepth}`);
    }
    return depth + 1;
  }

  /** Properties until the empty key followed by the object-end marker. */
  #readProperties(depth: number): Amf0Object {
    const properties: Record<string, Amf0Value> = Object.create(null);
    for (;;) {
      const key = this.#readString(this.#readUInt16());
      if (key === '') {
        const markerOffset = this.offset;
        if (this.#readUInt8() === Amf0Marker.OBJECT_END) return properties;
        throw new Amf0DecodeError('unknown_marker', markerOffset, 'empty property name without object end');
      }
      properties[key] = this.readValue(depth);
    }
  }

  #need(size: number): void {
    if (this.offset + size > this.#buffer.length) {
      throw new Amf0DecodeError('truncated', this.offset, `needs ${size} more bytes`);
    }
  }

  #readUInt8(): number {
    this.#need(1);
    const value = this.#buffer.readUInt8(this.offset);
    this.offset += 1;
    return value;
  }

  #readUInt16(): number {
    this.#need(2);
    const value = this.#buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  #readUInt32(): number {
    this.#need(4);
    const value = this.#buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  #readDouble(): number {
    this.#need(8);
    const value = this.#buffer.readDoubleBE(this.offset);
    this.offset += 8;
    return value;
  }

  #readString(length: number): string {
    if (length > this.#maxStringLength) {
      throw new Amf0DecodeError('too_large', this.offset, `string of ${length} bytes`);
    }
    this.#need(length);
    const value = this.#buffer.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}

/** Encodes values back to back (a command is `encodeAmf0('_result', 1, {...}, {...})`). */
export function encodeAmf0(...values: readonly Amf0Value[]): Buffer {
  const parts: Buffer[] = [];
  for (const value of values) writeValue(parts, value);
  return Buffer.concat(parts);
}

function writeValue(parts: Buffer[], value: Amf0Value): void {
  if (typeof value === 'number') {
    const bytes = Buffer.alloc(9);
    bytes[0] = Amf0Marker.NUMBER;
    bytes.writeDoubleBE(value, 1);
    parts.push(bytes);
  } else if (typeof value === 'boolean') {
    parts.push(Buffer.from([Amf0Marker.BOOLEAN, value ? 1 : 0]));
  } else if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    if (text.length > 0xffff) {
      const header = Buffer.alloc(5);
      header[0] = Amf0Marker.LONG_STRING;
      header.writeUInt32BE(text.length, 1);
      parts.push(header, text);
    } else {
      parts.push(Buffer.from([Amf0Marker.STRING]), createUtf8(text));
    }
  } else if (value === null) {
    parts.push(Buffer.from([Amf0Marker.NULL]));
  } else if (value === undefined) {
    parts.push(Buffer.from([Amf0Marker.UNDEFINED]));
  } else if (value instanceof Date) {
    const bytes = Buffer.alloc(11);
    bytes[0] = Amf0Marker.DATE;
    bytes.writeDoubleBE(value.getTime(), 1);
    parts.push(bytes);
  } else if (value instanceof Amf0EcmaArray) {
    const header = Buffer.alloc(5);
    header[0] = Amf0Marker.ECMA_ARRAY;
    header.writeUInt32BE(writableKeys(value.properties).length, 1);
    parts.push(header);
    writeProperties(parts, value.properties);
  } else if (isAmf0Array(value)) {
    const header = Buffer.alloc(5);
    header[0] = Amf0Marker.STRICT_ARRAY;
    header.writeUInt32BE(value.length, 1);
    parts.push(header);
    for (const item of value) writeValue(parts, item);
  } else {
    parts.push(Buffer.from([Amf0Marker.OBJECT]));
    writeProperties(parts, value);
  }
}

/**
 * "object-property = (UTF-8 value-type) | (UTF-8-empty object-end-marker)" (AMF0, 2.5): an empty
 * name ends the object, so a property named '' cannot be written and is left out (found by the
 * fuzz suite: writing it made an encoding our own decoder refuses).
 */
function writableKeys(properties: Amf0Object): string[] {
  return Object.keys(properties).filter((key) => key !== '');
}

function writeProperties(parts: Buffer[], properties: Amf0Object): void {
  for (const key of writableKeys(properties)) {
    parts.push(createUtf8(Buffer.from(key, 'utf8')));
    writeValue(parts, properties[key]);
  }
  parts.push(Buffer.from([0, 0, Amf0Marker.OBJECT_END]));
}

/** UTF-8 with its 16-bit length ("UTF-8 = U16 *(UTF8-char)"). */
function createUtf8(text: Buffer): Buffer {
  if (text.length > 0xffff) throw new RangeError('AMF0 short string longer than 65535 bytes');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(text.length, 0);
  return Buffer.concat([length, text]);
}

/** The properties of an object or ECMA array, or null for anything else. */
export function getAmf0Properties(value: Amf0Value): Amf0Object | null {
  if (value instanceof Amf0EcmaArray) return value.properties;
  if (value === null || typeof value !== 'object' || value instanceof Date || isAmf0Array(value)) return null;
  return value;
}

/** Array.isArray does not narrow a readonly array type out of a union; this guard does. */
function isAmf0Array(value: Amf0Value): value is readonly Amf0Value[] {
  return Array.isArray(value);
}
