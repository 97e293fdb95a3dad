// The bridge from a WebRTC session's decrypted RTP to the FLV every other part of the transcoder
// reads: one ffmpeg per WHIP session takes the RTP on two loopback UDP ports described by an SDP
// (media-facts: "-protocol_whitelist file,udp,rtp", payload types rewritten to the SDP's), copies
// H.264 (VP8 has no FLV mapping, so it is encoded to H.264 here), turns Opus into AAC (HLS players
// need AAC, RFC 8216 §3.4 lists no Opus in MPEG-TS/fMP4 for Apple players) and writes FLV on stdout.
// That FLV then enters the same pipeline an RTMP publish feeds (ladder, LL-HLS, DVR, VOD, clips).
// The bridge owns its process and sockets: close() kills ffmpeg and frees both; nothing outlives it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import type { FlvTag } from '../rtmp/flv.ts';
import { FlvTagReader, wireFlvBridge } from './flv-tag-reader.ts';
import type { ChosenAudio, ChosenVideo } from './sdp-offer.ts';

/** The payload types ffmpeg's SDP names; the publisher's are rewritten to these. */
export const BRIDGE_VIDEO_PT = 96;
export const BRIDGE_AUDIO_PT = 97;
const STDERR_TAIL_LINES = 20;
const PORT_ATTEMPTS = 20;

export interface RtpBridgeOptions {
  readonly video: ChosenVideo | null;
  readonly audio: ChosenAudio | null;
  readonly ffmpegPath?: string;
}

/** RFC 8866 §5.14 media descriptions on loopback, one per track, with the bridge's payload types. */
export function buildBridgeSdp(
  video: ChosenVideo | null,
  audio: ChosenAudio | null,
  ports: { video: number; audio: number },
): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=whip', 'c=IN IP4 127.0.0.1', 't=0 0'];
  if (video !== null) {
    lines.push(`m=video ${ports.video} RTP/AVP ${BRIDGE_VIDEO_PT}`);
    if (video.codec === 'h264') {
      lines.push(`a=rtpmap:${BRIDGE_VIDEO_PT} H264/90000`);
      // Only the parameters ffmpeg's depacketizer reads; sprop-parameter-sets are in-band anyway.
      lines.push(`a=fmtp:${BRIDGE_VIDEO_PT} packetization-mode=1`);
    } else {
      lines.push(`a=rtpmap:${BRIDGE_VIDEO_PT} VP8/90000`);
    }
  }
  if (audio !== null) {
    lines.push(
      `m=audio ${ports.audio} RTP/AVP ${BRIDGE_AUDIO_PT}`,
      `a=rtpmap:${BRIDGE_AUDIO_PT} opus/48000/2`,
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function buildBridgeArgs(video: ChosenVideo | null, audio: ChosenAudio | null): string[] {
  const args = ['-hide_banner', '-nostats', '-loglevel', 'error'];
  // One second of probing: Opus is fully described by the SDP, H.264 by the first keyframe, which
  // the session asks for (PLI) as soon as the track opens; the default 5 s would delay every start.
  args.push('-analyzeduration', '1000000', '-protocol_whitelist', 'pipe,udp,rtp');
  args.push('-reorder_queue_size', '128', '-f', 'sdp', '-i', 'pipe:0');
  if (video !== null) {
    args.push('-map', '0:v:0');
    if (video.codec === 'h264') args.push('-c:v', 'copy');
    else args.push('-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p');
  }
  if (audio !== null) args.push('-map', '0:a:0', '-c:a', 'aac', '-b:a', '128k', '-ar', '48000');
  args.push('-f', 'flv', '-flvflags', 'no_duration_filesize', 'pipe:1');
  return args;
}

/** Binds and frees a pair of ports (RTP p and RTCP p+1, RFC 3550 §11) for ffmpeg to take. */
async function reservePortPair(): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt += 1) {
    const first = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      first.once('error', reject);
      first.bind(0, '127.0.0.1', () => resolve(first.address().port));
    });
    const second = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      second.once('error', () => resolve(false));
      second.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    first.close();
    if (free) second.close();
    if (free && port % 2 === 0) return port;
  }
  throw new Error('no free UDP port pair on loopback');
}

export class RtpBridge {
  readonly #options: RtpBridgeOptions;
  readonly #reader = new FlvTagReader();
  #child: ChildProcess | null = null;
  #socket: Socket | null = null;
  #ports = { video: 0, audio: 0 };
  #tagListener: (tag: FlvTag) => void = () => {};
  #exitListener: (error: string) => void = () => {};
  #closed = false;
  readonly #stderr: string[] = [];

  constructor(options: RtpBridgeOptions) {
    this.#options = options;
  }

  onTag(listener: (tag: FlvTag) => void): void {
    this.#tagListener = listener;
  }

  /** Called once if ffmpeg exits or its output is unreadable before close(). */
  onExit(listener: (error: string) => void): void {
    this.#exitListener = listener;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  get stderrTail(): readonly string[] {
    return this.#stderr;
  }

  async start(): Promise<void> {
    const { video, audio } = this.#options;
    this.#ports = {
      video: video === null ? 0 : await reservePortPair(),
      audio: audio === null ? 0 : await reservePortPair(),
    };
    if (this.#closed) return;
    const socket = createSocket('udp4');
    this.#socket = socket;
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const child = spawn(this.#options.ffmpegPath ?? 'ffmpeg', buildBridgeArgs(video, audio), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child = child;
    wireFlvBridge(child, {
      reader: this.#reader,
      stderr: this.#stderr,
      stderrLines: STDERR_TAIL_LINES,
      onTag: (tag) => this.#tagListener(tag),
      onFail: (error) => this.#fail(error),
    });
    child.stdin?.end(buildBridgeSdp(video, audio, this.#ports));
  }

  /** Forwards one RTP packet of the video track, its payload type rewritten to the SDP's. */
  sendVideo(packet: Buffer): void {
    this.#send(packet, BRIDGE_VIDEO_PT, this.#ports.video);
  }

  sendAudio(packet: Buffer): void {
    this.#send(packet, BRIDGE_AUDIO_PT, this.#ports.audio);
  }

  #send(packet: Buffer, payloadType: number, port: number): void {
    if (this.#closed || this.#socket === null || port === 0 || packet.length < 12) return;
    packet[1] = ((packet[1] ?? 0) & 0x80) | payloadType;
    this.#socket.send(packet, port, '127.0.0.1');
  }

  #fail(error: string): void {
    if (this.#closed) return;
    this.close();
    this.#exitListener(error);
  }

  /** Kills ffmpeg and frees the socket; runs once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.close();
    this.#socket = null;
    const child = this.#child;
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
