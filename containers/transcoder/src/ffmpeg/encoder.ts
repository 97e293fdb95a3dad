// Picks the H.264 encoder once per process: NVENC on an ingest host with a usable NVIDIA GPU,
// libx264 everywhere else (Cloudflare Containers have no GPU).
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import type { VideoEncoder } from './args.ts';

const PROBE_TIMEOUT_MS = 10_000;

export interface EncoderProbeOptions {
  /** TRANSCODER_ENCODER: 'nvenc' forces NVENC, 'x264' forces libx264, anything else probes. */
  override?: string | undefined;
  ffmpegPath?: string;
  nvidiaSmiPath?: string;
  deviceNode?: string;
}

function runTool(file: string, args: string[]): Promise<{ ok: boolean; stdout: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (error, stdout) => {
      resolve({ ok: error === null, stdout: String(stdout) });
    });
  });
}

async function hasNvidiaGpu(options: Required<Omit<EncoderProbeOptions, 'override'>>): Promise<boolean> {
  try {
    await access(options.deviceNode);
    return true;
  } catch {
    return (await runTool(options.nvidiaSmiPath, ['-L'])).ok;
  }
}

/**
 * Uncached probe. A driver can be present while NVENC is not (no encoder on H100-class parts, all
 * sessions taken on consumer cards), so only a real one-frame encode proves it works.
 */
export async function probeEncoder(options: EncoderProbeOptions = {}): Promise<VideoEncoder> {
  if (options.override === 'x264') return 'libx264';
  if (options.override === 'nvenc') return 'h264_nvenc';
  const paths = {
    ffmpegPath: options.ffmpegPath ?? 'ffmpeg',
    nvidiaSmiPath: options.nvidiaSmiPath ?? 'nvidia-smi',
    deviceNode: options.deviceNode ?? '/dev/nvidia0',
  };
  if (!(await hasNvidiaGpu(paths))) return 'libx264';
  const encoders = await runTool(paths.ffmpegPath, ['-hide_banner', '-encoders']);
  if (!encoders.ok || !/\bh264_nvenc\b/.test(encoders.stdout)) return 'libx264';
  const testEncode = await runTool(paths.ffmpegPath, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'color=size=256x256:rate=30',
    '-frames:v',
    '1',
    '-c:v',
    'h264_nvenc',
    '-f',
    'null',
    '-',
  ]);
  return testEncode.ok ? 'h264_nvenc' : 'libx264';
}

let cached: Promise<VideoEncoder> | null = null;

/** The encoder for this process, probed on first use (TRANSCODER_ENCODER=nvenc|x264 overrides). */
export function detectEncoder(): Promise<VideoEncoder> {
  cached ??= probeEncoder({ override: process.env.TRANSCODER_ENCODER });
  return cached;
}
