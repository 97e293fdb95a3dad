import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectEncoder, probeEncoder } from '../../../containers/transcoder/src/ffmpeg/encoder.ts';

describe('encoder detection', () => {
  let directory: string;
  let fakeDevice: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'encoder-test-'));
    fakeDevice = join(directory, 'nvidia0');
    await writeFile(fakeDevice, '');
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('honours TRANSCODER_ENCODER overrides without probing', async () => {
    const missing = join(directory, 'no-ffmpeg');
    expect(await probeEncoder({ override: 'x264', ffmpegPath: missing })).toBe('libx264');
    expect(await probeEncoder({ override: 'nvenc', ffmpegPath: missing })).toBe('h264_nvenc');
  });

  it('chooses libx264 when there is no NVIDIA GPU', async () => {
    const encoder = await probeEncoder({
      deviceNode: join(directory, 'absent-device'),
      nvidiaSmiPath: join(directory, 'absent-nvidia-smi'),
    });
    expect(encoder).toBe('libx264');
  });

  it('falls back to libx264 when a GPU seems present but a test NVENC encode fails', async () => {
    // ffmpeg 5.1 here lists h264_nvenc, but without a driver the one-frame encode fails.
    const encoder = await probeEncoder({ deviceNode: fakeDevice });
    expect(encoder).toBe('libx264');
  });

  it('caches the detected encoder for the process', async () => {
    const first = detectEncoder();
    expect(detectEncoder()).toBe(first);
    expect(['libx264', 'h264_nvenc']).toContain(await first);
  });
});
