// Builds the argument list of the one ffmpeg process per stream: decode once, encode every rendition
// of the plan, each to its own pipe as fragmented MP4 (CMAF), plus an optional thumbnail pipe.
import type { RenditionName } from '../../../../protocol/ingest.ts';
import { GOP_SECONDS } from '../../../../protocol/media.ts';
import { AUDIO_SAMPLE_RATE, type LadderPlan, type VideoRenditionPlan } from './ladder.ts';

export type VideoEncoder = 'libx264' | 'h264_nvenc';

export interface TranscodeOptions {
  input: string;
  inputFormat: string;
  encoder: VideoEncoder;
  thumbnails: boolean;
  /**
   * Bit-identical output for identical input, for a hot standby (docs/deploy.md, "Hot standby"):
   * with more than one thread, x264's VBV rate control reads how far the other threads have got
   * (sliced threads: the rows other slices finished, measured 3 different outputs in 3 runs at 360p
   * 800 kbit/s; frame threads: the size estimates of frames still being encoded, measured 39 of 71
   * parts different under load), so only one thread per encoder is deterministic. The renditions
   * still encode in parallel, one thread each. NVENC makes no promise: the gates' hash check decides.
   */
  deterministic?: boolean;
}

export interface TranscodeOutput {
  rendition: RenditionName | 'thumbnail';
  /** The child's file descriptor: index into spawn's stdio array (3, 4, ...). */
  fd: number;
}

/** One fragment per part: ffmpeg cuts a fragment once it holds 200 ms, and at every keyframe. */
export const FRAGMENT_DURATION_US = 200_000;
export const THUMBNAIL_INTERVAL_SECONDS = 10;
export const THUMBNAIL_HEIGHT = 360;
/** The first output pipe: 0-2 are stdin, stdout and stderr. */
export const FIRST_OUTPUT_FD = 3;

// `+cmaf` already implies empty_moov and default_base_moof (and negative CTS offsets, which keep
// B-frame sources correct); they are listed so the intent survives an ffmpeg that changes that.
const CMAF_MUXER_ARGS = [
  '-f',
  'mp4',
  '-movflags',
  '+cmaf+frag_keyframe+empty_moov+default_base_moof',
  '-frag_duration',
  String(FRAGMENT_DURATION_US),
  '-flush_packets',
  '1',
  // A slow rendition must not abort the others at startup while its encoder fills its pipeline.
  '-max_muxing_queue_size',
  '4096',
];

function formatKbps(bitsPerSecond: number): string {
  return `${Math.round(bitsPerSecond / 1000)}k`;
}

function buildVideoEncoderArgs(
  rendition: VideoRenditionPlan,
  encoder: VideoEncoder,
  deterministic: boolean,
): string[] {
  // "-g"/"-keyint_min" are in frames; forcing keyframes on the clock as well keeps the GOPs of
  // renditions with different frame rates aligned, so every rendition switches on the same boundary.
  const gopFrames = String(Math.max(1, Math.round(GOP_SECONDS * rendition.fps)));
  const rate = formatKbps(rendition.videoBitrate);
  const common = [
    '-b:v',
    rate,
    '-maxrate',
    rate,
    // One second of buffer: CBR-like output so parts stay close to their nominal size.
    '-bufsize',
    rate,
    '-g',
    gopFrames,
    '-keyint_min',
    gopFrames,
    '-force_key_frames',
    `expr:gte(t,n_forced*${GOP_SECONDS})`,
    '-pix_fmt',
    'yuv420p',
  ];
  if (encoder === 'h264_nvenc') {
    // ffmpeg 5.1's h264_nvenc: p1-p7 presets, tune ll, cbr; forced-idr makes forced keyframes IDR.
    return [
      '-c:v',
      'h264_nvenc',
      '-preset',
      'p4',
      '-tune',
      'll',
      '-rc',
      'cbr',
      '-zerolatency',
      '1',
      '-forced-idr',
      '1',
      '-no-scenecut',
      '1',
      ...common,
    ];
  }
  return [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    ...(deterministic ? ['-threads', '1'] : []),
    '-sc_threshold',
    '0',
    ...common,
  ];
}

function buildAudioArgs(mode: 'copy' | 'encode' | 'none', bitrate: number): string[] {
  if (mode === 'none') return ['-an'];
  if (mode === 'copy') return ['-c:a', 'copy'];
  // FLV timestamps are whole milliseconds, so AAC frames would get durations of 1024 +- 16 samples and
  // audio-only parts would overshoot PART-TARGET; resampling with async=1 makes them sample-exact
  // while still following the input clock (it pads or trims on real gaps).
  return [
    '-af',
    'aresample=async=1',
    '-c:a',
    'aac',
    '-b:a',
    formatKbps(bitrate),
    '-ar',
    String(AUDIO_SAMPLE_RATE),
    '-ac',
    '2',
  ];
}

/**
 * The filter graph: the decoded video is split once per encoded rendition (and the thumbnail),
 * each branch scaled and frame-rate capped. Passthrough renditions take the input stream directly.
 */
function buildFilterGraph(
  encoded: Array<{ rendition: VideoRenditionPlan; label: string }>,
  thumbnailLabel: string | null,
): string | null {
  const branches = encoded.length + (thumbnailLabel === null ? 0 : 1);
  if (branches === 0) return null;
  const splitLabels = Array.from({ length: branches }, (_, index) => `[v${index}]`);
  const chains = [`[0:v]split=${branches}${splitLabels.join('')}`];
  encoded.forEach(({ rendition, label }, index) => {
    chains.push(`[v${index}]scale=-2:${rendition.height},fps=${rendition.fps}[${label}]`);
  });
  if (thumbnailLabel !== null) {
    // The first frame at once, then one every interval: `fps=1/10` would hold the first thumbnail
    // back until it had seen 5 s of video.
    const every = `select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${THUMBNAIL_INTERVAL_SECONDS})'`;
    chains.push(`[v${encoded.length}]${every},scale=-2:${THUMBNAIL_HEIGHT}[${thumbnailLabel}]`);
  }
  return chains.join(';');
}

export function buildTranscodeArgs(
  plan: LadderPlan,
  options: TranscodeOptions,
): { args: string[]; outputs: TranscodeOutput[] } {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'warning',
    // Progress lines ("... speed=1.02x") keep coming on stderr at warning level; the supervisor reads them.
    '-stats',
    '-stats_period',
    '1',
    // Low-latency input: no decoder reordering wait, and a short probe since FLV announces its
    // tracks up front (the session's start bytes carry both sequence headers, and the first media
    // tag is a keyframe). ffmpeg reads this much media before its first output; fed in real time —
    // a continued publish started on its first media, a restart fed from the next keyframe — it
    // waits that long: 200 ms, not 1 s (measured: first part 0.28 s after the first tag against
    // 1.08 s). Not `-fflags nobuffer`: ffmpeg 5.1 then drops the packets it read while probing
    // (measured: 1.3 s of audio lost at the start).
    '-flags',
    'low_delay',
    '-probesize',
    '500000',
    '-analyzeduration',
    '200000',
    '-f',
    options.inputFormat,
    '-i',
    options.input,
  ];

  const encoded: Array<{ rendition: VideoRenditionPlan; label: string }> = [];
  for (const rendition of plan.renditions) {
    if (rendition.kind === 'video' && rendition.videoMode === 'encode') {
      encoded.push({ rendition, label: `out_${rendition.name}` });
    }
  }
  const thumbnailLabel = options.thumbnails ? 'thumb' : null;
  const graph = buildFilterGraph(encoded, thumbnailLabel);
  if (graph !== null) args.push('-filter_complex', graph);

  const outputs: TranscodeOutput[] = [];
  let fd = FIRST_OUTPUT_FD;
  for (const rendition of plan.renditions) {
    if (rendition.kind === 'audio') {
      args.push('-map', '0:a:0', '-vn', ...buildAudioArgs('encode', rendition.audioBitrate));
    } else {
      const audioMap = rendition.audioMode === 'none' ? [] : ['-map', '0:a:0?'];
      if (rendition.videoMode === 'copy') {
        args.push('-map', '0:v:0', ...audioMap, '-c:v', 'copy');
      } else {
        args.push(
          '-map',
          `[out_${rendition.name}]`,
          ...audioMap,
          ...buildVideoEncoderArgs(rendition, options.encoder, options.deterministic ?? false),
        );
      }
      args.push(...buildAudioArgs(rendition.audioMode, rendition.audioBitrate));
    }
    args.push(...CMAF_MUXER_ARGS, `pipe:${fd}`);
    outputs.push({ rendition: rendition.name, fd });
    fd += 1;
  }
  if (thumbnailLabel !== null) {
    // passthrough: one JPEG per selected frame, never duplicates to fill a constant frame rate.
    args.push(
      '-map',
      `[${thumbnailLabel}]`,
      '-fps_mode',
      'passthrough',
      '-c:v',
      'mjpeg',
      '-q:v',
      '5',
      '-f',
      'image2pipe',
      `pipe:${fd}`,
    );
    outputs.push({ rendition: 'thumbnail', fd });
  }
  return { args, outputs };
}
