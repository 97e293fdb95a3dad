// One authorized WHIP publish (RFC 9725): a libdatachannel PeerConnection answering the offer on the
// node's shared ICE UDP port, its tracks' RTP forwarded to the RTP bridge (ffmpeg, RTP → FLV), and the
// FLV pushed through the same FlvMuxer and PublishSession an RTMP publish produces, so the pipeline
// cannot tell the two apart. Keyframes are asked for (PLI, RFC 4585 §6.3.1) when media starts, until
// the bridge has one, and on every pipeline ffmpeg start; lost video packets are NACKed.
// close() runs once and releases the PeerConnection, the bridge and its ffmpeg.
import { randomInt } from 'node:crypto';
import nodeDataChannel from 'node-datachannel';
import { GOP_SECONDS } from '../../../../protocol/media.ts';
import { FlvMuxer, FlvTagType, inspectVideoPayload } from '../rtmp/flv.ts';
import {
  createPublishSession,
  type PublishCloseReason,
  type PublishSession,
  type PublishSessionHandle,
} from '../rtmp/publish-session.ts';
import { RtpBridge } from './rtp-bridge.ts';
import { encodeGenericNack, isRtcp, NackTracker, readSequenceNumber, readSsrc } from './rtp-feedback.ts';
import type { ReadOffer } from './sdp-offer.ts';

type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>;
type Track = InstanceType<typeof nodeDataChannel.Track>;

/** No RTP for this long counts as a dropped publisher, as an RTMP socket silent for 10 s does. */
const DEFAULT_MEDIA_TIMEOUT_MS = 10_000;
/** Offer → answer: gathering host candidates is instant; STUN/TURN may take a round trip or two. */
const GATHERING_TIMEOUT_MS = 3_000;
const DEFAULT_READY_TIMEOUT_MS = 15_000;
const KEYFRAME_RETRY_MS = 500;
const KEYFRAME_RETRIES = 20;
const NACK_INTERVAL_MS = 40;
const WATCHDOG_INTERVAL_MS = 1_000;

export interface IceOptions {
  /** The one UDP port every session's ICE shares (libjuice's UDP mux). */
  readonly port: number;
  readonly bindAddress: string;
  /** `stun:host:port`, `turn:user:pass@host:port` (libdatachannel's URL forms). */
  readonly iceServers: readonly string[];
  /** Addresses advertised as extra host candidates on the shared port: public IP, 127.0.0.1. */
  readonly advertisedAddresses: readonly string[];
}

export interface WhipSessionInit<Grant> {
  readonly id: string;
  readonly grant: Grant;
  /** The offer's trace id (whip-server.ts), kept by the publish session. */
  readonly traceId: string;
  readonly streamKey: string;
  readonly remoteAddress: string;
  readonly offer: ReadOffer;
  readonly ice: IceOptions;
  readonly mediaTimeoutMs?: number;
  /** Offer → first keyframe out of the bridge; default 15 s (ICE, DTLS, PLI, ffmpeg's probe). */
  readonly readyTimeoutMs?: number;
  readonly ffmpegPath?: string;
  readonly logError: (event: string, error: string) => void;
}

/** RFC 8839 §5.1 candidate line: foundation, component, transport, priority, address, port, type. */
export function candidateLines(addresses: readonly string[], port: number): string[] {
  return addresses.map((address, index) => {
    const priority = 2_130_706_431 - index;
    return `a=candidate:${100 + index} 1 UDP ${priority} ${address} ${port} typ host`;
  });
}

/**
 * libdatachannel refuses every send on a recvonly track, RTCP feedback included, so it is told the
 * publisher's sections are sendrecv and the NACKs can go out; the publisher is answered recvonly
 * (RFC 8829 §5.3.1: the answer to sendonly is recvonly), which is what this session does.
 */
function toStackOffer(sdp: string): string {
  return sdp.replace(/^a=sendonly$/gm, 'a=sendrecv');
}

/** The bitrate a browser's bandwidth estimate starts from (Chromium's default is 300 kbps). */
export const START_BITRATE_KBPS = 1_500;

/**
 * The answer the publisher gets: recvonly, and no transport-wide congestion control (this server
 * sends no transport-cc feedback; a sender that negotiated it and hears nothing lowers its estimate
 * to the floor, about 30 kbps in Chromium). Without it the sender uses loss-based estimation from
 * our receiver reports, started at START_BITRATE_KBPS through Chromium's fmtp parameter (ignored by
 * OBS and the others).
 */
export function toPublisherAnswer(sdp: string): string {
  const transportCcIds = new Set<string>();
  for (const match of sdp.matchAll(/^a=extmap:(\d+)(?:\/\w+)? \S*transport-wide-cc\S*$/gm)) {
    if (match[1] !== undefined) transportCcIds.add(match[1]);
  }
  const lines = sdp.split(/\r?\n/).filter((line) => {
    if (/^a=rtcp-fb:\S+ transport-cc$/.test(line)) return false;
    const extmap = /^a=extmap:(\d+)/.exec(line);
    return extmap === null || !transportCcIds.has(extmap[1] ?? '');
  });
  let video = false;
  const out = lines.map((line) => {
    if (line.startsWith('m=')) video = line.startsWith('m=video');
    if (line === 'a=sendrecv') return 'a=recvonly';
    if (video && /^a=fmtp:\d+ .*packetization-mode=/.test(line) && !line.includes('x-google-start-bitrate')) {
      return `${line};x-google-start-bitrate=${START_BITRATE_KBPS}`;
    }
    return line;
  });
  return out.join('\r\n');
}

/** Puts the advertised candidates in every media section, before its a=end-of-candidates if any. */
export function addCandidates(answer: string, candidates: readonly string[]): string {
  if (candidates.length === 0) return answer;
  const sections: string[][] = [[]];
  for (const line of answer.split(/\r?\n/)) {
    if (line === '') continue;
    if (line.startsWith('m=')) sections.push([]);
    sections.at(-1)?.push(line);
  }
  const out = sections.flatMap((lines, index) => {
    if (index === 0) return lines;
    const end = lines.indexOf('a=end-of-candidates');
    return end === -1
      ? [...lines, ...candidates]
      : [...lines.slice(0, end), ...candidates, ...lines.slice(end)];
  });
  return `${out.join('\r\n')}\r\n`;
}

export class WhipSession<Grant> {
  readonly id: string;
  readonly #init: WhipSessionInit<Grant>;
  readonly #pc: PeerConnection;
  readonly #bridge: RtpBridge;
  readonly #muxer = new FlvMuxer();
  readonly #handle: PublishSessionHandle<Grant>;
  readonly #nacks = new NackTracker();
  readonly #feedbackSsrc = randomInt(1, 0xffff_fffe);
  #videoTrack: Track | null = null;
  /**
   * Every track this session receives, held for its lifetime: node-datachannel closes a Track whose
   * JavaScript object is garbage-collected, so a track referenced only by its callbacks stops
   * delivering after the next collection (the audio of a browser publish went silent after ~4 s).
   */
  readonly #tracks: Track[] = [];
  #videoSsrc: number | null = null;
  #lastPacketAt = Date.now();
  #sawVideoKeyframe = false;
  #keyframeTimer: NodeJS.Timeout | null = null;
  #nackTimer: NodeJS.Timeout | null = null;
  readonly #watchdog: NodeJS.Timeout;
  #closed = false;
  #ready = false;
  readonly #readyTimer: NodeJS.Timeout;
  #readyListeners: Array<() => void> = [];
  #closeListeners: Array<(reason: PublishCloseReason) => void> = [];

  constructor(init: WhipSessionInit<Grant>) {
    this.id = init.id;
    this.#init = init;
    this.#pc = new nodeDataChannel.PeerConnection(`whip-${init.id}`, {
      iceServers: [...init.ice.iceServers],
      enableIceUdpMux: true,
      portRangeBegin: init.ice.port,
      portRangeEnd: init.ice.port,
      bindAddress: init.ice.bindAddress,
    });
    this.#bridge = new RtpBridge({
      video: init.offer.video,
      audio: init.offer.audio,
      ...(init.ffmpegPath === undefined ? {} : { ffmpegPath: init.ffmpegPath }),
    });
    this.#handle = createPublishSession({
      grant: init.grant,
      traceId: init.traceId,
      streamKey: init.streamKey,
      app: 'whip',
      remoteAddress: init.remoteAddress,
      muxer: this.#muxer,
      readBytesIn: () => (this.#closed ? 0 : this.#pc.bytesReceived()),
      closeConnection: (reason) => this.close(reason),
      logListenerError: (error) => init.logError('whip.listener_failed', String(error)),
    });
    const timeout = init.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS;
    this.#watchdog = setInterval(
      () => {
        if (Date.now() - this.#lastPacketAt > timeout) this.close('publisher_lost');
      },
      Math.min(WATCHDOG_INTERVAL_MS, timeout),
    );
    this.#readyTimer = setTimeout(
      () => this.close('publisher_lost'),
      init.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    );
  }

  /** True once the bridge produced media a decoder can start on (and the pipeline may attach). */
  get ready(): boolean {
    return this.#ready;
  }

  /** Called once, when the first keyframe (or, audio-only, the first audio) leaves the bridge. */
  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
  }

  get session(): PublishSession<Grant> {
    return this.#handle.session;
  }

  get bridgePid(): number | null {
    return this.#bridge.pid;
  }

  /**
   * Sets the offer, starts the bridge and returns the SDP answer once ICE gathering is complete
   * (RFC 9725 §4.2: the answer carries all candidates, as OBS does not trickle).
   */
  async answer(): Promise<string> {
    this.#pc.onTrack((track) => this.#onTrack(track));
    this.#pc.onStateChange((state) => {
      if (state === 'failed' || state === 'closed') this.close('publisher_lost');
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
      // The pipeline attaches on the first tag it can start on (after the sequence headers, which it
      // gets from the muxer's start bytes): it then plans the ladder on the real source.
      const opensMedia =
        this.#init.offer.video === null
          ? tag.type === FlvTagType.AUDIO
          : video?.isKeyframe === true && !video.isSequenceHeader;
      if (opensMedia) this.#sawVideoKeyframe = true;
      if (opensMedia && !this.#ready) {
        this.#ready = true;
        clearTimeout(this.#readyTimer);
        for (const listener of this.#readyListeners.splice(0)) listener();
      }
      if (this.#ready) this.#handle.deliverMedia(flv);
    });
    this.#bridge.onExit((error) => {
      this.#init.logError('whip.bridge_exited', `${error}: ${this.#bridge.stderrTail.slice(-3).join(' | ')}`);
      this.close('protocol_error');
    });
    // Throws on an offer libdatachannel cannot take: the caller answers 400 and closes us.
    this.#pc.setRemoteDescription(toStackOffer(this.#init.offer.sdp), 'offer');
    await this.#bridge.start();
    const started = Date.now();
    while (this.#pc.gatheringState() !== 'complete' && Date.now() - started < GATHERING_TIMEOUT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const local = this.#pc.localDescription();
    if (local === null || local.type !== 'answer') throw new Error('no SDP answer was produced');
    return addCandidates(
      toPublisherAnswer(local.sdp),
      candidateLines(this.#init.ice.advertisedAddresses, this.#init.ice.port),
    );
  }

  /** A PLI on the video track: a pipeline ffmpeg (re)start must begin on a keyframe. */
  requestKeyframe(): void {
    if (this.#closed) return;
    this.#videoTrack?.requestKeyframe();
  }

  onClose(listener: (reason: PublishCloseReason) => void): void {
    this.#closeListeners.push(listener);
  }

  #onTrack(track: Track): void {
    const isVideo = track.type() === 'video';
    this.#tracks.push(track);
    track.setMediaHandler(new nodeDataChannel.RtcpReceivingSession());
    if (isVideo) {
      this.#videoTrack = track;
      this.#nackTimer = setInterval(() => this.#sendNacks(), NACK_INTERVAL_MS);
    }
    track.onOpen(() => {
      if (isVideo) this.#askForKeyframeUntilSeen();
    });
    track.onMessage((packet) => {
      if (this.#closed || isRtcp(packet) || packet.length < 12) return;
      this.#lastPacketAt = Date.now();
      if (isVideo) {
        this.#videoSsrc ??= readSsrc(packet);
        if (readSsrc(packet) === this.#videoSsrc) this.#nacks.receive(readSequenceNumber(packet), Date.now());
        this.#bridge.sendVideo(packet);
      } else {
        this.#bridge.sendAudio(packet);
      }
    });
  }

  /**
   * ffmpeg cannot start the FLV before it has parameter sets and an IDR: ask until one came. Then
   * ask every GOP_SECONDS: a WebRTC encoder sends keyframes only when asked, and a 2 s GOP is what
   * lets the pipeline pass the source through (docs/architecture.md, "Why these numbers") instead
   * of re-encoding it.
   */
  #askForKeyframeUntilSeen(): void {
    let tries = 0;
    const ask = () => {
      if (this.#closed) return;
      if (this.#sawVideoKeyframe) {
        this.#keyframeTimer = setInterval(() => this.requestKeyframe(), GOP_SECONDS * 1000);
        return;
      }
      if (tries >= KEYFRAME_RETRIES) return;
      tries += 1;
      this.#videoTrack?.requestKeyframe();
      this.#keyframeTimer = setTimeout(ask, KEYFRAME_RETRY_MS);
    };
    ask();
  }

  #sendNacks(): void {
    const track = this.#videoTrack;
    if (this.#closed || track === null || this.#videoSsrc === null || !track.isOpen()) return;
    const missing = this.#nacks.takeNacks(Date.now());
    if (missing.length === 0) return;
    for (const packet of encodeGenericNack(this.#feedbackSsrc, this.#videoSsrc, missing)) {
      track.sendMessageBinary(packet);
    }
  }

  /** Ends the publish: the pipeline hears `reason` through the PublishSession. Runs once. */
  close(reason: PublishCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#readyTimer);
    if (this.#keyframeTimer !== null) clearInterval(this.#keyframeTimer);
    if (this.#nackTimer !== null) clearInterval(this.#nackTimer);
    this.#bridge.close();
    this.#tracks.length = 0;
    try {
      this.#pc.close();
    } catch (error) {
      this.#init.logError('whip.close_failed', String(error));
    }
    this.#handle.finish(reason);
    for (const listener of this.#closeListeners.splice(0)) listener(reason);
  }
}
