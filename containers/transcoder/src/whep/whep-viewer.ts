// One WHEP viewer (draft-ietf-wish-whep): a libdatachannel PeerConnection on the node's shared ICE UDP
// port answering the viewer's receive-only offer with a send-only H.264 track (and an Opus one when
// the offer has audio). Access units from the source's AvcFeed go through libdatachannel's
// H264RtpPacketizer (RFC 6184 FU-A / single NAL), RtcpSrReporter (sender reports, so the receiver
// can map RTP time to wall clock) and RtcpNackResponder (retransmits what the viewer NACKs from the
// last packets sent); Opus packets from the stream's Opus encoder, one per RTP packet. A viewer
// starts on the next keyframe; until then nothing is sent. close() runs once.
import { randomInt } from 'node:crypto';
import nodeDataChannel from 'node-datachannel';
import { addCandidates, candidateLines, type IceOptions } from '../whip/whip-session.ts';
import type { AccessUnit } from './avc-feed.ts';
import type { OpusPacket } from './opus-encoder.ts';
import type { ViewerOffer } from './viewer-offer.ts';

type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>;
type Track = InstanceType<typeof nodeDataChannel.Track>;
type RtpPacketizationConfig = InstanceType<typeof nodeDataChannel.RtpPacketizationConfig>;
type MediaHandler = InstanceType<typeof nodeDataChannel.RtcpNackResponder>;

const GATHERING_TIMEOUT_MS = 3_000;
/** Answer → connected: ICE and DTLS take well under a second on a working path. */
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** RTP packets kept for retransmission: about 1 s of a 4 Mbps stream in 1,200-byte packets. */
const NACK_HISTORY_PACKETS = 512;
/** Payload bytes per RTP packet: under a 1,280-byte path MTU with the SRTP and IP/UDP overhead. */
const MAX_FRAGMENT_BYTES = 1_200;
const CLOCK_RATE = 90_000;
const OPUS_CLOCK_RATE = 48_000;
/**
 * A receiver sends RTCP receiver reports about once a second (RFC 3550 §6.2; Chromium and
 * libdatachannel do), so none for 10 s means it is gone. A viewer that closed its PeerConnection
 * without DELETE left ours 'connected' for over 20 s in the tests, and a gone viewer would hold its
 * place under the node's cap and cost its bitrate until then.
 */
const DEFAULT_FEEDBACK_TIMEOUT_MS = 10_000;
const WATCHDOG_INTERVAL_MS = 1_000;

export type ViewerCloseReason = 'viewer_closed' | 'viewer_lost' | 'source_ended' | 'server_closed';

export interface WhepViewerInit {
  readonly id: string;
  readonly offer: ViewerOffer;
  readonly ice: IceOptions;
  readonly connectTimeoutMs?: number;
  /** Connected and no RTCP from the viewer for this long: it is gone (default 10 s). */
  readonly feedbackTimeoutMs?: number;
  readonly logError: (event: string, error: string) => void;
  /** The viewer asked for a keyframe (RTCP PLI, RFC 4585 §6.3.1). */
  readonly onKeyframeRequest: () => void;
}

export class WhepViewer {
  readonly id: string;
  readonly #init: WhepViewerInit;
  readonly #pc: PeerConnection;
  /**
   * Held for the viewer's life: node-datachannel closes a Track (and frees a handler) whose
   * JavaScript object is garbage-collected (docs/webrtc.md, "Tracks are held").
   */
  readonly #video: Track;
  readonly #tracks: Track[];
  #audio: {
    readonly track: Track;
    readonly config: RtpPacketizationConfig;
    readonly startTimestamp: number;
    readonly handlers: MediaHandler[];
  } | null = null;
  /** Source sample (48 kHz) of the first Opus packet sent: RTP time 0 of this viewer's audio. */
  #firstAudioSample: number | null = null;
  readonly #rtpConfig: RtpPacketizationConfig;
  readonly #handlers: MediaHandler[];
  readonly #startTimestamp: number;
  /** PTS (ms) of the first access unit sent: RTP time 0 of this viewer. */
  #firstPtsMs: number | null = null;
  #connectTimer: NodeJS.Timeout;
  #closed = false;
  #closeListeners: Array<(reason: ViewerCloseReason) => void> = [];
  #unitsSent = 0;
  #lastFeedbackAt = Date.now();
  #feedbackPackets = 0;
  readonly #feedbackTimeoutMs: number;
  #watchdog: NodeJS.Timeout | null = null;

  constructor(init: WhepViewerInit) {
    this.id = init.id;
    this.#init = init;
    this.#feedbackTimeoutMs = init.feedbackTimeoutMs ?? DEFAULT_FEEDBACK_TIMEOUT_MS;
    this.#pc = new nodeDataChannel.PeerConnection(`whep-${init.id}`, {
      iceServers: [...init.ice.iceServers],
      enableIceUdpMux: true,
      portRangeBegin: init.ice.port,
      portRangeEnd: init.ice.port,
      bindAddress: init.ice.bindAddress,
    });
    const ssrc = randomInt(1, 0xffff_fffe);
    const cname = `whep-${init.id.slice(0, 8)}`;
    // A local track per offered mid, added before the offer is set: libdatachannel answers a
    // remote section with the local track of the same mid, so the answer carries our SSRC.
    const video = new nodeDataChannel.Video(init.offer.video.mid, 'SendOnly');
    video.addH264Codec(init.offer.video.payloadType, init.offer.video.fmtp);
    video.addSSRC(ssrc, cname, 'live', 'video');
    this.#video = this.#pc.addTrack(video);
    this.#tracks = [this.#video];
    if (init.offer.audio !== null) {
      const audioSsrc = (ssrc % 0xffff_fffe) + 1;
      const audio = new nodeDataChannel.Audio(init.offer.audio.mid, 'SendOnly');
      audio.addOpusCodec(init.offer.audio.payloadType);
      audio.addSSRC(audioSsrc, cname, 'live', 'audio');
      const track = this.#pc.addTrack(audio);
      const config = new nodeDataChannel.RtpPacketizationConfig(
        audioSsrc,
        cname,
        init.offer.audio.payloadType,
        OPUS_CLOCK_RATE,
      );
      // One Opus packet per RTP packet (RFC 7587 §4.2): the plain packetizer does exactly that.
      const packetizer = new nodeDataChannel.RtpPacketizer(config);
      const reporter = new nodeDataChannel.RtcpSrReporter(config);
      packetizer.addToChain(reporter);
      track.setMediaHandler(packetizer);
      this.#tracks.push(track);
      this.#audio = { track, config, startTimestamp: config.timestamp, handlers: [packetizer, reporter] };
    }
    this.#rtpConfig = new nodeDataChannel.RtpPacketizationConfig(
      ssrc,
      cname,
      init.offer.video.payloadType,
      CLOCK_RATE,
    );
    this.#startTimestamp = this.#rtpConfig.timestamp;
    const packetizer = new nodeDataChannel.H264RtpPacketizer('Length', this.#rtpConfig, MAX_FRAGMENT_BYTES);
    const reporter = new nodeDataChannel.RtcpSrReporter(this.#rtpConfig);
    const nacks = new nodeDataChannel.RtcpNackResponder(NACK_HISTORY_PACKETS);
    packetizer.addToChain(reporter);
    packetizer.addToChain(nacks);
    this.#video.setMediaHandler(packetizer);
    this.#handlers = [packetizer, reporter, nacks];
    this.#video.onMessage((packet) => {
      this.#lastFeedbackAt = Date.now();
      this.#feedbackPackets += 1;
      // RTCP PSFB (206) with FMT 1 is a Picture Loss Indication.
      if (packet[1] === 206 && ((packet[0] ?? 0) & 0x1f) === 1) init.onKeyframeRequest();
    });
    this.#connectTimer = setTimeout(
      () => this.close('viewer_lost'),
      init.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    );
  }

  get unitsSent(): number {
    return this.#unitsSent;
  }

  get feedbackPackets(): number {
    return this.#feedbackPackets;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sets the offer and returns the answer once ICE gathering is complete (no trickle ICE). */
  async answer(): Promise<string> {
    this.#pc.onStateChange((state) => {
      if (state === 'connected') {
        clearTimeout(this.#connectTimer);
        this.#lastFeedbackAt = Date.now();
        this.#watchdog ??= setInterval(() => {
          if (Date.now() - this.#lastFeedbackAt > this.#feedbackTimeoutMs) this.close('viewer_lost');
        }, WATCHDOG_INTERVAL_MS);
      }
      if (state === 'failed' || state === 'closed') this.close('viewer_lost');
    });
    this.#pc.setRemoteDescription(this.#init.offer.sdp, 'offer');
    const started = Date.now();
    while (this.#pc.gatheringState() !== 'complete' && Date.now() - started < GATHERING_TIMEOUT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const local = this.#pc.localDescription();
    if (local === null || local.type !== 'answer') throw new Error('no SDP answer was produced');
    return addCandidates(local.sdp, candidateLines(this.#init.ice.advertisedAddresses, this.#init.ice.port));
  }

  /** Sends one access unit; before the viewer's first keyframe, units are skipped. */
  send(unit: AccessUnit): void {
    if (this.#closed || !this.#video.isOpen()) return;
    if (this.#firstPtsMs === null) {
      if (!unit.keyframe) return;
      this.#firstPtsMs = unit.ptsMs;
    }
    const elapsed = Math.max(0, unit.ptsMs - this.#firstPtsMs);
    // RFC 3550 §5.1: the timestamp is modulo 2^32, from a random start.
    this.#rtpConfig.timestamp = (this.#startTimestamp + elapsed * (CLOCK_RATE / 1000)) % 2 ** 32;
    this.#video.sendMessageBinary(unit.data);
    this.#unitsSent += 1;
  }

  /**
   * Sends one Opus packet, once the video has started (the viewer's audio and video begin together;
   * both are sent as they are ready, so their sender reports map them to the same wall clock).
   */
  sendAudio(packet: OpusPacket): void {
    const audio = this.#audio;
    if (this.#closed || audio === null || this.#firstPtsMs === null || !audio.track.isOpen()) return;
    this.#firstAudioSample ??= packet.startSample;
    const elapsed = packet.startSample - this.#firstAudioSample;
    if (elapsed < 0) return;
    audio.config.timestamp = (audio.startTimestamp + elapsed) % 2 ** 32;
    audio.track.sendMessageBinary(packet.data);
  }

  onClose(listener: (reason: ViewerCloseReason) => void): void {
    this.#closeListeners.push(listener);
  }

  close(reason: ViewerCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    try {
      this.#pc.close();
    } catch (error) {
      this.#init.logError('whep.close_failed', String(error));
    }
    // Referenced until the PeerConnection is closed, then let go together.
    this.#tracks.length = 0;
    this.#handlers.length = 0;
    this.#audio = null;
    for (const listener of this.#closeListeners.splice(0)) listener(reason);
  }
}
