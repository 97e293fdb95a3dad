// fast-check generators for the RTMP fuzz suite (issue 10): AMF0 values, chunk streams written
// by our own writer from generated messages, handshakes, command sessions, and byte-level mutations
// of any of them (flip, truncate, insert, duplicate, overwrite with a boundary value), so the parsers
// see both what a real encoder sends and what a hostile one could.
import fc from 'fast-check';
import { Amf0EcmaArray, type Amf0Value, encodeAmf0 } from '../../../containers/transcoder/src/rtmp/amf0.ts';
import { ChunkWriter } from '../../../containers/transcoder/src/rtmp/chunk-writer.ts';
import type { RtmpMessage } from '../../../containers/transcoder/src/rtmp/messages.ts';

/** Property names; never '' (AMF0 cannot write it: an empty name ends the object). */
const key = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.constantFrom('app', 'tcUrl', '__proto__', 'constructor'),
);

/** Any AMF0 value our encoder writes (Dates aside: they carry a time zone field we ignore). */
export const amf0Value: fc.Arbitrary<Amf0Value> = fc.letrec<{ value: Amf0Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double(),
    fc.boolean(),
    fc.string({ maxLength: 40 }),
    // Past 65535 bytes the encoder switches to a long string (marker 0x0c).
    fc.integer({ min: 65_536, max: 65_600 }).map((length) => 'x'.repeat(length)),
    fc.constant(null),
    fc.constant(undefined),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }).map((properties) => new Amf0EcmaArray(properties)),
  ),
})).value;

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'overwrite'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 24 }) }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fc.nat(),
    value: fc.constantFrom(0x00, 0x01, 0x03, 0x3f, 0x7f, 0x80, 0xc0, 0xff),
  }),
);

function applyMutation(bytes: Buffer, change: Mutation): Buffer {
  if (bytes.length === 0) return change.kind === 'insert' ? Buffer.from(change.bytes) : bytes;
  const at = change.at % bytes.length;
  switch (change.kind) {
    case 'flip': {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] ?? 0) ^ (1 << change.bit);
      return copy;
    }
    case 'truncate':
      return bytes.subarray(0, at);
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), change.bytes, bytes.subarray(at)]);
    case 'duplicate':
      return Buffer.concat([bytes.subarray(0, at + change.length), bytes.subarray(at)]);
    case 'overwrite': {
      const copy = Buffer.from(bytes);
      copy[at] = change.value;
      return copy;
    }
  }
}

/** `source`, then 1 to 4 mutations of it. */
export function mutated(source: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(source, fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([bytes, changes]) => changes.reduce(applyMutation, bytes));
}

/** Split points for feeding bytes as TCP would: sizes of each read. */
export const readSizes = fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 12 });

/** Cuts `bytes` into reads of the given sizes (cycled), each its own Buffer. */
export function splitInto(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const reads: Buffer[] = [];
  let offset = 0;
  let index = 0;
  while (offset < bytes.length) {
    const size = sizes[index % sizes.length] ?? bytes.length;
    reads.push(Buffer.from(bytes.subarray(offset, offset + size)));
    offset += size;
    index += 1;
  }
  return reads;
}

/** A media or command message as an encoder could send it. */
export const rtmpMessage: fc.Arbitrary<RtmpMessage> = fc.record({
  csid: fc.oneof(fc.integer({ min: 3, max: 10 }), fc.integer({ min: 64, max: 400 })),
  type: fc.constantFrom(8, 9, 15, 18, 20),
  streamId: fc.constantFrom(0, 1, 0xffffffff),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0xffffff, max: 0xffffffff })),
  payload: fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)),
});

/** Generated messages and the chunk size they are written with (after a Set Chunk Size). */
export const chunkStream = fc
  .tuple(
    // Mostly sizes a publisher may use before authorization (>= 128), sometimes the tiny ones.
    fc.oneof(
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 127 }) },
      { weight: 4, arbitrary: fc.integer({ min: 128, max: 5000 }) },
    ),
    fc.array(rtmpMessage, { maxLength: 8 }),
  )
  .map(([chunkSize, messages]) => {
    const writer = new ChunkWriter();
    const setChunkSize = Buffer.alloc(4);
    setChunkSize.writeUInt32BE(chunkSize);
    const parts = [writer.write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload: setChunkSize })];
    writer.setChunkSize(chunkSize);
    for (const message of messages) parts.push(writer.write(message));
    return { messages, bytes: Buffer.concat(parts) };
  });

/** C0 + C1 + C2 as a client sends them, the version byte sometimes wrong. */
export const handshake = fc
  .tuple(fc.constantFrom(3, 3, 3, 6, 0), fc.uint8Array({ minLength: 1536, maxLength: 1536 }))
  .map(([version, c1]) => Buffer.concat([Buffer.from([version]), c1, Buffer.alloc(1536, 7)]));

const commandName = fc.oneof(
  fc.constantFrom(
    'connect',
    'createStream',
    'publish',
    'releaseStream',
    'FCPublish',
    'FCUnpublish',
    'deleteStream',
  ),
  fc.string({ maxLength: 20 }),
);

/** An AMF0 command message: a known or random name, a transaction id, then random arguments. */
export const commandMessage: fc.Arbitrary<RtmpMessage> = fc
  .tuple(
    commandName,
    fc.oneof(fc.double(), fc.constant(null)),
    fc.array(amf0Value, { maxLength: 3 }),
    fc.constantFrom(0, 1),
  )
  .map(([name, transactionId, args, streamId]) => ({
    csid: 3,
    type: 20,
    streamId,
    timestamp: 0,
    payload: encodeAmf0(name, transactionId, ...args),
  }));

/** The publish flow (connect, createStream, publish with a random key), as one chunk stream. */
export const publishSession = fc
  .tuple(
    fc.constantFrom('live', 'live/', 'other', ''),
    fc.string({ maxLength: 40 }),
    fc.array(commandMessage, { maxLength: 3 }),
  )
  .map(([app, key, extra]) => {
    const writer = new ChunkWriter();
    const command = (streamId: number, ...values: Amf0Value[]): Buffer =>
      writer.write({ csid: 3, type: 20, streamId, timestamp: 0, payload: encodeAmf0(...values) });
    return Buffer.concat([
      command(0, 'connect', 1, { app, type: 'nonprivate', tcUrl: `rtmp://127.0.0.1/${app}` }),
      ...extra.map((message) => writer.write(message)),
      command(0, 'createStream', 2, null),
      command(1, 'publish', 3, null, `fuzz_${key}`, 'live'),
    ]);
  });

/** What one hostile connection sends: a handshake (maybe mutated), then a session or chunk stream (maybe mutated). */
export const connectionBytes: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: handshake }, { weight: 1, arbitrary: mutated(handshake) }),
    fc.oneof(
      publishSession,
      mutated(publishSession),
      chunkStream.map((stream) => stream.bytes),
      mutated(chunkStream.map((stream) => stream.bytes)),
      fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
    ),
  )
  .map(([hello, rest]) => Buffer.concat([hello, rest]));
