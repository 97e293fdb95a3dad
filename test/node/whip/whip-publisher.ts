// A real WHIP publisher for Node tests: ffmpeg encodes a test pattern (H.264 Constrained Baseline)
// and a tone (Opus) to RTP on loopback, and a libdatachannel PeerConnection sends those packets to
// the transcoder's WHIP endpoint over ICE + DTLS-SRTP, as OBS's WHIP output (the same library) does.
// The RTCP the server sends back (PLI, NACK) is recorded so tests can check what was asked for.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import nodeDataChannel from 'node-datachannel';
import { trackMediaZero } from '../../../scripts/lib/media-clock.ts';

type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>;
type Track = InstanceType<typeof nodeDataChannel.Track>;

export const VIDEO_SSRC = 0x1234_5678;
export const AUDIO_SSRC = 0x0abc_def0;
const VIDEO_PT = 102;
const AUDIO_PT = 111;

export interface RtcpSeen {
  /** RTCP packet type (205 RTPFB, 206 PSFB) and FMT of each feedback packet received. */
  readonly type: number;
  readonly fmt: number;
  readonly bytes: Buffer;
}

export interface WhipPublisher {
  readonly location: string;
  readonly etag: string | null;
  readonly status: number;
  readonly rtcp: RtcpSeen[];
  /** RTP packets sent so far on the video track. */
  readonly videoPacketsSent: () => number;
  /** Makes the next video packet "lost": it is not sent, the later ones are. */
  dropNextVideoPacket(): void;
  /** Wall clock (epoch ms) at which ffmpeg read media time 0 (`-re`), null before it reported. */
  mediaZeroAt(): number | null;
  /** Stops sending and closes the connection, as a dropped publisher would: the node notices later. */
  close(): void;
  /** Closes, then DELETEs the session as a leaving client does, so the key is free at once. */
  end(): Promise<void>;
}

export async function createOffer(): Promise<{
  pc: PeerConnection;
  video: Track;
  audio: Track;
  sdp: string;
}> {
  const pc = new nodeDataChannel.PeerConnection('whip-test-publisher', {
    iceServers: [],
    bindAddress: '127.0.0.1',
  });
  const videoDescription = new nodeDataChannel.Video('0', 'SendOnly');
  // Listed VP8 first, as Chromium does: the server must still pick H.264.
  videoDescription.addVP8Codec(96);
  videoDescription.addH264Codec(
    VIDEO_PT,
    'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
  );
  videoDescription.addSSRC(VIDEO_SSRC, 'test', 'stream', 'video');
  const video = pc.addTrack(videoDescription);
  const audioDescription = new nodeDataChannel.Audio('1', 'SendOnly');
  audioDescription.addOpusCodec(AUDIO_PT);
  audioDescription.addSSRC(AUDIO_SSRC, 'test', 'stream', 'audio');
  const audio = pc.addTrack(audioDescription);
  pc.setLocalDescription();
  const started = Date.now();
  while (pc.gatheringState() !== 'complete' && Date.now() - started < 3_000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const sdp = pc.localDescription()?.sdp ?? '';
  return { pc, video, audio, sdp };
}

async function bindLoopback(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/** POSTs an offer from a fresh PeerConnection and, on 201, streams ffmpeg's RTP through it. */
export async function publishOverWhip(
  whipUrl: string,
  streamKey: string,
  seconds = 30,
): Promise<WhipPublisher> {
  const { pc, video, audio, sdp } = await createOffer();
  const response = await fetch(whipUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${streamKey}` },
    body: sdp,
  });
  const answer = await response.text();
  const rtcp: RtcpSeen[] = [];
  let sent = 0;
  let dropNext = false;
  let ffmpeg: ChildProcess | null = null;
  const sockets: Socket[] = [];
  const close = () => {
    ffmpeg?.kill('SIGKILL');
    for (const socket of sockets) socket.close();
    sockets.length = 0;
    pc.close();
  };
  const location = response.headers.get('location') ?? '';
  const end = async () => {
    close();
    if (response.status !== 201 || location === '') return;
    await fetch(new URL(location, whipUrl), {
      method: 'DELETE',
      headers: { authorization: `Bearer ${streamKey}` },
      signal: AbortSignal.timeout(5_000),
    })
      .then((res) => res.body?.cancel())
      .catch(() => undefined);
  };
  if (response.status !== 201) {
    close();
    return {
      location: '',
      etag: null,
      status: response.status,
      rtcp,
      videoPacketsSent: () => 0,
      dropNextVideoPacket() {},
      mediaZeroAt: () => null,
      close,
      end,
    };
  }
  pc.setRemoteDescription(answer, 'answer');
  video.onMessage((packet) => {
    const type = packet[1] ?? 0;
    if (type === 205 || type === 206)
      rtcp.push({ type, fmt: (packet[0] ?? 0) & 0x1f, bytes: Buffer.from(packet) });
  });
  const videoIn = await bindLoopback();
  const audioIn = await bindLoopback();
  sockets.push(videoIn, audioIn);
  videoIn.on('message', (packet) => {
    if (!video.isOpen()) return;
    if (dropNext) {
      dropNext = false;
      return;
    }
    sent += 1;
    video.sendMessageBinary(packet);
  });
  audioIn.on('message', (packet) => {
    if (audio.isOpen()) audio.sendMessageBinary(packet);
  });
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (pc.state() === 'connected' && video.isOpen()) {
        clearTimeout(timer);
        clearInterval(check);
        resolve();
      }
    }, 20);
    const timer = setTimeout(() => {
      clearInterval(check);
      reject(new Error('the WHIP session did not connect'));
    }, 10_000);
  }).catch(async (error: unknown) => {
    // The session the server made is ended, so a retry can publish the key again at once.
    await end();
    throw error;
  });
  // prettier-ignore
  ffmpeg = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=640x360:rate=30:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
      '-map',
      '0:v',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-profile:v',
      'baseline',
      '-g',
      '60',
      '-pix_fmt',
      'yuv420p',
      '-f',
      'rtp',
      '-payload_type',
      String(VIDEO_PT),
      '-ssrc',
      String(VIDEO_SSRC),
      '-pkt_size',
      '1200',
      `rtp://127.0.0.1:${videoIn.address().port}`,
      '-map',
      '1:a',
      '-c:a',
      'libopus',
      '-b:a',
      '64k',
      '-f',
      'rtp',
      '-payload_type',
      String(AUDIO_PT),
      '-ssrc',
      String(AUDIO_SSRC),
      `rtp://127.0.0.1:${audioIn.address().port}`,
      '-progress',
      'pipe:1',
      '-stats_period',
      '0.25',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const mediaZeroAt = trackMediaZero(ffmpeg.stdout);
  return {
    location,
    etag: response.headers.get('etag'),
    status: response.status,
    rtcp,
    videoPacketsSent: () => sent,
    dropNextVideoPacket() {
      dropNext = true;
    },
    mediaZeroAt,
    close,
    end,
  };
}
