// SRT packets on the wire (draft-sharabayko-srt-01 §3): the 16-byte header every datagram starts
// with, the handshake's CIF and its HSv5 extensions (§3.2.1), and the few control packets a
// receiver sends (ACK, NAK, keepalive, shutdown). Everything here is pure: bytes in, values out.
// Every read is bounds-checked against the datagram, so a malformed one yields null, never a throw.

/** "The Packet Type Flag ... 0 = data packet, 1 = control packet" (§3). */
const CONTROL_FLAG = 0x8000_0000;
export const HEADER_SIZE = 16;
/** §3.2.1: Version .. Peer IP Address, 48 bytes; extensions follow. */
const HANDSHAKE_CIF_SIZE = 48;
/** An SRT datagram fits an Ethernet MTU; anything larger is not from an SRT sender. */
export const MAX_DATAGRAM_SIZE = 1500;

export const ControlType = {
  HANDSHAKE: 0x0000,
  KEEPALIVE: 0x0001,
  ACK: 0x0002,
  NAK: 0x0003,
  CONGESTION_WARNING: 0x0004,
  SHUTDOWN: 0x0005,
  ACKACK: 0x0006,
  DROPREQ: 0x0007,
  PEERERROR: 0x0008,
  /** §3.2.11: user-defined; subtype 3/4 carry a key refresh (KMREQ/KMRSP, §6.1.6). */
  USER_DEFINED: 0x7fff,
} as const;

/** §3.2.1.1 Handshake Type values; rejections are 1000 + reason (docs/API/rejection-codes.md). */
export const HandshakeType = {
  DONE: 0xffff_fffd,
  AGREEMENT: 0xffff_fffe,
  CONCLUSION: 0xffff_ffff,
  WAVEAHAND: 0x0000_0000,
  INDUCTION: 0x0000_0001,
} as const;

/**
 * Why a caller is refused, as the Handshake Type field carries it: "the API value is incremented by
 * 1000 to become the Handshake Type field value". SRT_REJ_* are 0..17; the access-control codes
 * (SRT_REJX_*, API 1000 + an HTTP-like code) therefore travel as 2000 + that code.
 */
export const Rejection = {
  /** SRT_REJ_RESOURCE */
  RESOURCE: 1003,
  /** SRT_REJ_ROGUE: the handshake cannot be interpreted. */
  ROGUE: 1004,
  /** SRT_REJ_CLOSE: the listener is closing. */
  CLOSE: 1007,
  /** SRT_REJ_VERSION */
  VERSION: 1008,
  /** SRT_REJ_BADSECRET: "Both parties have defined connection passphrases that differ." */
  BADSECRET: 1010,
  /** SRT_REJ_UNSECURE: "Only one party has set up a connection password." */
  UNSECURE: 1011,
  /** SRT_REJ_MESSAGEAPI: file (stream API) mode asked of a live listener. */
  MESSAGEAPI: 1012,
  /** SRT_REJ_CONGESTION */
  CONGESTION: 1013,
  /** SRT_REJ_FILTER: packet filters (FEC) are not offered. */
  FILTER: 1014,
  /** SRT_REJ_GROUP: bonding is not offered. */
  GROUP: 1015,
  /** SRT_REJ_CRYPTO: a cipher other than AES-CTR. */
  CRYPTO: 1017,
  /** SRT_REJX_BAD_REQUEST (1400): the streamid is not a key. */
  BAD_REQUEST: 2400,
  /** SRT_REJX_UNAUTHORIZED (1401): unknown or reset stream key. */
  UNAUTHORIZED: 2401,
  /** SRT_REJX_OVERLOAD (1402): the node or the caller's network is at its limit. */
  OVERLOAD: 2402,
  /** SRT_REJX_BAD_MODE (1405): `m=` other than publish. */
  BAD_MODE: 2405,
  /** SRT_REJX_CONFLICT (1409): the key is already publishing. */
  CONFLICT: 2409,
  /** SRT_REJX_DOWN (1503): the origin cannot be reached. */
  DOWN: 2503,
} as const;
export type Rejection = (typeof Rejection)[keyof typeof Rejection];

/** §3.2.1: the HSv5 extension flags in the Extension Field of a conclusion. */
export const HsExtFlag = { HSREQ: 0x1, KMREQ: 0x2, CONFIG: 0x4 } as const;
/** "SRT Magic Code 0x4A17" in the induction response's Extension Field (§4.3.1.1). */
export const SRT_MAGIC = 0x4a17;

/** §3.2.1.3 extension types. */
export const ExtensionType = {
  HSREQ: 1,
  HSRSP: 2,
  KMREQ: 3,
  KMRSP: 4,
  SID: 5,
  CONGESTION: 6,
  FILTER: 7,
  GROUP: 8,
} as const;

/** §3.2.1.1.1 Handshake Extension Message Flags. */
export const SrtFlag = {
  TSBPDSND: 0x01,
  TSBPDRCV: 0x02,
  CRYPT: 0x04,
  TLPKTDROP: 0x08,
  PERIODICNAK: 0x10,
  REXMITFLG: 0x20,
  STREAM: 0x40,
  PACKET_FILTER: 0x80,
} as const;

/** Sequence numbers are 31 bits and wrap (§3.1). */
export const SEQ_MASK = 0x7fff_ffff;

/** Signed distance from `a` to `b` on the 31-bit circle: > 0 when b is after a. */
export function seqDiff(a: number, b: number): number {
  const d = (b - a) & SEQ_MASK;
  return d >= 0x4000_0000 ? d - 0x8000_0000 : d;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) & SEQ_MASK;
}

export interface DataPacket {
  readonly kind: 'data';
  readonly seq: number;
  /** §3.1: KK, 0 = not encrypted, 1 = even key, 2 = odd key. */
  readonly keyIndex: number;
  readonly retransmitted: boolean;
  readonly timestamp: number;
  readonly destSocketId: number;
  readonly payload: Buffer;
}

export interface ControlPacket {
  readonly kind: 'control';
  readonly type: number;
  /** The low 16 bits of the first word: the subtype of a user-defined (0x7FFF) packet. */
  readonly subtype: number;
  readonly typeSpecific: number;
  readonly timestamp: number;
  readonly destSocketId: number;
  readonly cif: Buffer;
}

export type Packet = DataPacket | ControlPacket;

/** Reads the header; null when the datagram is too short or too long to be SRT. */
export function readPacket(datagram: Buffer): Packet | null {
  if (datagram.length < HEADER_SIZE || datagram.length > MAX_DATAGRAM_SIZE) return null;
  const word0 = datagram.readUInt32BE(0);
  const word1 = datagram.readUInt32BE(4);
  const timestamp = datagram.readUInt32BE(8);
  const destSocketId = datagram.readUInt32BE(12);
  if ((word0 & CONTROL_FLAG) === 0) {
    return {
      kind: 'data',
      seq: word0 & SEQ_MASK,
      keyIndex: (word1 >>> 27) & 0x3,
      retransmitted: ((word1 >>> 26) & 0x1) === 1,
      timestamp,
      destSocketId,
      payload: datagram.subarray(HEADER_SIZE),
    };
  }
  return {
    kind: 'control',
    type: (word0 >>> 16) & 0x7fff,
    subtype: word0 & 0xffff,
    typeSpecific: word1,
    timestamp,
    destSocketId,
    cif: datagram.subarray(HEADER_SIZE),
  };
}

export function writeControl(
  type: number,
  typeSpecific: number,
  timestamp: number,
  destSocketId: number,
  cif: Buffer = Buffer.alloc(0),
  subtype = 0,
): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + cif.length);
  out.writeUInt32BE((CONTROL_FLAG | (type << 16) | (subtype & 0xffff)) >>> 0, 0);
  out.writeUInt32BE(typeSpecific >>> 0, 4);
  out.writeUInt32BE(timestamp >>> 0, 8);
  out.writeUInt32BE(destSocketId >>> 0, 12);
  cif.copy(out, HEADER_SIZE);
  return out;
}

export interface HandshakeExtension {
  readonly type: number;
  readonly content: Buffer;
}

export interface Handshake {
  readonly version: number;
  readonly encryptionField: number;
  readonly extensionField: number;
  readonly initialSeq: number;
  readonly mtu: number;
  readonly flowWindow: number;
  readonly type: number;
  readonly socketId: number;
  readonly cookie: number;
  /** 16 bytes, as sent (an IPv4 address in the first 4, little-endian words per libsrt). */
  readonly peerIp: Buffer;
  readonly extensions: readonly HandshakeExtension[];
}

/** At most this many extensions are read: a conclusion carries 2–4 (HSREQ, KMREQ, SID, CONGESTION). */
const MAX_EXTENSIONS = 8;

/** §3.2.1: the handshake CIF and its extensions; null when any length is inconsistent. */
export function readHandshake(cif: Buffer): Handshake | null {
  if (cif.length < HANDSHAKE_CIF_SIZE) return null;
  const extensions: HandshakeExtension[] = [];
  let offset = HANDSHAKE_CIF_SIZE;
  while (offset + 4 <= cif.length) {
    if (extensions.length >= MAX_EXTENSIONS) return null;
    const type = cif.readUInt16BE(offset);
    const bytes = cif.readUInt16BE(offset + 2) * 4;
    const end = offset + 4 + bytes;
    if (end > cif.length) return null;
    extensions.push({ type, content: cif.subarray(offset + 4, end) });
    offset = end;
  }
  return {
    version: cif.readUInt32BE(0),
    encryptionField: cif.readUInt16BE(4),
    extensionField: cif.readUInt16BE(6),
    initialSeq: cif.readUInt32BE(8) & SEQ_MASK,
    mtu: cif.readUInt32BE(12),
    flowWindow: cif.readUInt32BE(16),
    type: cif.readUInt32BE(20),
    socketId: cif.readUInt32BE(24),
    cookie: cif.readUInt32BE(28),
    peerIp: cif.subarray(32, 48),
    extensions,
  };
}

export function writeHandshake(
  hs: Omit<Handshake, 'extensions'>,
  extensions: readonly HandshakeExtension[] = [],
): Buffer {
  const size = HANDSHAKE_CIF_SIZE + extensions.reduce((sum, ext) => sum + 4 + ext.content.length, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32BE(hs.version >>> 0, 0);
  out.writeUInt16BE(hs.encryptionField, 4);
  out.writeUInt16BE(hs.extensionField, 6);
  out.writeUInt32BE(hs.initialSeq >>> 0, 8);
  out.writeUInt32BE(hs.mtu >>> 0, 12);
  out.writeUInt32BE(hs.flowWindow >>> 0, 16);
  out.writeUInt32BE(hs.type >>> 0, 20);
  out.writeUInt32BE(hs.socketId >>> 0, 24);
  out.writeUInt32BE(hs.cookie >>> 0, 28);
  hs.peerIp.copy(out, 32, 0, 16);
  let offset = HANDSHAKE_CIF_SIZE;
  for (const ext of extensions) {
    if (ext.content.length % 4 !== 0) throw new Error('an extension is a whole number of 32-bit words');
    out.writeUInt16BE(ext.type, offset);
    out.writeUInt16BE(ext.content.length / 4, offset + 2);
    ext.content.copy(out, offset + 4);
    offset += 4 + ext.content.length;
  }
  return out;
}

/** The peer address field: libsrt writes an IPv4 address as the first 32-bit word, host order. */
export function encodePeerIp(address: string): Buffer {
  const out = Buffer.alloc(16);
  const parts = address.replace(/^::ffff:/, '').split('.');
  if (parts.length === 4) {
    parts.forEach((part, index) => {
      out[3 - index] = Number(part) & 0xff;
    });
  }
  return out;
}

export interface HsReq {
  readonly srtVersion: number;
  readonly flags: number;
  /** Milliseconds the caller's receiver waits (unused: it sends to us, we never send media). */
  readonly receiverDelayMs: number;
  /** Milliseconds the caller asks its peer (us) to buffer: "the greater of those reported". */
  readonly senderDelayMs: number;
}

/** §3.2.1.1: SRT Version, SRT Flags, Receiver TSBPD Delay (high 16) | Sender TSBPD Delay (low 16). */
export function readHsReq(content: Buffer): HsReq | null {
  if (content.length < 12) return null;
  const delays = content.readUInt32BE(8);
  return {
    srtVersion: content.readUInt32BE(0),
    flags: content.readUInt32BE(4),
    receiverDelayMs: delays >>> 16,
    senderDelayMs: delays & 0xffff,
  };
}

export function writeHsRsp(rsp: HsReq): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt32BE(rsp.srtVersion >>> 0, 0);
  out.writeUInt32BE(rsp.flags >>> 0, 4);
  out.writeUInt32BE((((rsp.receiverDelayMs & 0xffff) << 16) | (rsp.senderDelayMs & 0xffff)) >>> 0, 8);
  return out;
}

/** The Stream ID may hold "up to 512 characters". */
export const MAX_STREAM_ID_BYTES = 512;

/**
 * §3.2.1.3.3: the SID string travels in 32-bit words, each of which libsrt byte-swaps ("Preswap to
 * little endian" in fillHsExtConfigString): "abcd" arrives as "dcba". Trailing NUL padding dropped.
 */
export function readStreamId(content: Buffer): string | null {
  if (content.length > MAX_STREAM_ID_BYTES || content.length % 4 !== 0) return null;
  const bytes = Buffer.alloc(content.length);
  for (let word = 0; word < content.length; word += 4) {
    for (let i = 0; i < 4; i += 1) bytes[word + i] = content[word + 3 - i] ?? 0;
  }
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

export function writeStreamId(streamId: string): Buffer {
  const raw = Buffer.from(streamId, 'utf8');
  const padded = Buffer.alloc(Math.ceil(raw.length / 4) * 4);
  raw.copy(padded);
  const out = Buffer.alloc(padded.length);
  for (let word = 0; word < padded.length; word += 4) {
    for (let i = 0; i < 4; i += 1) out[word + i] = padded[word + 3 - i] ?? 0;
  }
  return out;
}

/**
 * The stream key in a streamid: the key itself, or the access-control form `#!::r=<key>,m=publish`
 * (docs/features/access-control.md: "#!::" then comma-separated key=value pairs; `r` the resource,
 * `m` the mode, request/publish/bidirectional). Any mode but publish is refused ('bad_mode'). Our
 * own pair `backup=1` marks a dual publish's second connection (docs/deploy.md, "Dual publish").
 */
export function readStreamKey(
  raw: string,
): { ok: true; key: string; backup: boolean } | { ok: false; reason: 'bad_request' | 'bad_mode' } {
  // ffmpeg before 6 passes the URL's streamid undecoded (`%23%21%3A%3Ar%3D...`), later ones decode it.
  let streamId = raw;
  if (/%[0-9A-Fa-f]{2}/.test(raw)) {
    try {
      streamId = decodeURIComponent(raw);
    } catch {
      return { ok: false, reason: 'bad_request' };
    }
  }
  if (!streamId.startsWith('#!::')) {
    return /^[A-Za-z0-9_-]{1,200}$/.test(streamId)
      ? { ok: true, key: streamId, backup: false }
      : { ok: false, reason: 'bad_request' };
  }
  let key: string | null = null;
  let mode = 'request';
  let backup = false;
  for (const pair of streamId.slice(4).split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'bad_request' };
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (name === 'r') key = value;
    else if (name === 'm') mode = value;
    else if (name === 'backup') backup = value === '1' || value === 'true';
  }
  // "m=publish" is what a caller that sends media sets; the default mode (request) is a player.
  if (mode !== 'publish') return { ok: false, reason: 'bad_mode' };
  if (key === null || !/^[A-Za-z0-9_-]{1,200}$/.test(key)) return { ok: false, reason: 'bad_request' };
  return { ok: true, key, backup };
}

export interface AckFields {
  /** "the sequence number of the last data packet being acknowledged plus one" */
  readonly lastAckedSeqPlusOne: number;
  readonly rttUs: number;
  readonly rttVarUs: number;
  readonly availableBufferPackets: number;
  readonly packetsPerSecond: number;
  readonly linkCapacityPps: number;
  readonly bytesPerSecond: number;
}

/** §3.2.4 full ACK: seven 32-bit fields. */
export function writeAckCif(ack: AckFields): Buffer {
  const out = Buffer.alloc(28);
  const fields = [
    ack.lastAckedSeqPlusOne & SEQ_MASK,
    ack.rttUs,
    ack.rttVarUs,
    ack.availableBufferPackets,
    ack.packetsPerSecond,
    ack.linkCapacityPps,
    ack.bytesPerSecond,
  ];
  fields.forEach((value, index) => {
    out.writeUInt32BE(Math.max(0, Math.min(0xffff_ffff, Math.round(value))) >>> 0, index * 4);
  });
  return out;
}

/**
 * §3.2.5 NAK: "a single sequence number has the MSB 0; a range is two numbers, the first with the
 * MSB set" (Appendix A). At most `maxWords` words, so a report fits a datagram.
 */
export function writeLossList(ranges: ReadonlyArray<readonly [number, number]>, maxWords = 300): Buffer {
  const words: number[] = [];
  for (const [first, last] of ranges) {
    const single = first === last;
    if (words.length + (single ? 1 : 2) > maxWords) break;
    if (single) words.push(first & SEQ_MASK);
    else words.push((first | 0x8000_0000) >>> 0, last & SEQ_MASK);
  }
  const out = Buffer.alloc(words.length * 4);
  words.forEach((word, index) => {
    out.writeUInt32BE(word >>> 0, index * 4);
  });
  return out;
}

/** Reads a loss list back (tests, and a peer's NAK if one ever needed reading). */
export function readLossList(cif: Buffer): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let offset = 0; offset + 4 <= cif.length; offset += 4) {
    const word = cif.readUInt32BE(offset);
    if ((word & 0x8000_0000) !== 0 && offset + 8 <= cif.length) {
      ranges.push([word & SEQ_MASK, cif.readUInt32BE(offset + 4) & SEQ_MASK]);
      offset += 4;
    } else {
      ranges.push([word & SEQ_MASK, word & SEQ_MASK]);
    }
  }
  return ranges;
}
