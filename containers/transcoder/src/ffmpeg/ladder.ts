// The adaptive bitrate ladder as data, and the pure planner that fits it to a channel's tier, the
// incoming source and the host's spare encode capacity.
import type { ChannelTier, RenditionName } from '../../../../protocol/ingest.ts';
import { GOP_SECONDS } from '../../../../protocol/media.ts';
import type { AudioCodec, MediaStats, VideoCodec } from '../rtmp/flv.ts';

/**
 * Passthrough is only safe when the broadcaster's keyframes already make 2 s segments: the encoded
 * rungs and the audio rendition cut on the 2 s media-time grid, and a source segment of 2 s + e puts
 * the source's msn one behind theirs every 2 / e segments (a 2.2 s GOP: every 22 s). ±10 ms keeps
 * OBS's 2 s keyint at integer rates (exact) and at 29.97/59.94 (2.002 s, one msn per ~33 min).
 */
export const PASSTHROUGH_GOP_TOLERANCE = 0.005;
export const MAX_SOURCE_FPS = 60;
export const AUDIO_BITRATE = 128_000;
export const AUDIO_SAMPLE_RATE = 48_000;
/** Assumed for a passthrough source whose broadcaster did not announce a bitrate (OBS's 1080p60 default). */
export const DEFAULT_SOURCE_BITRATE = 6_000_000;

interface LadderRung {
  name: Exclude<RenditionName, 'source' | 'audio'>;
  height: number;
  fps: number;
  videoBitrate: number;
}

/** The ABR ladder below the source, costliest first (docs/architecture.md, "The live path"). */
export const LADDER_RUNGS: readonly LadderRung[] = [
  { name: '720p60', height: 720, fps: 60, videoBitrate: 3_000_000 },
  { name: '480p30', height: 480, fps: 30, videoBitrate: 1_500_000 },
  { name: '360p30', height: 360, fps: 30, videoBitrate: 800_000 },
  { name: '160p30', height: 160, fps: 30, videoBitrate: 400_000 },
];

const TIER_RUNGS: Record<ChannelTier, ReadonlySet<RenditionName>> = {
  partner: new Set(['720p60', '480p30', '360p30', '160p30']),
  affiliate: new Set(['480p30']),
  none: new Set(),
};

export interface SourceInfo {
  width: number;
  height: number;
  fps: number;
  /**
   * Codecs as the FLV muxer names them ('avc' is H.264): the same type as PublishStats, so the
   * planner cannot expect a name the muxer never produces. Null when the track is absent.
   */
  videoCodec: VideoCodec | null;
  audioCodec: AudioCodec | null;
  /** Measured keyframe interval; null when not yet known (then the source is re-encoded). */
  keyframeIntervalMs: number | null;
  /** Bits per second announced by the broadcaster (FLV onMetaData videodatarate), if any. */
  videoBitrate?: number;
}

/**
 * The source as the RTMP session learned it (onMetaData, the AVC sequence header, the keyframes).
 * Width and height fall back to 1280x720 only when no video configuration arrived at all.
 */
export function describeSource(stats: Readonly<MediaStats>): SourceInfo {
  return {
    width: stats.width ?? 1280,
    height: stats.height ?? 720,
    fps: stats.frameRate ?? 30,
    videoCodec: stats.videoCodec,
    audioCodec: stats.audioCodec,
    keyframeIntervalMs: stats.keyframeIntervalMs,
    ...(stats.videoBitrate === null ? {} : { videoBitrate: stats.videoBitrate }),
  };
}

export interface EncodeCapacity {
  /** Encoded video renditions already running on this host. */
  activeEncodes: number;
  /** Encoded video renditions this host can run in real time. */
  maxEncodes: number;
}

export interface VideoRenditionPlan {
  name: Exclude<RenditionName, 'audio'>;
  kind: 'video';
  /** 'copy' passes the broadcaster's H.264 through untouched. */
  videoMode: 'copy' | 'encode';
  audioMode: 'copy' | 'encode' | 'none';
  width: number;
  height: number;
  fps: number;
  videoBitrate: number;
  audioBitrate: number;
}

export interface AudioRenditionPlan {
  name: 'audio';
  kind: 'audio';
  audioMode: 'encode';
  audioBitrate: number;
}

export type RenditionPlan = VideoRenditionPlan | AudioRenditionPlan;

export interface LadderPlan {
  renditions: RenditionPlan[];
  /** Rungs the tier allowed but spare capacity did not. */
  droppedForLoad: RenditionName[];
  /** Encoded video renditions this plan adds to the host. */
  encodes: number;
}

/** True when the source can be passed through: H.264 + AAC with a 2 s (±10 ms) GOP. */
export function canPassThrough(source: SourceInfo): boolean {
  if (source.videoCodec !== 'avc') return false;
  if (source.audioCodec !== null && source.audioCodec !== 'aac') return false;
  if (source.keyframeIntervalMs === null) return false;
  const target = GOP_SECONDS * 1000;
  return Math.abs(source.keyframeIntervalMs - target) <= target * PASSTHROUGH_GOP_TOLERANCE;
}

function scaleWidth(source: SourceInfo, height: number): number {
  // Keep the aspect ratio and an even width, as `scale=-2:H` does.
  return Math.max(2, Math.round((source.width * height) / source.height / 2) * 2);
}

/** A re-encoded source gets 6 Mbps at 1080p60 (the recommended OBS setting), scaled by pixel rate, within the ladder's range. */
function pickSourceEncodeBitrate(width: number, height: number, fps: number): number {
  const scaled = (DEFAULT_SOURCE_BITRATE * width * height * fps) / (1920 * 1080 * 60);
  return Math.round(Math.min(DEFAULT_SOURCE_BITRATE, Math.max(400_000, scaled)));
}

/**
 * Fits the ladder to the tier and the source, then sheds the costliest encoded rungs while the
 * host lacks capacity. A new stream gets fewer renditions rather than failing: source and audio
 * always stay.
 */
export function planLadder(input: {
  tier: ChannelTier;
  source: SourceInfo;
  capacity: EncodeCapacity;
}): LadderPlan {
  const { tier, source, capacity } = input;
  const audioMode = source.audioCodec === null ? 'none' : source.audioCodec === 'aac' ? 'copy' : 'encode';
  const passthrough = canPassThrough(source);
  const sourceFps = Math.min(source.fps, MAX_SOURCE_FPS);
  const sourcePlan: VideoRenditionPlan = {
    name: 'source',
    kind: 'video',
    videoMode: passthrough ? 'copy' : 'encode',
    audioMode,
    width: source.width,
    height: source.height,
    fps: passthrough ? source.fps : sourceFps,
    videoBitrate: passthrough
      ? (source.videoBitrate ?? DEFAULT_SOURCE_BITRATE)
      : pickSourceEncodeBitrate(source.width, source.height, sourceFps),
    audioBitrate: AUDIO_BITRATE,
  };

  // Never upscale: a rung taller than the source, or faster than it, adds bits and no picture.
  const eligible = LADDER_RUNGS.filter(
    (rung) => TIER_RUNGS[tier].has(rung.name) && rung.height <= source.height,
  );
  const spare = Math.max(0, capacity.maxEncodes - capacity.activeEncodes - (passthrough ? 0 : 1));
  // LADDER_RUNGS is ordered costliest first, so keeping the tail sheds the costliest.
  const kept = eligible.slice(Math.max(0, eligible.length - spare));
  const droppedForLoad = eligible.slice(0, eligible.length - kept.length).map((rung) => rung.name);

  const rungPlans = kept.map(
    (rung): VideoRenditionPlan => ({
      name: rung.name,
      kind: 'video',
      videoMode: 'encode',
      audioMode,
      width: scaleWidth(source, rung.height),
      height: rung.height,
      fps: Math.min(rung.fps, source.fps),
      videoBitrate: rung.videoBitrate,
      audioBitrate: AUDIO_BITRATE,
    }),
  );
  const renditions: RenditionPlan[] = [sourcePlan, ...rungPlans];
  if (source.audioCodec !== null) {
    renditions.push({ name: 'audio', kind: 'audio', audioMode: 'encode', audioBitrate: AUDIO_BITRATE });
  }
  return { renditions, droppedForLoad, encodes: rungPlans.length + (passthrough ? 0 : 1) };
}
