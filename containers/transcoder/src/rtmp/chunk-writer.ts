// Splits RTMP messages into chunks (RTMP 1.0 spec, section 5.3). The first chunk of a message
// uses the most compact header the previous message on the same chunk stream allows (fmt 0, 1,
// 2 or 3); the rest are fmt 3 continuations.
import { DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP_MARKER, MAX_CHUNK_SIZE } from './chunk-reader.ts';
import type { RtmpMessage } from './messages.ts';

export interface ChunkWriterOptions {
  /** Reuse the previous header on a chunk stream (fmt 1–3) where possible; default true. */
  compressHeaders?: boolean;
}

interface WrittenState {
  timestamp: number;
  timestampField: number;
  length: number;
  type: number;
  streamId: number;
}

export class ChunkWriter {
  readonly #compressHeaders: boolean;
  readonly #streams = new Map<number, WrittenState>();
  #chunkSize = DEFAULT_CHUNK_SIZE;

  constructor(options: ChunkWriterOptions = {}) {
    this.#compressHeaders = options.compressHeaders ?? true;
  }

  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Call right after writing the Set Chunk Size message: chunks after it use the new size. */
  setChunkSize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
      throw new RangeError(`invalid chunk size ${size}`);
    }
    this.#chunkSize = size;
  }

  write(message: RtmpMessage): Buffer {
    const { csid, type, streamId, payload } = message;
    if (!Number.isInteger(csid) || csid < 2 || csid > 65599)
      throw new RangeError(`invalid chunk stream id ${csid}`);
    const timestamp = message.timestamp >>> 0;
    const previous = this.#compressHeaders ? this.#streams.get(csid) : undefined;

    let fmt: 0 | 1 | 2 | 3 = 0;
    let timestampField = timestamp;
    if (previous !== undefined && previous.streamId === streamId && timestamp >= previous.timestamp) {
      const delta = timestamp - previous.timestamp;
      timestampField = delta;
      const sameShape = previous.length === payload.length && previous.type === type;
      if (sameShape && delta === previous.timestampField) fmt = 3;
      else if (sameShape) fmt = 2;
      else fmt = 1;
    }
    this.#streams.set(csid, { timestamp, timestampField, length: payload.length, type, streamId });

    const extended = timestampField >= EXTENDED_TIMESTAMP_MARKER;
    const parts: Buffer[] = [createFirstHeader(fmt, csid, timestampField, extended, message)];
    let offset = 0;
    do {
      const end = Math.min(offset + this.#chunkSize, payload.length);
      if (offset > 0) parts.push(createContinuationHeader(csid, timestampField, extended));
      parts.push(payload.subarray(offset, end));
      offset = end;
    } while (offset < payload.length);
    return Buffer.concat(parts);
  }
}

function createBasicHeader(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  const value = csid - 64;
  return Buffer.from([(fmt << 6) | 1, value & 0xff, value >> 8]);
}

function createFirstHeader(
  fmt: 0 | 1 | 2 | 3,
  csid: number,
  timestampField: number,
  extended: boolean,
  message: RtmpMessage,
): Buffer {
  const basic = createBasicHeader(fmt, csid);
  const header = Buffer.alloc([11, 7, 3, 0][fmt] ?? 0);
  if (fmt <= 2) header.writeUIntBE(extended ? EXTENDED_TIMESTAMP_MARKER : timestampField, 0, 3);
  if (fmt <= 1) {
    header.writeUIntBE(message.payload.length, 3, 3);
    header.writeUInt8(message.type, 6);
  }
  if (fmt === 0) header.writeUInt32LE(message.streamId >>> 0, 7);
  return Buffer.concat([basic, header, createExtendedTimestamp(timestampField, extended)]);
}

/** Continuations repeat the extended timestamp, as the reader expects (and ffmpeg writes). */
function createContinuationHeader(csid: number, timestampField: number, extended: boolean): Buffer {
  return Buffer.concat([createBasicHeader(3, csid), createExtendedTimestamp(timestampField, extended)]);
}

function createExtendedTimestamp(timestampField: number, extended: boolean): Buffer {
  if (!extended) return Buffer.alloc(0);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(timestampField >>> 0, 0);
  return bytes;
}
