// Stream health for the dashboard (issue 16, "Streamers"): the transcoder reports what it measures
// of the source with each heartbeat (protocol/ingest.ts SourceHealth); the LiveStream object keeps
// the recent samples of the current publish and derives warnings a streamer can act on:
// - bitrate_drop: the bitrate of the last interval is under half the stream's own median (a
//   congested uplink), not an absolute floor, since a 1080p and a 480p stream differ tenfold;
// - fps_below_source: ffmpeg encodes fewer frames per second than the source sends (10 % margin);
// - keyframe_interval: the source's keyframes are not 2 s apart (± 0.25 s): the packager cuts
//   2 s segments, and a passthrough rendition needs the source's GOP to match;
// - no_audio: the source carries no audio track;
// - encoder_slow: ffmpeg runs slower than real time (speed under 0.95), so latency grows.
// Samples live in memory: an evicted object starts again from the next heartbeat.
import type { SourceHealth } from '../../protocol/ingest.ts';

/** Heartbeats come every 2 s: 150 samples are the last 5 minutes, the median's window. */
export const MAX_HEALTH_SAMPLES = 150;
/** Warnings need this many bitrate intervals before a median means anything. */
const MIN_BITRATE_INTERVALS = 5;
export const TARGET_KEYFRAME_INTERVAL_MS = 2_000;
const KEYFRAME_TOLERANCE_MS = 250;
const SLOW_SPEED = 0.95;

export type HealthWarningCode =
  | 'bitrate_drop'
  | 'fps_below_source'
  | 'keyframe_interval'
  | 'no_audio'
  | 'encoder_slow';

export interface HealthWarning {
  code: HealthWarningCode;
  message: string;
}

export interface HealthReport {
  bitrate_bps: number | null;
  median_bitrate_bps: number | null;
  source_fps: number | null;
  encode_fps: number | null;
  keyframe_interval_ms: number | null;
  audio_present: boolean;
  encode_speed: number | null;
  /** Epoch ms of the last sample. */
  updated_at: number;
  warnings: HealthWarning[];
}

interface Sample {
  at: number;
  health: SourceHealth;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Bits per second between consecutive samples (a counter reset, a new ffmpeg, is skipped). */
function computeBitrates(samples: readonly Sample[]): number[] {
  const rates: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1];
    const after = samples[i];
    if (!before || !after) continue;
    const seconds = (after.at - before.at) / 1000;
    const bytes = after.health.bytes_in - before.health.bytes_in;
    if (seconds <= 0 || bytes < 0) continue;
    rates.push((bytes * 8) / seconds);
  }
  return rates;
}

/** The report and its warnings for the samples of one publish, oldest first; null without any. */
export function deriveHealthReport(samples: readonly Sample[]): HealthReport | null {
  const last = samples.at(-1);
  if (!last) return null;
  const health = last.health;
  const rates = computeBitrates(samples);
  const current = rates.at(-1) ?? null;
  const typical = median(rates);
  const warnings: HealthWarning[] = [];
  if (
    current !== null &&
    typical !== null &&
    rates.length >= MIN_BITRATE_INTERVALS &&
    current < typical / 2
  ) {
    warnings.push({
      code: 'bitrate_drop',
      message: `Bitrate dropped to ${Math.round(current / 1000)} kbps from a typical ${Math.round(typical / 1000)} kbps: check your upload connection.`,
    });
  }
  if (
    health.source_fps !== null &&
    health.encode_fps !== null &&
    health.encode_fps < health.source_fps * 0.9
  ) {
    warnings.push({
      code: 'fps_below_source',
      message: `Encoding ${Math.round(health.encode_fps)} fps of a ${Math.round(health.source_fps)} fps source: frames are being dropped.`,
    });
  }
  if (
    health.keyframe_interval_ms !== null &&
    Math.abs(health.keyframe_interval_ms - TARGET_KEYFRAME_INTERVAL_MS) > KEYFRAME_TOLERANCE_MS
  ) {
    warnings.push({
      code: 'keyframe_interval',
      message: `Keyframes every ${(health.keyframe_interval_ms / 1000).toFixed(1)} s: set your encoder's keyframe interval to 2 s.`,
    });
  }
  if (!health.audio_present) {
    warnings.push({ code: 'no_audio', message: 'No audio in your stream: check your audio source.' });
  }
  if (health.encode_speed !== null && health.encode_speed < SLOW_SPEED) {
    warnings.push({
      code: 'encoder_slow',
      message: `The transcoder runs at ${health.encode_speed.toFixed(2)}x real time: lower your resolution or bitrate.`,
    });
  }
  return {
    bitrate_bps: current === null ? null : Math.round(current),
    median_bitrate_bps: typical === null ? null : Math.round(typical),
    source_fps: health.source_fps,
    encode_fps: health.encode_fps,
    keyframe_interval_ms: health.keyframe_interval_ms,
    audio_present: health.audio_present,
    encode_speed: health.encode_speed,
    updated_at: last.at,
    warnings,
  };
}

/** The samples of the current publish: a new publish starts a new history. */
export class StreamHealthLog {
  #publishId: string | null = null;
  #samples: Sample[] = [];

  record(publishId: string, health: SourceHealth, now: number): void {
    if (publishId !== this.#publishId) {
      this.#publishId = publishId;
      this.#samples = [];
    }
    this.#samples.push({ at: now, health });
    if (this.#samples.length > MAX_HEALTH_SAMPLES) this.#samples.shift();
  }

  clear(): void {
    this.#publishId = null;
    this.#samples = [];
  }

  report(): HealthReport | null {
    return deriveHealthReport(this.#samples);
  }
}
