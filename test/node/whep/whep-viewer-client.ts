// A real WHEP viewer for Node tests: a libdatachannel PeerConnection offers receive-only H.264 (and
// Opus) as a browser does, POSTs the offer, and records every RTP packet of the video track. The
// H.264 is then depacketized (RFC 6184: single NAL unit, STAP-A, FU-A) into an Annex B stream that
// ffprobe decodes, so a test checks pictures a decoder can show, not just that bytes arrived.
import { spawn } from 'node:child_process';
import nodeDataChannel from 'node-datachannel';

type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>;
type Track = InstanceType<typeof nodeDataChannel.Track>;

/** The viewer offers Constrained Baseline (102) first and High (104) second, as Chromium does. */
export const BASELINE_PT = 102;
export const HIGH_PT = 104;

export interface WhepViewerClient {
  readonly status: number;
  readonly location: string;
  readonly etag: string | null;
  /** The error body when the POST was refused. */
  readonly errorBody: unknown;
  readonly answer: string;
  /** RTP packets of the video track (RTCP filtered out), in arrival order. */
  readonly packets: Buffer[];
  /** RTP packets of the audio track. */
  readonly audioPackets: Buffer[];
  readonly pc: PeerConnection;
  close(): void;
}

export async function createViewerOffer(): Promise<{
  pc: PeerConnection;
  video: Track;
  audio: Track;
  sdp: string;
}> {
  const pc = new nodeDataChannel.PeerConnection('whep-test-viewer', {
    iceServers: [],
    bindAddress: '127.0.0.1',
  });
  const videoDescription = new nodeDataChannel.Video('0', 'RecvOnly');
  videoDescription.addH264Codec(
    BASELINE_PT,
    'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
  );
  videoDescription.addH264Codec(
    HIGH_PT,
    'profile-level-id=64001f;packetization-mode=1;level-asymmetry-allowed=1',
  );
  const video = pc.addTrack(videoDescription);
  const audioDescription = new nodeDataChannel.Audio('1', 'RecvOnly');
  audioDescription.addOpusCodec(111);
  const audio = pc.addTrack(audioDescription);
  pc.setLocalDescription();
  const started = Date.now();
  while (pc.gatheringState() !== 'complete' && Date.now() - started < 3_000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { pc, video, audio, sdp: pc.localDescription()?.sdp ?? '' };
}

export async function watchOverWhep(whepUrl: string): Promise<WhepViewerClient> {
  const { pc, video, audio, sdp } = await createViewerOffer();
  const packets: Buffer[] = [];
  const audioPackets: Buffer[] = [];
  const receivers = [new nodeDataChannel.RtcpReceivingSession(), new nodeDataChannel.RtcpReceivingSession()];
  // Held for the client's life (a collected Track is closed by node-datachannel).
  const held: unknown[] = [video, audio, ...receivers];
  const isRtp = (packet: Buffer) =>
    packet.length >= 12 && !((packet[1] ?? 0) >= 192 && (packet[1] ?? 0) <= 223);
  for (const [track, into, receiver] of [
    [video, packets, receivers[0]],
    [audio, audioPackets, receivers[1]],
  ] as const) {
    if (receiver !== undefined) track.setMediaHandler(receiver);
    track.onMessage((packet) => {
      if (isRtp(packet)) into.push(Buffer.from(packet));
    });
  }
  const response = await fetch(whepUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: sdp,
  });
  const text = await response.text();
  const close = () => {
    held.length = 0;
    pc.close();
  };
  if (response.status !== 201) {
    close();
    let errorBody: unknown = text;
    try {
      errorBody = JSON.parse(text);
    } catch {}
    return {
      status: response.status,
      location: '',
      etag: null,
      errorBody,
      answer: '',
      packets,
      audioPackets,
      pc,
      close,
    };
  }
  pc.setRemoteDescription(text, 'answer');
  return {
    status: response.status,
    location: response.headers.get('location') ?? '',
    etag: response.headers.get('etag'),
    errorBody: null,
    answer: text,
    packets,
    audioPackets,
    pc,
    close,
  };
}

/** RTP payload (RFC 3550 §5.1: 12 bytes, CSRCs, an extension when X is set, padding when P is). */
function rtpPayload(packet: Buffer): Buffer {
  let offset = 12 + ((packet[0] ?? 0) & 0x0f) * 4;
  if (((packet[0] ?? 0) & 0x10) !== 0) offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  const padding = ((packet[0] ?? 0) & 0x20) !== 0 ? (packet.at(-1) ?? 0) : 0;
  return packet.subarray(offset, packet.length - padding);
}

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** RFC 6184 §5.6-5.8 depacketization, in sequence number order, into Annex B; with the NAL types seen. */
export function depacketizeH264(packets: readonly Buffer[]): { annexB: Buffer; nalTypes: Set<number> } {
  // Sequence numbers wrap at 2^16 (RFC 3550 §5.1): extend each relative to the one before it.
  let last: number | null = null;
  const extended = packets.map((packet) => {
    const sequence = packet.readUInt16BE(2);
    last = last === null ? sequence : last + (((sequence - last + 0x8000) & 0xffff) - 0x8000);
    return { packet, sequence: last };
  });
  const ordered = extended.sort((a, b) => a.sequence - b.sequence).map((entry) => entry.packet);
  const out: Buffer[] = [];
  const nalTypes = new Set<number>();
  let fragment: Buffer[] | null = null;
  for (const packet of ordered) {
    const payload = rtpPayload(packet);
    const type = (payload[0] ?? 0) & 0x1f;
    if (type >= 1 && type <= 23) {
      nalTypes.add(type);
      out.push(START_CODE, payload);
    } else if (type === 24) {
      let offset = 1;
      while (offset + 2 <= payload.length) {
        const size = payload.readUInt16BE(offset);
        const nal = payload.subarray(offset + 2, offset + 2 + size);
        nalTypes.add((nal[0] ?? 0) & 0x1f);
        out.push(START_CODE, nal);
        offset += 2 + size;
      }
    } else if (type === 28) {
      const header = payload[1] ?? 0;
      if ((header & 0x80) !== 0) fragment = [Buffer.from([((payload[0] ?? 0) & 0xe0) | (header & 0x1f)])];
      fragment?.push(payload.subarray(2));
      if ((header & 0x40) !== 0 && fragment !== null) {
        nalTypes.add(header & 0x1f);
        out.push(START_CODE, Buffer.concat(fragment));
        fragment = null;
      }
    }
  }
  return { annexB: Buffer.concat(out), nalTypes };
}

/** Decodes an Annex B stream with ffprobe: the frames it could decode and the picture size. */
export async function decodeH264(annexB: Buffer): Promise<{ frames: number; width: number; height: number }> {
  const child = spawn(
    'ffprobe',
    [
      '-v',
      'error',
      '-f',
      'h264',
      '-i',
      'pipe:0',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames,width,height',
      '-of',
      'csv=p=0',
    ],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout.on('data', (data: Buffer) => {
    out += data.toString();
  });
  child.stdin.on('error', () => {});
  child.stdin.end(annexB);
  await new Promise((resolve) => child.once('exit', resolve));
  const [width = '0', height = '0', frames = '0'] = out.trim().split(',');
  return { frames: Number(frames), width: Number(width), height: Number(height) };
}
