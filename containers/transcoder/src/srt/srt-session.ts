// One accepted SRT publish (draft-sharabayko-srt-01, live mode, this side the receiver): its data
// packets are decrypted, put in order by the receive buffer and written, as MPEG-TS, into the TS
// bridge (ffmpeg → FLV), whose tags go through the same FlvMuxer and PublishSession an RTMP publish
// produces, so the pipeline cannot tell the two apart. This side keeps the connection alive as §4
// asks of a receiver: a full ACK every ACK_INTERVAL_MS (§4.8.1, "every 10 milliseconds"), RTT from
// ACKACK, an immediate NAK for every new gap and a periodic one while it stays open (§4.8.2), a
// keepalive when nothing else was sent for a second (§3.2.3), SHUTDOWN honoured. No packet for
// mediaTimeoutMs counts as a dropped publisher, as an RTMP socket silent for 10 s does.
// close() runs once and releases the timer, the bridge and its ffmpeg.
import { FlvMuxer, FlvTagType, inspectVideoPayload } from '../rtmp/flv.ts';
import {
  createPublishSession,
  type PublishCloseReason,
  type PublishSession,
  type PublishSessionHandle,
} from '../rtmp/publish-session.ts';
import { decryptPayload, mergeKeys, readKeyMaterial, type StreamKeys, unwrapKeys } from './key-material.ts';
import {
  type ControlPacket,
  ControlType,
  type DataPacket,
  writeAckCif,
  writeControl,
  writeLossList,
} from './packet.ts';
import { ReceiveBuffer } from './receive-buffer.ts';
import { TsBridge } from './ts-bridge.ts';

const ACK_INTERVAL_MS = 10;
const KEEPALIVE_INTERVAL_MS = 1_000;
/** §4.8.2: the periodic NAK waits about an RTT plus its variance, and never under 20 ms. */
const MIN_NAK_INTERVAL_MS = 20;
const DEFAULT_MEDIA_TIMEOUT_MS = 10_000;
/** Handshake → first keyframe out of the bridge: ffmpeg's probe plus one GOP, with margin. */
const DEFAULT_READY_TIMEOUT_MS = 15_000;
/** ACK numbers remembered for the ACKACK that measures the RTT. */
const MAX_PENDING_ACKS = 64;
/** §6.1.6 key refresh as a user-defined control packet: subtype 3 = KMREQ, 4 = KMRSP. */
const SUBTYPE_KMREQ = 3;
const SUBTYPE_KMRSP = 4;

export interface SrtSessionInit<Grant> {
  /** Our socket id: what the caller puts in every packet's Destination Socket ID. */
  readonly socketId: number;
  readonly peerSocketId: number;
  readonly grant: Grant;
  readonly traceId: string;
  readonly streamKey: string;
  readonly remoteAddress: string;
  readonly initialSeq: number;
  readonly latencyMs: number;
  /** The caller's keys, null for an unencrypted session. */
  readonly keys: StreamKeys | null;
  /** Held to unwrap the keys a caller sends when it refreshes them. */
  readonly passphrase: string | null;
  readonly maxBufferPackets: number;
  readonly maxBufferBytes: number;
  readonly mediaTimeoutMs?: number;
  readonly readyTimeoutMs?: number;
  readonly ffmpegPath?: string;
  send(datagram: Buffer): void;
  logError(event: string, error: string): void;
}

export class SrtSession<Grant> {
  readonly socketId: number;
  readonly #init: SrtSessionInit<Grant>;
  readonly #buffer: ReceiveBuffer;
  readonly #bridge: TsBridge;
  readonly #muxer = new FlvMuxer();
  readonly #handle: PublishSessionHandle<Grant>;
  readonly #startedAt = performance.now();
  readonly #timer: NodeJS.Timeout;
  readonly #readyTimer: NodeJS.Timeout;
  #keys: StreamKeys | null;
  #lastPacketAt = Date.now();
  #lastSentAt = 0;
  #lastAckedSeq = -1;
  #ackNumber = 0;
  readonly #pendingAcks = new Map<number, number>();
  #rttUs = 100_000;
  #rttVarUs = 50_000;
  #bytesIn = 0;
  #packetsIn = 0;
  #rate = { windowStart: Date.now(), packets: 0, bytes: 0, pps: 0, bps: 0 };
  #undecryptable = 0;
  #closed = false;
  #ready = false;
  #readyListeners: Array<() => void> = [];
  #closeListeners: Array<(reason: PublishCloseReason) => void> = [];

  constructor(init: SrtSessionInit<Grant>) {
    this.socketId = init.socketId;
    this.#init = init;
    this.#keys = init.keys;
    this.#buffer = new ReceiveBuffer({
      initialSeq: init.initialSeq,
      latencyMs: init.latencyMs,
      maxPackets: init.maxBufferPackets,
      maxBytes: init.maxBufferBytes,
    });
    this.#bridge = new TsBridge(init.ffmpegPath === undefined ? {} : { ffmpegPath: init.ffmpegPath });
    this.#handle = createPublishSession({
      grant: init.grant,
      traceId: init.traceId,
      streamKey: init.streamKey,
      app: 'srt',
      remoteAddress: init.remoteAddress,
      muxer: this.#muxer,
      readBytesIn: () => this.#bytesIn,
      closeConnection: (reason) => this.close(reason),
      logListenerError: (error) => init.logError('srt.listener_failed', String(error)),
    });
    this.#bridge.onTag((tag) => {
      const video = tag.type === FlvTagType.VIDEO ? inspectVideoPayload(tag.payload) : null;
      const flv = this.#muxer.push({
        csid: 0,
        type: tag.type,
        streamId: 1,
        timestamp: tag.timestamp,
        payload: tag.payload,
      });
      if (flv === null) return;
      // The pipeline attaches on the first keyframe (after the sequence headers, which it gets from
      // the muxer's start bytes): it then plans the ladder on the real source, as for WHIP.
      if (!this.#ready && video?.isKeyframe === true && !video.isSequenceHeader) {
        this.#ready = true;
        clearTimeout(this.#readyTimer);
        for (const listener of this.#readyListeners.splice(0)) listener();
      }
      if (this.#ready) this.#handle.deliverMedia(flv);
    });
    this.#bridge.onExit((error) => {
      init.logError('srt.bridge_exited', `${error}: ${this.#bridge.stderrTail.slice(-3).join(' | ')}`);
      this.close('protocol_error');
    });
    this.#bridge.start();
    this.#timer = setInterval(() => this.#tick(), ACK_INTERVAL_MS);
    this.#readyTimer = setTimeout(
      () => this.close('publisher_lost'),
      init.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    );
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Called once, when the first keyframe leaves the bridge (the pipeline may attach). */
  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
  }

  onClose(listener: (reason: PublishCloseReason) => void): void {
    this.#closeListeners.push(listener);
  }

  get session(): PublishSession<Grant> {
    return this.#handle.session;
  }

  get bridgePid(): number | null {
    return this.#bridge.pid;
  }

  get stats(): {
    packets: number;
    bytes: number;
    dropped: number;
    undecryptable: number;
    heldBytes: number;
    rttUs: number;
  } {
    return {
      packets: this.#packetsIn,
      bytes: this.#bytesIn,
      dropped: this.#buffer.droppedPackets,
      undecryptable: this.#undecryptable,
      heldBytes: this.#buffer.heldBytes,
      rttUs: this.#rttUs,
    };
  }

  get remoteAddress(): string {
    return this.#init.remoteAddress;
  }

  handleData(packet: DataPacket): void {
    if (this.#closed) return;
    const now = Date.now();
    this.#lastPacketAt = now;
    this.#packetsIn += 1;
    this.#bytesIn += packet.payload.length;
    this.#rate.packets += 1;
    this.#rate.bytes += packet.payload.length;
    let payload: Buffer | null = packet.payload;
    if (this.#keys !== null) {
      // An encrypted session takes no clear packet: KK = 0 would let an injected packet through.
      payload =
        packet.keyIndex === 0
          ? null
          : decryptPayload(this.#keys, packet.keyIndex, packet.seq, packet.payload);
    } else if (packet.keyIndex !== 0) {
      payload = null;
    }
    if (payload === null) {
      this.#undecryptable += 1;
      return;
    }
    // The payload is a view of the datagram; the buffer may hold it past this call.
    const result = this.#buffer.receive(packet.seq, Buffer.from(payload), now);
    if (result.newLosses.length > 0) this.#sendNak(result.newLosses);
    for (const chunk of result.deliver) this.#bridge.write(chunk);
  }

  handleControl(packet: ControlPacket): void {
    if (this.#closed) return;
    this.#lastPacketAt = Date.now();
    switch (packet.type) {
      case ControlType.ACKACK: {
        const sentAt = this.#pendingAcks.get(packet.typeSpecific);
        if (sentAt === undefined) return;
        this.#pendingAcks.delete(packet.typeSpecific);
        // §4.10: "RTT = 7/8 * RTT + 1/8 * rtt", "RTTVar = 3/4 * RTTVar + 1/4 * abs(RTT - rtt)".
        const sample = Math.max(1, Math.round((performance.now() - sentAt) * 1000));
        this.#rttVarUs = Math.round((3 * this.#rttVarUs + Math.abs(this.#rttUs - sample)) / 4);
        this.#rttUs = Math.round((7 * this.#rttUs + sample) / 8);
        return;
      }
      case ControlType.SHUTDOWN:
        this.close('publisher_closed');
        return;
      case ControlType.USER_DEFINED:
        if (packet.subtype === SUBTYPE_KMREQ) this.#refreshKeys(packet.cif);
        return;
      default:
        // KEEPALIVE only proves the caller alive (done above); a sender's DROPREQ is covered by the
        // too-late drop; other types are not sent to a receiver.
        return;
    }
  }

  #refreshKeys(message: Buffer): void {
    if (this.#keys === null || this.#init.passphrase === null) return;
    const read = readKeyMaterial(message);
    const keys = read.ok ? unwrapKeys(read.km, this.#init.passphrase) : null;
    if (keys === null) {
      this.#init.logError('srt.key_refresh_refused', read.ok ? 'unwrap failed' : read.error);
      return;
    }
    this.#keys = mergeKeys(this.#keys, keys);
    // The KMRSP echoes the KM message: the sender compares it with what it sent.
    this.#send(
      writeControl(
        ControlType.USER_DEFINED,
        0,
        this.#timestamp(),
        this.#init.peerSocketId,
        message,
        SUBTYPE_KMRSP,
      ),
    );
  }

  #tick(): void {
    const now = Date.now();
    if (now - this.#lastPacketAt > (this.#init.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS)) {
      this.close('publisher_lost');
      return;
    }
    for (const chunk of this.#buffer.dropLate(now)) this.#bridge.write(chunk);
    if (now - this.#rate.windowStart >= 1_000) {
      const seconds = (now - this.#rate.windowStart) / 1000;
      this.#rate = {
        windowStart: now,
        packets: 0,
        bytes: 0,
        pps: this.#rate.packets / seconds,
        bps: this.#rate.bytes / seconds,
      };
    }
    if (this.#buffer.ackSeq !== this.#lastAckedSeq) this.#sendAck();
    const nakInterval = Math.max(MIN_NAK_INTERVAL_MS, (this.#rttUs + 4 * this.#rttVarUs) / 1000);
    const losses = this.#buffer.takeLossReport(now, nakInterval);
    if (losses.length > 0) this.#sendNak(losses);
    if (performance.now() - this.#lastSentAt >= KEEPALIVE_INTERVAL_MS) {
      this.#send(writeControl(ControlType.KEEPALIVE, 0, this.#timestamp(), this.#init.peerSocketId));
    }
  }

  #sendAck(): void {
    this.#ackNumber = (this.#ackNumber + 1) >>> 0 || 1;
    this.#lastAckedSeq = this.#buffer.ackSeq;
    const cif = writeAckCif({
      lastAckedSeqPlusOne: this.#buffer.ackSeq,
      rttUs: this.#rttUs,
      rttVarUs: this.#rttVarUs,
      availableBufferPackets: this.#buffer.availablePackets,
      packetsPerSecond: this.#rate.pps,
      linkCapacityPps: Math.max(this.#rate.pps, 1),
      bytesPerSecond: this.#rate.bps,
    });
    this.#pendingAcks.set(this.#ackNumber, performance.now());
    if (this.#pendingAcks.size > MAX_PENDING_ACKS) {
      const oldest = this.#pendingAcks.keys().next();
      if (!oldest.done) this.#pendingAcks.delete(oldest.value);
    }
    this.#send(
      writeControl(ControlType.ACK, this.#ackNumber, this.#timestamp(), this.#init.peerSocketId, cif),
    );
  }

  #sendNak(ranges: ReadonlyArray<readonly [number, number]>): void {
    this.#send(
      writeControl(ControlType.NAK, 0, this.#timestamp(), this.#init.peerSocketId, writeLossList(ranges)),
    );
  }

  #timestamp(): number {
    return Math.floor((performance.now() - this.#startedAt) * 1000) >>> 0;
  }

  #send(datagram: Buffer): void {
    this.#lastSentAt = performance.now();
    this.#init.send(datagram);
  }

  /** Ends the publish: the pipeline hears `reason` through the PublishSession. Runs once. */
  close(reason: PublishCloseReason): void {
    if (this.#closed) return;
    // Tell the caller, unless it is the one that left (§3.2.7: either side may send SHUTDOWN).
    if (reason !== 'publisher_closed' && reason !== 'publisher_lost') {
      this.#send(
        writeControl(ControlType.SHUTDOWN, 0, this.#timestamp(), this.#init.peerSocketId, Buffer.alloc(4)),
      );
    }
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#readyTimer);
    this.#bridge.close();
    this.#handle.finish(reason);
    for (const listener of this.#closeListeners.splice(0)) listener(reason);
  }
}
