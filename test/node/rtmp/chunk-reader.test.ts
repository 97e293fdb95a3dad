import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_STREAM_STATE_BYTES,
  ChunkReader,
  ChunkStreamError,
  MIN_WINDOW_ACK_SIZE,
} from '../../../containers/transcoder/src/rtmp/chunk-reader.ts';
import { ChunkWriter } from '../../../containers/transcoder/src/rtmp/chunk-writer.ts';
import type { RtmpMessage } from '../../../containers/transcoder/src/rtmp/messages.ts';

// Chunk headers written out by hand from the spec's layout, so the reader is checked against
// the format and not against our own writer.
function basicHeader(fmt: number, csid: number): number[] {
  if (csid < 64) return [(fmt << 6) | csid];
  if (csid < 320) return [fmt << 6, csid - 64];
  return [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8];
}
const u24 = (value: number): number[] => [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
const u32 = (value: number): number[] => [
  (value >>> 24) & 0xff,
  (value >> 16) & 0xff,
  (value >> 8) & 0xff,
  value & 0xff,
];
const u32le = (value: number): number[] => [
  value & 0xff,
  (value >> 8) & 0xff,
  (value >> 16) & 0xff,
  (value >>> 24) & 0xff,
];

function fmt0(csid: number, timestamp: number, length: number, type: number, streamId: number): number[] {
  const extended = timestamp >= 0xffffff;
  return [
    ...basicHeader(0, csid),
    ...u24(extended ? 0xffffff : timestamp),
    ...u24(length),
    type,
    ...u32le(streamId),
    ...(extended ? u32(timestamp) : []),
  ];
}
function fmt1(csid: number, delta: number, length: number, type: number): number[] {
  return [...basicHeader(1, csid), ...u24(delta), ...u24(length), type];
}
function fmt2(csid: number, delta: number): number[] {
  return [...basicHeader(2, csid), ...u24(delta)];
}
function fmt3(csid: number, extendedTimestamp?: number): number[] {
  return [...basicHeader(3, csid), ...(extendedTimestamp === undefined ? [] : u32(extendedTimestamp))];
}
const bytesOf = (length: number, seed: number): number[] =>
  Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);

function summarize(messages: RtmpMessage[]) {
  return messages.map((m) => ({
    csid: m.csid,
    type: m.type,
    streamId: m.streamId,
    timestamp: m.timestamp,
    payload: [...m.payload],
  }));
}

function readInPieces(input: Buffer, splits: number[]): RtmpMessage[] {
  const reader = new ChunkReader();
  const messages: RtmpMessage[] = [];
  let offset = 0;
  for (const split of [...splits, input.length]) {
    messages.push(...reader.push(Buffer.from(input.subarray(offset, split))));
    offset = split;
  }
  return messages;
}

describe('ChunkReader', () => {
  it('reads messages whose headers use fmt 0, 1, 2 and 3, accumulating timestamp deltas', () => {
    const payloadA = bytesOf(10, 1);
    const payloadB = bytesOf(20, 2);
    const payloadC = bytesOf(20, 3);
    const payloadD = bytesOf(20, 4);
    const input = Buffer.from([
      ...fmt0(6, 1000, 10, 9, 1),
      ...payloadA,
      ...fmt1(6, 40, 20, 8),
      ...payloadB,
      ...fmt2(6, 33),
      ...payloadC,
      // fmt 3 starting a new message repeats the previous delta.
      ...fmt3(6),
      ...payloadD,
    ]);
    expect(summarize(new ChunkReader().push(input))).toEqual([
      { csid: 6, type: 9, streamId: 1, timestamp: 1000, payload: payloadA },
      { csid: 6, type: 8, streamId: 1, timestamp: 1040, payload: payloadB },
      { csid: 6, type: 8, streamId: 1, timestamp: 1073, payload: payloadC },
      { csid: 6, type: 8, streamId: 1, timestamp: 1106, payload: payloadD },
    ]);
  });

  it('reads the message stream id as little-endian', () => {
    const input = Buffer.from([...fmt0(3, 0, 1, 20, 0x01020304), 0xaa]);
    expect(new ChunkReader().push(input)[0]?.streamId).toBe(0x01020304);
  });

  it('reads 2-byte and 3-byte basic headers up to chunk stream 65599', () => {
    const input = Buffer.from([
      ...fmt0(64, 5, 1, 9, 1),
      1,
      ...fmt0(319, 6, 1, 9, 1),
      2,
      ...fmt0(65599, 7, 1, 9, 1),
      3,
    ]);
    expect(new ChunkReader().push(input).map((m) => [m.csid, m.timestamp])).toEqual([
      [64, 5],
      [319, 6],
      [65599, 7],
    ]);
  });

  it('reads extended timestamps, including on fmt 3 continuation chunks', () => {
    const timestamp = 0x01234567;
    const payload = bytesOf(300, 9);
    const input = Buffer.from([
      ...fmt0(4, timestamp, 300, 9, 1),
      ...payload.slice(0, 128),
      ...fmt3(4, timestamp),
      ...payload.slice(128, 256),
      ...fmt3(4, timestamp),
      ...payload.slice(256),
    ]);
    const [message] = new ChunkReader().push(input);
    expect(message?.timestamp).toBe(timestamp);
    expect([...(message?.payload ?? [])]).toEqual(payload);
  });

  it('applies an extended delta on fmt 1 and keeps 32-bit wrap-around', () => {
    const input = Buffer.from([
      ...fmt0(4, 0xfffffff0, 1, 9, 1),
      1,
      ...fmt1(4, 0xffffff, 1, 9),
      ...u32(0x20),
      2,
    ]);
    expect(new ChunkReader().push(input).map((m) => m.timestamp)).toEqual([0xfffffff0, 0x10]);
  });

  it('applies a Set Chunk Size at once, to the chunks that follow it in the same read', () => {
    const payload = bytesOf(600, 5);
    const input = Buffer.from([
      ...fmt0(2, 0, 4, 1, 0),
      ...u32(512),
      ...fmt0(6, 0, 600, 9, 1),
      ...payload.slice(0, 512),
      ...fmt3(6),
      ...payload.slice(512),
    ]);
    const reader = new ChunkReader();
    const messages = reader.push(input);
    expect(reader.chunkSize).toBe(512);
    expect(messages.map((m) => m.type)).toEqual([1, 9]);
    expect([...(messages[1]?.payload ?? [])]).toEqual(payload);
  });

  it('reassembles messages whose chunks interleave across chunk streams', () => {
    const video = bytesOf(200, 1);
    const audio = bytesOf(150, 2);
    const input = Buffer.from([
      ...fmt0(6, 10, 200, 9, 1),
      ...video.slice(0, 128),
      ...fmt0(4, 11, 150, 8, 1),
      ...audio.slice(0, 128),
      ...fmt3(6),
      ...video.slice(128),
      ...fmt3(4),
      ...audio.slice(128),
    ]);
    expect(summarize(new ChunkReader().push(input))).toEqual([
      { csid: 6, type: 9, streamId: 1, timestamp: 10, payload: video },
      { csid: 4, type: 8, streamId: 1, timestamp: 11, payload: audio },
    ]);
  });

  it('gives the same messages whatever byte boundary the input is split at', () => {
    const input = Buffer.from([
      ...fmt0(2, 0, 4, 1, 0),
      ...u32(64),
      ...fmt0(6, 0x1000000, 100, 9, 1),
      ...bytesOf(64, 1),
      ...fmt0(320, 3, 5, 8, 1),
      ...bytesOf(5, 2),
      ...fmt3(6, 0x1000000),
      ...bytesOf(36, 3),
      ...fmt2(320, 20),
      ...bytesOf(5, 4),
    ]);
    const expected = summarize(new ChunkReader().push(input));
    expect(expected).toHaveLength(4);
    for (let split = 1; split < input.length; split += 1) {
      expect(summarize(readInPieces(input, [split]))).toEqual(expected);
    }
    // One byte at a time, too.
    expect(
      summarize(
        readInPieces(
          input,
          Array.from({ length: input.length - 1 }, (_, i) => i + 1),
        ),
      ),
    ).toEqual(expected);
  });

  it('discards the partial message of a chunk stream named by an Abort message', () => {
    const input = Buffer.from([
      ...fmt0(6, 0, 200, 9, 1),
      ...bytesOf(128, 1),
      ...fmt0(2, 0, 4, 2, 0),
      ...u32(6),
      ...fmt0(6, 50, 3, 9, 1),
      7,
      8,
      9,
    ]);
    const reader = new ChunkReader();
    const messages = reader.push(input);
    expect(messages.map((m) => [m.type, [...m.payload].length])).toEqual([
      [2, 4],
      [9, 3],
    ]);
    // Nothing held for messages: only the two chunk streams' own state.
    expect(reader.bufferedBytes).toBe(2 * CHUNK_STREAM_STATE_BYTES);
  });

  it('asks for an Acknowledgement each time the peer window of bytes has been received', () => {
    const reader = new ChunkReader();
    const window = MIN_WINDOW_ACK_SIZE + 1000;
    // Set Chunk Size 128 KiB, then the window, then one video message the window ends inside.
    reader.push(
      Buffer.from([...fmt0(2, 0, 4, 1, 0), ...u32(128 * 1024), ...fmt0(2, 0, 4, 5, 0), ...u32(window)]),
    );
    expect(reader.takeAcknowledgement()).toBeNull();
    reader.push(Buffer.from([...fmt0(6, 0, window + 500, 9, 1), ...bytesOf(window - 100, 1)]));
    expect(reader.takeAcknowledgement()).toBeNull();
    reader.push(Buffer.from(bytesOf(600, 1)));
    const sequence = reader.takeAcknowledgement();
    expect(sequence).toBe(reader.bytesReceived);
    expect(reader.takeAcknowledgement()).toBeNull();
  });

  it(`takes a peer window below ${MIN_WINDOW_ACK_SIZE} bytes as ${MIN_WINDOW_ACK_SIZE}: a 1-byte window does not ask for an Acknowledgement per read`, () => {
    const reader = new ChunkReader();
    reader.push(Buffer.from([...fmt0(2, 0, 4, 5, 0), ...u32(1)]));
    let acknowledgements = 0;
    // 1,000 reads of one 128-byte video chunk each (~129 KiB): one per 64 KiB, not one per read.
    reader.push(Buffer.from([...fmt0(6, 0, 128_000, 9, 1), ...bytesOf(128, 1)]));
    for (let i = 1; i < 1000; i += 1) {
      if (reader.takeAcknowledgement() !== null) acknowledgements += 1;
      reader.push(Buffer.from([...fmt3(6), ...bytesOf(128, 1)]));
    }
    if (reader.takeAcknowledgement() !== null) acknowledgements += 1;
    expect(acknowledgements).toBe(Math.floor(reader.bytesReceived / MIN_WINDOW_ACK_SIZE));
    expect(acknowledgements).toBe(1);
  });

  it.each([
    ['a chunk size of 0', 0],
    ['a chunk size with the top bit set (2^31)', 0x80000000],
  ])('rejects %s', (_name, size) => {
    const reader = new ChunkReader();
    expect(() => reader.push(Buffer.from([...fmt0(2, 0, 4, 1, 0), ...u32(size)]))).toThrow(
      expect.objectContaining({ code: 'invalid_chunk_size' }),
    );
  });

  it('rejects a Set Chunk Size below the configured minimum, and accepts it once the limits are lowered', () => {
    const small = Buffer.from([...fmt0(2, 0, 4, 1, 0), ...u32(16)]);
    expect(() => new ChunkReader({ minChunkSize: 128 }).push(small)).toThrow(
      expect.objectContaining({ code: 'invalid_chunk_size' }),
    );
    const reader = new ChunkReader({ minChunkSize: 128 });
    reader.setLimits({ maxMessageLength: 1000, maxBufferedBytes: 10_000, minChunkSize: 1 });
    reader.push(small);
    expect(reader.chunkSize).toBe(16);
  });

  it('rejects a message length above the limit as soon as the header arrives', () => {
    const reader = new ChunkReader({ maxMessageLength: 1000 });
    expect(() => reader.push(Buffer.from(fmt0(6, 0, 0xffffff, 9, 1)))).toThrow(
      expect.objectContaining({ code: 'message_too_large' }),
    );
  });

  it('rejects fmt 1, 2 and 3 chunks on a chunk stream that never had a fmt 0 header', () => {
    for (const header of [fmt1(7, 0, 1, 9), fmt2(7, 0), fmt3(7)]) {
      expect(() => new ChunkReader().push(Buffer.from([...header, 0]))).toThrow(ChunkStreamError);
    }
  });

  it('counts an unfinished message at its announced length and stops once the cap would be passed', () => {
    const reader = new ChunkReader({ maxBufferedBytes: 5000, maxMessageLength: 900 });
    reader.push(Buffer.from([...fmt0(6, 0, 900, 9, 1), ...bytesOf(128, 1)]));
    reader.push(Buffer.from([...fmt0(7, 0, 900, 9, 1), ...bytesOf(128, 1)]));
    // What is held, not what has arrived: the two 900-byte buffers and two chunk stream states.
    expect(reader.bufferedBytes).toBe(2 * 900 + 2 * CHUNK_STREAM_STATE_BYTES);
    let csid = 8;
    expect(() => {
      for (; csid < 20; csid += 1)
        reader.push(Buffer.from([...fmt0(csid, 0, 900, 9, 1), ...bytesOf(128, 1)]));
    }).toThrow(expect.objectContaining({ code: 'buffer_limit' }));
    // 4 x (900 + 160) = 4240; a fifth 900-byte message would pass 5000.
    expect(csid).toBe(10);
  });

  it('holds one buffer per message however small the chunks: 1-byte chunks cost no heap per chunk', async () => {
    // The attack of issue 10 (finding 2): a 1-byte chunk size, then a large message one byte per
    // chunk. Measured as heap plus ArrayBuffer memory after a full GC, across 8 readers each holding
    // an unfinished 60 KiB message: about 60 KiB each, not ~100 bytes per payload byte.
    setFlagsFromString('--expose-gc');
    const collected: unknown = runInNewContext('gc');
    if (typeof collected !== 'function') throw new Error('gc is not exposed');
    const gc = (): void => {
      collected();
    };
    const length = 60 * 1024;
    // The first payload byte rides with the fmt 0 header; all but the last of the rest follow.
    const oneByteChunks = Buffer.alloc(2 * (length - 2));
    for (let i = 0; i < length - 2; i += 1) {
      oneByteChunks[2 * i] = 0xc6; // fmt 3 on chunk stream 6
      oneByteChunks[2 * i + 1] = i & 0xff;
    }
    const start = Buffer.from([...fmt0(2, 0, 4, 1, 0), ...u32(1), ...fmt0(6, 0, length, 9, 1), 0]);
    gc();
    const before = process.memoryUsage();
    const readers: ChunkReader[] = [];
    for (let r = 0; r < 8; r += 1) {
      const reader = new ChunkReader();
      reader.push(Buffer.from(start));
      // In reads of 2 KiB, as a socket would deliver them.
      for (let offset = 0; offset < oneByteChunks.length; offset += 2048)
        reader.push(Buffer.from(oneByteChunks.subarray(offset, offset + 2048)));
      expect(reader.bufferedBytes).toBe(length + 2 * CHUNK_STREAM_STATE_BYTES);
      readers.push(reader);
    }
    gc();
    const after = process.memoryUsage();
    const held = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
    // The bound leaves room for what a GC-measured heap also counts (compiled code, the test
    // runner's own allocations: up to ~1.3 MB seen here) and still sits ~18x below the old
    // per-chunk cost (53 MB for these 480 KiB of payload).
    expect(held).toBeLessThan(readers.length * length * 4 + 1024 * 1024);
    // The readers are still unfinished: one more byte completes each message.
    for (const reader of readers) expect(reader.push(Buffer.from([0xc6, 0xff]))).toHaveLength(1);
  });

  it('refuses to track more chunk streams than allowed', () => {
    const reader = new ChunkReader({ maxChunkStreams: 3 });
    expect(() => {
      for (let csid = 3; csid < 10; csid += 1) reader.push(Buffer.from([...fmt0(csid, 0, 1, 9, 1), 0]));
    }).toThrow(expect.objectContaining({ code: 'too_many_chunk_streams' }));
  });
});

describe('ChunkWriter', () => {
  it('round-trips messages through the reader with compressed headers, chunk-size changes and extended timestamps', () => {
    const writer = new ChunkWriter();
    const messages: RtmpMessage[] = [
      { csid: 3, type: 20, streamId: 0, timestamp: 0, payload: Buffer.from(bytesOf(300, 1)) },
      { csid: 2, type: 1, streamId: 0, timestamp: 0, payload: Buffer.from(u32(1000)) },
      { csid: 6, type: 9, streamId: 1, timestamp: 0, payload: Buffer.from(bytesOf(2500, 2)) },
      { csid: 6, type: 9, streamId: 1, timestamp: 33, payload: Buffer.from(bytesOf(2500, 3)) },
      { csid: 6, type: 9, streamId: 1, timestamp: 66, payload: Buffer.from(bytesOf(2500, 4)) },
      { csid: 6, type: 9, streamId: 1, timestamp: 99, payload: Buffer.from(bytesOf(2500, 5)) },
      { csid: 6, type: 9, streamId: 1, timestamp: 132, payload: Buffer.from(bytesOf(40, 6)) },
      { csid: 4, type: 8, streamId: 1, timestamp: 0x1234567, payload: Buffer.from(bytesOf(1500, 7)) },
      { csid: 4, type: 8, streamId: 1, timestamp: 0x2234567, payload: Buffer.from(bytesOf(1500, 8)) },
      { csid: 400, type: 18, streamId: 1, timestamp: 5, payload: Buffer.alloc(0) },
    ];
    const encoded: Buffer[] = [];
    for (const message of messages) {
      encoded.push(writer.write(message));
      if (message.type === 1) writer.setChunkSize(1000);
    }
    const stream = Buffer.concat(encoded);
    // The first chunk of each message: 0 for new streams, 2 and 3 for same-shape video, 1 when the length changes.
    expect(encoded.map((chunk) => (chunk[0] ?? 0) >> 6)).toEqual([0, 0, 0, 2, 3, 3, 1, 0, 2, 0]);
    expect(summarize(readInPieces(stream, [7, 500, 501, 4000]))).toEqual(summarize(messages));
  });

  it('writes fmt 0 headers only when header compression is off', () => {
    const writer = new ChunkWriter({ compressHeaders: false });
    const first = writer.write({ csid: 6, type: 9, streamId: 1, timestamp: 0, payload: Buffer.from([1]) });
    const second = writer.write({ csid: 6, type: 9, streamId: 1, timestamp: 10, payload: Buffer.from([2]) });
    expect([(first[0] ?? 0) >> 6, (second[0] ?? 0) >> 6]).toEqual([0, 0]);
    expect(second).toHaveLength(1 + 11 + 1);
  });
});
