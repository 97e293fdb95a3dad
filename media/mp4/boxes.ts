// ISO-BMFF (ISO/IEC 14496-12) boxes on plain bytes, for every runtime: the one box walker the
// transcoder's packager (an incremental reader over a pipe) and the Worker (clips, VOD
// finalizing) share. Pure TypeScript on Uint8Array/DataView: no Node Buffer, no Workers API.

/** A box larger than this is treated as corrupt input: a 200 ms part is a few hundred KiB at most. */
export const DEFAULT_MAX_BOX_SIZE = 32 * 1024 * 1024;

export class BoxFormatError extends Error {
  override readonly name = 'BoxFormatError';
}

/** A box inside a byte array, by offsets into that array. */
export interface Box {
  type: string;
  /** Offset of the box's first byte (its size field). */
  start: number;
  /** Whole box, header included. */
  size: number;
  /** Offset of the payload (after size, type and any largesize). */
  payload: number;
}

/** A top-level box cut out of a stream: its own bytes, offsets relative to them (start 0). */
export interface OwnedBox extends Box {
  bytes: Uint8Array;
  /** Offset of the payload inside `bytes` (8, or 16 for a 64-bit size). */
  headerSize: number;
}

const latin1 = new TextDecoder('latin1');

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A 64-bit field as a number: media times of a stream, or a box size, stay far below 2^53. */
export function readUint64(data: DataView, offset: number): number {
  return data.getUint32(offset) * 2 ** 32 + data.getUint32(offset + 4);
}

export function writeUint64(data: DataView, offset: number, value: number): void {
  data.setUint32(offset, Math.floor(value / 2 ** 32));
  data.setUint32(offset + 4, value % 2 ** 32);
}

export function readFourCc(bytes: Uint8Array, offset: number): string {
  return latin1.decode(bytes.subarray(offset, offset + 4));
}

/** The boxes between `from` and `to`; throws BoxFormatError on a box that overruns its parent. */
export function readBoxes(bytes: Uint8Array, from = 0, to = bytes.byteLength): Box[] {
  const data = viewOf(bytes);
  const boxes: Box[] = [];
  let offset = from;
  while (offset + 8 <= to) {
    let size = data.getUint32(offset);
    const type = readFourCc(bytes, offset + 4);
    let payload = offset + 8;
    if (size === 1) {
      if (offset + 16 > to) throw new BoxFormatError(`truncated 64-bit size in ${type} at ${offset}`);
      size = readUint64(data, offset + 8);
      payload += 8;
    } else if (size === 0) {
      // "if size is 0, then this box is the last one in the file" (14496-12 4.2).
      size = to - offset;
    }
    if (size < payload - offset || offset + size > to)
      throw new BoxFormatError(`box ${type} overruns its parent at ${offset}`);
    boxes.push({ type, start: offset, size, payload });
    offset += size;
  }
  return boxes;
}

/** The children of `parent`, starting `skip` bytes into its payload (full-box fields, entry counts). */
export function readChildren(bytes: Uint8Array, parent: Box, skip = 0): Box[] {
  return readBoxes(bytes, parent.payload + skip, parent.start + parent.size);
}

export function findChild(bytes: Uint8Array, parent: Box, type: string, skip = 0): Box | undefined {
  return readChildren(bytes, parent, skip).find((b) => b.type === type);
}

export function requireChild(bytes: Uint8Array, parent: Box, type: string): Box {
  const box = findChild(bytes, parent, type);
  if (box === undefined) throw new BoxFormatError(`${parent.type} has no ${type}`);
  return box;
}

/** The bytes of a box, copied out of its array. */
export function copyBox(bytes: Uint8Array, box: Box): Uint8Array {
  return bytes.slice(box.start, box.start + box.size);
}

/** A box of `type` around `parts`, its size computed. */
export function writeBox(type: string, parts: readonly Uint8Array[]): Uint8Array {
  const size = 8 + parts.reduce((sum, p) => sum + p.byteLength, 0);
  const out = new Uint8Array(size);
  viewOf(out).setUint32(0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let offset = 8;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * Cuts complete top-level boxes out of a byte stream fed in arbitrary chunks (the packager's pipe).
 * Holds at most one box's bytes (bounded by maxBoxSize) plus the chunk being fed.
 */
export class BoxReader {
  readonly #maxBoxSize: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(options: { maxBoxSize?: number | undefined } = {}) {
    this.#maxBoxSize = options.maxBoxSize ?? DEFAULT_MAX_BOX_SIZE;
  }

  /** Bytes received but not yet part of a complete box. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Adds bytes and returns every box they complete, in stream order. */
  push(chunk: Uint8Array): OwnedBox[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.byteLength;
    }
    const boxes: OwnedBox[] = [];
    for (;;) {
      const header = this.#peekHeader();
      if (header === null || this.#buffered < header.size) return boxes;
      const bytes = this.#take(header.size);
      boxes.push({
        type: header.type,
        bytes,
        headerSize: header.headerSize,
        start: 0,
        size: header.size,
        payload: header.headerSize,
      });
    }
  }

  #peekHeader(): { size: number; type: string; headerSize: number } | null {
    if (this.#buffered < 8) return null;
    const head = this.#peek(Math.min(16, this.#buffered));
    const data = viewOf(head);
    const size32 = data.getUint32(0);
    const type = readFourCc(head, 4);
    let size = size32;
    let headerSize = 8;
    if (size32 === 1) {
      if (head.byteLength < 16) return null;
      size = readUint64(data, 8);
      headerSize = 16;
    } else if (size32 === 0) {
      // "size is 0, then this box is the last one in the file": unbounded, so unusable on a live pipe.
      throw new BoxFormatError(`box ${type} extends to end of stream, which a live pipe cannot have`);
    }
    if (size < headerSize) throw new BoxFormatError(`box ${type} has an impossible size ${size}`);
    if (size > this.#maxBoxSize) throw new BoxFormatError(`box ${type} too large: ${size} bytes`);
    return { size, type, headerSize };
  }

  #peek(length: number): Uint8Array {
    const first = this.#chunks[0];
    if (first !== undefined && first.byteLength >= length) return first.subarray(0, length);
    return concatBytes(this.#chunks).subarray(0, length);
  }

  #take(length: number): Uint8Array {
    const all = this.#chunks.length === 1 ? (this.#chunks[0] ?? new Uint8Array()) : concatBytes(this.#chunks);
    // A copy: the caller keeps the box, the pipe's chunk buffers are reused.
    const taken = all.slice(0, length);
    const rest = all.subarray(length);
    this.#chunks = rest.byteLength > 0 ? [rest] : [];
    this.#buffered = rest.byteLength;
    return taken;
  }
}
