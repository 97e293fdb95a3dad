// Reassembles RTMP messages from the chunk stream (RTMP 1.0 spec, section 5.3), fed incrementally.
// Each message is reassembled into one buffer allocated when its first chunk header states its
// length, so a message costs its length and nothing per chunk: a peer that sets a 1-byte chunk
// size gets no per-chunk objects out of us (issue 10, finding 2: about 100 bytes of heap per
// payload byte when every chunk was kept as its own Buffer). What the reader holds (those buffers,
// a partial chunk header of at most 18 bytes, a fixed cost per chunk stream) is counted against a
// cap, and the caps can be raised once a publish is authorized (docs/security.md).
import { MessageType, type RtmpMessage } from './messages.ts';

/** "The maximum chunk size defaults to 128 bytes, but the client or the server can change this value". */
export const DEFAULT_CHUNK_SIZE = 128;
/** "Valid sizes are 1 to 2147483647 (0x7FFFFFFF) inclusive"; "The first bit MUST be zero." */
export const MAX_CHUNK_SIZE = 0x7fffffff;
/** "The timestamp field [...] If the timestamp is greater than or equal to 16777215 (hexadecimal 0xFFFFFF), this field MUST be 16777215, indicating the presence of the Extended Timestamp field". */
export const EXTENDED_TIMESTAMP_MARKER = 0xffffff;
/** A 4K keyframe at a high bitrate is a few MiB; anything past this is hostile or broken. */
export const DEFAULT_MAX_MESSAGE_LENGTH = 8 * 1024 * 1024;
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** OBS and ffmpeg use a handful of chunk streams; thousands would only cost memory. */
export const DEFAULT_MAX_CHUNK_STREAMS = 64;
/** What one chunk stream's state costs us (the object and its fields), counted as held bytes. */
export const CHUNK_STREAM_STATE_BYTES = 160;
/**
 * The smallest Window Acknowledgement Size honoured: at most one Acknowledgement (16 bytes on the
 * wire) per 64 KiB received, whatever the peer asks for.
 */
export const MIN_WINDOW_ACK_SIZE = 64 * 1024;

/** fmt 0..3 carry 11, 7, 3 and 0 bytes of message header. */
const MESSAGE_HEADER_SIZES = [11, 7, 3, 0] as const;

export type ChunkStreamErrorCode =
  | 'invalid_chunk_size'
  | 'message_too_large'
  | 'no_previous_header'
  | 'unexpected_header'
  | 'buffer_limit'
  | 'too_many_chunk_streams'
  | 'invalid_control_message';

export class ChunkStreamError extends Error {
  override readonly name = 'ChunkStreamError';
  readonly code: ChunkStreamErrorCode;

  constructor(code: ChunkStreamErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface ChunkReaderOptions {
  maxMessageLength?: number;
  maxBufferedBytes?: number;
  maxChunkStreams?: number;
  /** The smallest Set Chunk Size accepted; default 1 (any valid size). */
  minChunkSize?: number;
}

interface ChunkStreamState {
  readonly csid: number;
  timestamp: number;
  /** The last timestamp or delta field as sent; a fmt 3 chunk that starts a message adds it again. */
  timestampField: number;
  length: number;
  type: number;
  streamId: number;
  hasExtendedTimestamp: boolean;
  /** The message being reassembled: allocated at its first chunk, `length` bytes exactly. */
  payload: Buffer;
  received: number;
  inProgress: boolean;
}

const EMPTY = Buffer.alloc(0);

export class ChunkReader {
  #maxMessageLength: number;
  #maxBufferedBytes: number;
  #minChunkSize: number;
  readonly #maxChunkStreams: number;
  readonly #streams = new Map<number, ChunkStreamState>();
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #headerPending: Buffer = EMPTY;
  /** The chunk whose payload is being read, and the bytes of it still to come. */
  #current: ChunkStreamState | null = null;
  #currentRemaining = 0;
  #bufferedBytes = 0;
  #bytesReceived = 0;
  #windowAckSize = 0;
  #lastAcknowledged = 0;
  #failed = false;

  constructor(options: ChunkReaderOptions = {}) {
    this.#maxMessageLength = options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#minChunkSize = options.minChunkSize ?? 1;
    this.#maxChunkStreams = options.maxChunkStreams ?? DEFAULT_MAX_CHUNK_STREAMS;
  }

  get chunkSize(): number {
    return this.#chunkSize;
  }

  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Bytes held: unfinished messages' buffers, a partial header, chunk stream states. */
  get bufferedBytes(): number {
    return this.#bufferedBytes + this.#headerPending.length + this.#streams.size * CHUNK_STREAM_STATE_BYTES;
  }

  /**
   * Changes the message and buffer caps from the next chunk header on (a connection raises them
   * once its publish is authorized). Messages already in progress keep what they allocated.
   */
  setLimits(limits: { maxMessageLength: number; maxBufferedBytes: number; minChunkSize: number }): void {
    this.#maxMessageLength = limits.maxMessageLength;
    this.#maxBufferedBytes = limits.maxBufferedBytes;
    this.#minChunkSize = limits.minChunkSize;
  }

  /**
   * Consumes bytes (copied into the messages they belong to: the caller may reuse them) and returns the
   * messages they completed, in order. Set Chunk Size, Abort and Window Acknowledgement Size are
   * applied here, as soon as they complete, because they change how the following bytes parse.
   * Throws ChunkStreamError on a protocol violation; the reader is then unusable.
   */
  push(bytes: Buffer): RtmpMessage[] {
    if (this.#failed) throw new ChunkStreamError('unexpected_header', 'the chunk stream already failed');
    try {
      return this.#consume(bytes);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  /**
   * "The client or the server MUST send an acknowledgment to the peer after receiving bytes equal
   * to the window size."
   * Returns the sequence number (bytes received so far) when one is due, else null.
   */
  takeAcknowledgement(): number | null {
    if (this.#windowAckSize <= 0) return null;
    if (this.#bytesReceived - this.#lastAcknowledged < this.#windowAckSize) return null;
    this.#lastAcknowledged = this.#bytesReceived;
    return this.#bytesReceived % 2 ** 32;
  }

  #consume(bytes: Buffer): RtmpMessage[] {
    this.#bytesReceived += bytes.length;
    const messages: RtmpMessage[] = [];
    let input = bytes;
    if (this.#headerPending.length > 0) {
      input = Buffer.concat([this.#headerPending, bytes]);
      this.#headerPending = EMPTY;
    }
    let offset = 0;
    while (offset < input.length) {
      if (this.#current === null) {
        const next = this.#readHeader(input, offset);
        if (next === null) {
          this.#headerPending = Buffer.from(input.subarray(offset));
          break;
        }
        offset = next;
      } else {
        const state = this.#current;
        const take = Math.min(this.#currentRemaining, input.length - offset);
        input.copy(state.payload, state.received, offset, offset + take);
        state.received += take;
        this.#currentRemaining -= take;
        offset += take;
      }
      const state = this.#current;
      if (state !== null && this.#currentRemaining === 0) {
        this.#current = null;
        if (state.received === state.length) {
          const message = this.#completeMessage(state);
          messages.push(message);
          this.#applyControlMessage(message);
        }
      }
    }
    return messages;
  }

  /** Parses one chunk header at `offset`; returns the offset after it, or null if incomplete. */
  #readHeader(input: Buffer, offset: number): number | null {
    const available = input.length - offset;
    const first = input.readUInt8(offset);
    const fmt = first >> 6;
    let csid = first & 0x3f;
    let position = offset + 1;
    // "Chunk stream IDs 2-63 can be encoded in the 1-byte version [...] Value 0 indicates the
    // 2 byte form and an ID in the range of 64-319 [...] Value 1 indicates the 3 byte form and an
    // ID in the range of 64-65599 ((the third byte)*256 + the second byte + 64)."
    if (csid === 0) {
      if (available < 2) return null;
      csid = input.readUInt8(position) + 64;
      position += 1;
    } else if (csid === 1) {
      if (available < 3) return null;
      csid = input.readUInt8(position) + input.readUInt8(position + 1) * 256 + 64;
      position += 2;
    }
    const headerSize = MESSAGE_HEADER_SIZES[fmt] ?? 0;
    if (input.length - position < headerSize) return null;

    const state = this.#streams.get(csid);
    if (fmt !== 0 && state === undefined) {
      throw new ChunkStreamError(
        'no_previous_header',
        `fmt ${fmt} chunk on chunk stream ${csid} with no previous header`,
      );
    }
    if (fmt !== 3 && state?.inProgress === true) {
      throw new ChunkStreamError(
        'unexpected_header',
        `new message header on chunk stream ${csid} mid-message`,
      );
    }

    let timestampField = 0;
    let length = state?.length ?? 0;
    let type = state?.type ?? 0;
    let streamId = state?.streamId ?? 0;
    if (fmt <= 2) timestampField = input.readUIntBE(position, 3);
    if (fmt <= 1) {
      length = input.readUIntBE(position + 3, 3);
      type = input.readUInt8(position + 6);
    }
    // "Message stream ID is stored in little-endian format."
    if (fmt === 0) streamId = input.readUInt32LE(position + 7);
    position += headerSize;

    // "This field is present in Type 3 chunks when the most recent Type 0, 1, or 2 chunk for the
    // same chunk stream ID indicated the presence of an extended timestamp field."
    const hasExtendedTimestamp =
      fmt === 3 ? (state?.hasExtendedTimestamp ?? false) : timestampField === EXTENDED_TIMESTAMP_MARKER;
    if (hasExtendedTimestamp) {
      if (input.length - position < 4) return null;
      timestampField = input.readUInt32BE(position);
      position += 4;
    }

    if (length > this.#maxMessageLength) {
      throw new ChunkStreamError(
        'message_too_large',
        `message of ${length} bytes exceeds ${this.#maxMessageLength}`,
      );
    }

    // The header is complete: only now is chunk stream state changed.
    const stream = state ?? this.#createStreamState(csid);
    if (fmt === 3 && stream.inProgress) {
      // A continuation chunk: its extended timestamp (if any) repeats the message's own.
    } else {
      if (fmt === 0) {
        stream.timestamp = timestampField;
        stream.timestampField = timestampField;
      } else if (fmt === 3) {
        stream.timestamp = (stream.timestamp + stream.timestampField) >>> 0;
      } else {
        stream.timestamp = (stream.timestamp + timestampField) >>> 0;
        stream.timestampField = timestampField;
      }
      if (fmt !== 3) stream.hasExtendedTimestamp = hasExtendedTimestamp;
      stream.length = length;
      stream.type = type;
      stream.streamId = streamId;
      // The whole message is allocated (and counted) now: what a peer announces is what it costs,
      // whatever chunk size it then sends it in. allocUnsafeSlow: no pool slice that would keep a
      // larger shared buffer alive; every byte is written before the message is handed out.
      if (this.bufferedBytes + length > this.#maxBufferedBytes) {
        throw new ChunkStreamError('buffer_limit', `more than ${this.#maxBufferedBytes} bytes buffered`);
      }
      this.#bufferedBytes += length;
      stream.payload = length === 0 ? EMPTY : Buffer.allocUnsafeSlow(length);
      stream.received = 0;
      stream.inProgress = true;
    }
    this.#current = stream;
    this.#currentRemaining = Math.min(this.#chunkSize, stream.length - stream.received);
    return position;
  }

  #createStreamState(csid: number): ChunkStreamState {
    if (this.#streams.size >= this.#maxChunkStreams) {
      throw new ChunkStreamError(
        'too_many_chunk_streams',
        `more than ${this.#maxChunkStreams} chunk streams`,
      );
    }
    const state: ChunkStreamState = {
      csid,
      timestamp: 0,
      timestampField: 0,
      length: 0,
      type: 0,
      streamId: 0,
      hasExtendedTimestamp: false,
      payload: EMPTY,
      received: 0,
      inProgress: false,
    };
    this.#streams.set(csid, state);
    return state;
  }

  #completeMessage(state: ChunkStreamState): RtmpMessage {
    const payload = state.payload;
    this.#bufferedBytes -= state.length;
    state.payload = EMPTY;
    state.received = 0;
    state.inProgress = false;
    return {
      csid: state.csid,
      type: state.type,
      streamId: state.streamId,
      timestamp: state.timestamp,
      payload,
    };
  }

  #applyControlMessage(message: RtmpMessage): void {
    switch (message.type) {
      case MessageType.SET_CHUNK_SIZE: {
        const size = readControlValue(message);
        // "The first bit of this field MUST be zero." A size of 0 would never make progress.
        if (size === 0 || size > MAX_CHUNK_SIZE) {
          throw new ChunkStreamError('invalid_chunk_size', `invalid chunk size ${size}`);
        }
        // Each chunk costs a header parse: tiny chunks multiply the work per payload byte.
        if (size < this.#minChunkSize) {
          throw new ChunkStreamError('invalid_chunk_size', `chunk size ${size} below ${this.#minChunkSize}`);
        }
        this.#chunkSize = size;
        return;
      }
      case MessageType.ABORT: {
        // "The peer receiving this message [...] discard the partially received message over a chunk stream".
        const aborted = this.#streams.get(readControlValue(message));
        if (aborted?.inProgress === true) {
          this.#bufferedBytes -= aborted.length;
          aborted.payload = EMPTY;
          aborted.received = 0;
          aborted.inProgress = false;
        }
        return;
      }
      case MessageType.WINDOW_ACK_SIZE:
        // RTMP 1.0 section 5.4.4: "The sender expects acknowledgment from its peer after the sender
        // sends window size bytes." Encoders send 2.5 MB; a window of a few bytes only asks for an
        // Acknowledgement per read, which a peer that never reads would pile up in our socket. A
        // window below MIN_WINDOW_ACK_SIZE is taken as that floor.
        this.#windowAckSize = Math.max(readControlValue(message), MIN_WINDOW_ACK_SIZE);
        return;
      default:
        return;
    }
  }
}

function readControlValue(message: RtmpMessage): number {
  if (message.payload.length < 4) {
    throw new ChunkStreamError(
      'invalid_control_message',
      `control message type ${message.type} is too short`,
    );
  }
  return message.payload.readUInt32BE(0);
}
