// What the receiving side of a WHIP session says back to the publisher about lost video packets:
// RTCP Generic NACKs (RFC 4585 §6.2.1) for holes in the RTP sequence numbers, so the sender
// retransmits before ffmpeg's reorder queue gives up on them. The WebRTC stack (libdatachannel)
// sends keyframe requests (PLI) itself but asks for no retransmission, so the tracking is here.
// Memory is bounded: at most MAX_MISSING holes are remembered, each asked for at most
// MAX_NACKS_PER_PACKET times and forgotten after MISSING_MAX_AGE_MS.

const MAX_MISSING = 256;
const MAX_NACKS_PER_PACKET = 3;
const MISSING_MAX_AGE_MS = 1_000;
/** A jump this large is a sender restart or a new SSRC, not loss: resynchronize instead. */
const MAX_SEQUENCE_JUMP = 1_000;
/** One RTCP packet carries at most this many FCI entries (each covers 17 sequence numbers). */
const MAX_FCI_PER_PACKET = 32;

/** The RTP header's payload type byte with the marker bit masked (RFC 3550 §5.1). */
export function readPayloadType(packet: Buffer): number {
  return (packet[1] ?? 0) & 0x7f;
}

/**
 * RFC 5761 §4: RTCP packet types 200–204 (and 205/206 feedback) land in payload types 72–78 with
 * the marker bit; a multiplexed RTP session never uses those as RTP payload types.
 */
export function isRtcp(packet: Buffer): boolean {
  const type = packet[1] ?? 0;
  return packet.length >= 8 && type >= 192 && type <= 223;
}

export function readSequenceNumber(packet: Buffer): number {
  return packet.readUInt16BE(2);
}

export function readSsrc(packet: Buffer): number {
  return packet.readUInt32BE(8);
}

/**
 * RFC 4585 §6.1: V=2, P=0, FMT=1 (Generic NACK), PT=205 (RTPFB), length in 32-bit words minus one,
 * sender SSRC, media source SSRC, then FCI entries of PID (16 bits) + BLP (16 bits).
 */
export function encodeGenericNack(
  senderSsrc: number,
  mediaSsrc: number,
  sequenceNumbers: number[],
): Buffer[] {
  const entries: Array<{ pid: number; blp: number }> = [];
  const sorted = [...new Set(sequenceNumbers)].sort((a, b) => a - b);
  for (const seq of sorted) {
    const last = entries.at(-1);
    const offset = last === undefined ? -1 : (seq - last.pid + 0x10000) % 0x10000;
    if (last !== undefined && offset >= 1 && offset <= 16) last.blp |= 1 << (offset - 1);
    else entries.push({ pid: seq, blp: 0 });
  }
  const packets: Buffer[] = [];
  for (let start = 0; start < entries.length; start += MAX_FCI_PER_PACKET) {
    const chunk = entries.slice(start, start + MAX_FCI_PER_PACKET);
    const packet = Buffer.alloc(12 + chunk.length * 4);
    packet[0] = 0x80 | 1;
    packet[1] = 205;
    packet.writeUInt16BE(2 + chunk.length, 2);
    packet.writeUInt32BE(senderSsrc >>> 0, 4);
    packet.writeUInt32BE(mediaSsrc >>> 0, 8);
    chunk.forEach((entry, index) => {
      packet.writeUInt16BE(entry.pid, 12 + index * 4);
      packet.writeUInt16BE(entry.blp, 14 + index * 4);
    });
    packets.push(packet);
  }
  return packets;
}

/** Sequence-number bookkeeping for one media SSRC. */
export class NackTracker {
  #highest: number | null = null;
  readonly #missing = new Map<number, { since: number; asked: number }>();

  get missingCount(): number {
    return this.#missing.size;
  }

  /** Records a received packet's sequence number (wrapping at 2^16). */
  receive(seq: number, now: number): void {
    if (this.#highest === null) {
      this.#highest = seq;
      return;
    }
    const ahead = (seq - this.#highest + 0x10000) % 0x10000;
    if (ahead === 0) return;
    if (ahead < 0x8000) {
      if (ahead > MAX_SEQUENCE_JUMP) {
        this.#missing.clear();
      } else {
        for (let gap = 1; gap < ahead; gap += 1) this.#remember((this.#highest + gap) % 0x10000, now);
      }
      this.#highest = seq;
      return;
    }
    // Older than the highest: a retransmission or a reordered packet fills its hole.
    this.#missing.delete(seq);
  }

  /** The sequence numbers to ask for now; each is asked for at most MAX_NACKS_PER_PACKET times. */
  takeNacks(now: number): number[] {
    const due: number[] = [];
    for (const [seq, hole] of this.#missing) {
      if (now - hole.since > MISSING_MAX_AGE_MS || hole.asked >= MAX_NACKS_PER_PACKET) {
        this.#missing.delete(seq);
        continue;
      }
      hole.asked += 1;
      due.push(seq);
    }
    return due;
  }

  #remember(seq: number, now: number): void {
    if (this.#missing.size >= MAX_MISSING) {
      const oldest = this.#missing.keys().next();
      if (!oldest.done) this.#missing.delete(oldest.value);
    }
    this.#missing.set(seq, { since: now, asked: 0 });
  }
}
