// The real-time rendition of a watched stream whose H.264 has B-frames (OBS's x264 default): WebRTC
// sends frames in decode order and stamps each RTP packet with its presentation time, so B-frames
// reach a browser's jitter buffer with timestamps that go back and forth, and Chromium's WebRTC
// decoder path expects none (it plays them, if at all, as stutter). One ffmpeg per such stream,
// only while it has WHEP viewers, decodes the FLV's video and encodes H.264 without B-frames
// (x264 zerolatency: no lookahead, no frame delay), a keyframe every second so a joining viewer
// waits at most that long, at most 720 lines and the source's bitrate, FLV on stdout. Its output is
// read by an AvcFeed of its own, exactly as a passthrough source's is. Streams without B-frames
// (browsers over WHIP, x264 zerolatency, most hardware encoders' low-latency presets) are passed
// through untouched and start nothing. close() kills ffmpeg; nothing outlives the stream's viewers.
import { type AccessUnit, AvcFeed } from './avc-feed.ts';
import { FlvFedFfmpeg } from './flv-fed-ffmpeg.ts';

const DEFAULT_BITRATE = 2_500_000;
/** A 1080p60 OBS stream is about 6 Mbps; a 720p real-time copy needs no more. */
const MAX_BITRATE = 4_500_000;
export const REALTIME_MAX_HEIGHT = 720;

/** profile_idc → x264's profile name; a viewer's answer names the source's profile. */
function x264Profile(profileIdc: number | null): string {
  if (profileIdc === 77) return 'main';
  return 'high';
}

export function buildRealtimeArgs(options: { profileIdc: number | null; bitrate: number | null }): string[] {
  const bitrate = Math.min(MAX_BITRATE, Math.max(300_000, options.bitrate ?? DEFAULT_BITRATE));
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    // The FLV's start bytes carry the AVC sequence header; a keyframe follows at once.
    '-probesize',
    '500000',
    '-analyzeduration',
    '0',
    '-flags',
    'low_delay',
    '-f',
    'flv',
    '-i',
    'pipe:0',
    '-an',
    '-map',
    '0:v:0',
    '-vf',
    `scale=-2:'min(ih,${REALTIME_MAX_HEIGHT})'`,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-bf',
    '0',
    '-profile:v',
    x264Profile(options.profileIdc),
    '-pix_fmt',
    'yuv420p',
    '-force_key_frames',
    'expr:gte(t,n_forced*1)',
    '-b:v',
    String(bitrate),
    '-maxrate',
    String(bitrate),
    '-bufsize',
    String(Math.round(bitrate / 2)),
    '-f',
    'flv',
    '-flvflags',
    'no_duration_filesize',
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

export interface RealtimeEncoderOptions {
  readonly profileIdc: number | null;
  readonly bitrate: number | null;
  readonly onUnit: (unit: AccessUnit) => void;
  /** Called once if the encoder fails or falls behind; it is closed by then. */
  readonly onFailure: (event: string, error: string) => void;
  readonly ffmpegPath?: string;
}

/** The stream's real-time rendition: push it the FLV from its start bytes on; it starts ffmpeg on the first. */
export function createRealtimeEncoder(options: RealtimeEncoderOptions): FlvFedFfmpeg {
  const feed = new AvcFeed();
  return new FlvFedFfmpeg({
    args: buildRealtimeArgs({ profileIdc: options.profileIdc, bitrate: options.bitrate }),
    onOutput: (chunk) => {
      for (const unit of feed.push(chunk)) options.onUnit(unit);
    },
    onFailure: options.onFailure,
    events: {
      stalled: 'whep.realtime_stalled',
      failed: 'whep.realtime_failed',
      exited: 'whep.realtime_exited',
    },
    ...(options.ffmpegPath === undefined ? {} : { ffmpegPath: options.ffmpegPath }),
  });
}
