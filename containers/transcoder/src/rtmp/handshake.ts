// The server side of the RTMP handshake (RTMP 1.0 spec, section 5.2), fed incrementally: TCP
// delivers C0/C1/C2 in arbitrary splits, so bytes are accumulated only up to the size of the
// packet being waited for and never beyond.
import { randomBytes } from 'node:crypto';

/** "In C0, this field identifies the RTMP version requested by the client. [...] The version defined by this specification is 3." */
export const RTMP_VERSION = 3;
/** "The C1 and S1 packets are 1536 octets long." (C2/S2 likewise.) */
export const HANDSHAKE_PACKET_SIZE = 1536;

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
}

export interface HandshakeProgress {
  /** Bytes to send to the client now (S0+S1+S2), or null. */
  readonly reply: Buffer | null;
  /** True once C2 has been received: the chunk stream starts with `rest`. */
  readonly done: boolean;
  /** Bytes that arrived after C2; they belong to the chunk stream. */
  readonly rest: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * Accepts C0+C1, answers S0+S1+S2 at once (S2 echoes C1, which is all publishers check), then
 * waits for C2. The content of C2 is not verified: "echoing is enough" for publishers, and no
 * client relies on the server checking it.
 */
export class ServerHandshake {
  #phase: 'c0c1' | 'c2' | 'done' = 'c0c1';
  #pending: Buffer = EMPTY;

  get done(): boolean {
    return this.#phase === 'done';
  }

  /** Bytes kept while waiting for the rest of C0+C1 or C2 (at most 3073). */
  get heldBytes(): number {
    return this.#pending.length;
  }

  push(bytes: Buffer): HandshakeProgress {
    if (this.#phase === 'done') return { reply: null, done: true, rest: bytes };
    let reply: Buffer | null = null;
    let input = this.#pending.length === 0 ? bytes : Buffer.concat([this.#pending, bytes]);
    this.#pending = EMPTY;

    if (this.#phase === 'c0c1') {
      if (input.length >= 1 && input[0] !== RTMP_VERSION) {
        throw new HandshakeError(`unsupported RTMP version ${input[0]}`);
      }
      const needed = 1 + HANDSHAKE_PACKET_SIZE;
      if (input.length < needed) {
        this.#pending = Buffer.from(input);
        return { reply: null, done: false, rest: EMPTY };
      }
      reply = createServerReply(input.subarray(1, needed));
      input = input.subarray(needed);
      this.#phase = 'c2';
    }

    if (input.length < HANDSHAKE_PACKET_SIZE) {
      this.#pending = Buffer.from(input);
      return { reply, done: false, rest: EMPTY };
    }
    this.#phase = 'done';
    return { reply, done: true, rest: input.subarray(HANDSHAKE_PACKET_SIZE) };
  }
}

function createServerReply(c1: Buffer): Buffer {
  const reply = Buffer.alloc(1 + HANDSHAKE_PACKET_SIZE * 2);
  reply[0] = RTMP_VERSION;
  // S1: "Time (4 bytes) [...] Zero (4 bytes) [...] Random data (1528 bytes)".
  reply.writeUInt32BE(0, 1);
  reply.writeUInt32BE(0, 5);
  randomBytes(HANDSHAKE_PACKET_SIZE - 8).copy(reply, 9);
  // S2 echoes C1.
  c1.copy(reply, 1 + HANDSHAKE_PACKET_SIZE);
  return reply;
}
