// Stream health warnings (durable-objects/live-stream/stream-health.ts): the derivation from the
// transcoder's heartbeat samples, and the real path: heartbeats with a health body into the real
// origin and LiveStream object, read back by the owner on the API the dashboard polls
// (GET /api/v1/streams/{channel}/live), never by anyone else.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { deriveHealthReport } from '../../durable-objects/live-stream/stream-health.ts';
import type { SourceHealth } from '../../protocol/ingest.ts';
import { callApi } from './api-helpers.ts';
import { createTestChannel, postIngest, startTestStream } from './origin-fixtures.ts';

const HEALTHY: SourceHealth = {
  bytes_in: 0,
  source_fps: 30,
  encode_fps: 30,
  keyframe_interval_ms: 2000,
  audio_present: true,
  encode_speed: 1.01,
};

/** Samples 2 s apart at `kbps[i]` kbit/s each interval, the last one with `last` changes. */
function buildSamples(kbps: number[], last: Partial<SourceHealth> = {}) {
  let bytes = 0;
  const samples = [{ at: 0, health: { ...HEALTHY } }];
  kbps.forEach((rate, i) => {
    bytes += (rate * 1000 * 2) / 8;
    samples.push({ at: (i + 1) * 2000, health: { ...HEALTHY, bytes_in: bytes } });
  });
  const final = samples.at(-1);
  if (final) final.health = { ...final.health, ...last };
  return samples;
}

const codes = (samples: ReturnType<typeof buildSamples>) =>
  deriveHealthReport(samples)?.warnings.map((warning) => warning.code) ?? [];

describe('stream health derivation', () => {
  it('warns of nothing for a steady stream, and reports its bitrate and median', () => {
    const report = deriveHealthReport(buildSamples([6000, 6000, 6100, 5900, 6000, 6000]));
    expect(report?.warnings).toEqual([]);
    expect(report?.bitrate_bps).toBe(6_000_000);
    expect(report?.median_bitrate_bps).toBe(6_000_000);
  });

  it("warns of a bitrate drop under half the stream's own median, only with enough history", () => {
    expect(codes(buildSamples([6000, 6000, 6000, 6000, 6000, 2500]))).toEqual(['bitrate_drop']);
    // Half of the median is not a drop; a low but steady stream is not either.
    expect(codes(buildSamples([6000, 6000, 6000, 6000, 6000, 3100]))).toEqual([]);
    expect(codes(buildSamples([800, 800, 800, 800, 800, 800]))).toEqual([]);
    // Three intervals are too few to know what is typical.
    expect(codes(buildSamples([6000, 6000, 1000]))).toEqual([]);
  });

  it('warns of fps below the source, a keyframe interval that is not 2 s, no audio and a slow encoder', () => {
    const steady = [6000, 6000, 6000, 6000, 6000, 6000];
    expect(codes(buildSamples(steady, { encode_fps: 24 }))).toEqual(['fps_below_source']);
    expect(codes(buildSamples(steady, { encode_fps: 28 }))).toEqual([]);
    expect(codes(buildSamples(steady, { keyframe_interval_ms: 4000 }))).toEqual(['keyframe_interval']);
    expect(codes(buildSamples(steady, { keyframe_interval_ms: 2200 }))).toEqual([]);
    expect(codes(buildSamples(steady, { audio_present: false }))).toEqual(['no_audio']);
    expect(codes(buildSamples(steady, { encode_speed: 0.8 }))).toEqual(['encoder_slow']);
    // Unknown values (before ffmpeg's first progress line) warn of nothing.
    expect(
      codes(buildSamples(steady, { encode_fps: null, encode_speed: null, keyframe_interval_ms: null })),
    ).toEqual([]);
  });

  it('skips an interval whose byte counter went backwards (a restarted ingest)', () => {
    const samples = buildSamples([6000, 6000, 6000, 6000, 6000, 6000]);
    samples.push({ at: 20_000, health: { ...HEALTHY, bytes_in: 10 } });
    expect(deriveHealthReport(samples)?.warnings).toEqual([]);
  });
});

const Live = z.looseObject({
  health: z.optional(
    z.object({
      bitrate_bps: z.number().nullable(),
      keyframe_interval_ms: z.number().nullable(),
      audio_present: z.boolean(),
      warnings: z.array(z.object({ code: z.string(), message: z.string() })),
    }),
  ),
});

async function createSession(userId: string): Promise<string> {
  const token = `tok-${crypto.randomUUID()}`;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)));
  const hash = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  await env.DB.prepare(
    'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
  )
    .bind(hash, userId, Date.now(), Date.now() + 3_600_000)
    .run();
  return token;
}

describe('stream health on the dashboard API', () => {
  it("shows the owner the health and warnings from the transcoder's heartbeats, and nobody else", async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const owner = await createSession(channel.userId);
    // A plain beat (an older transcoder) is still a beat, and reports nothing.
    expect((await postIngest(publish, 'heartbeat')).status).toBe(204);
    const before = Live.parse(
      await (await callApi(`/streams/${channel.channelId}/live`, { token: owner })).json(),
    );
    expect(before.health).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      const beat = await postIngest(publish, 'heartbeat', {
        health: { ...HEALTHY, bytes_in: i * 1_000_000, keyframe_interval_ms: 5000, audio_present: false },
      });
      expect(beat.status).toBe(204);
    }
    const mine = Live.parse(
      await (await callApi(`/streams/${channel.channelId}/live`, { token: owner })).json(),
    );
    expect(mine.health).toMatchObject({ keyframe_interval_ms: 5000, audio_present: false });
    expect(mine.health?.warnings.map((w) => w.code).sort()).toEqual(['keyframe_interval', 'no_audio']);
    const viewer = Live.parse(await (await callApi(`/streams/${channel.channelId}/live`)).json());
    expect(viewer.health).toBeUndefined();
  });

  it('refuses a malformed or oversized heartbeat body with 400 and keeps the publish', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    expect((await postIngest(publish, 'heartbeat', { health: { bytes_in: -1 } })).status).toBe(400);
    expect(
      (await postIngest(publish, 'heartbeat', { health: { ...HEALTHY, pad: 'x'.repeat(5000) } })).status,
    ).toBe(400);
    expect((await postIngest(publish, 'heartbeat', { health: HEALTHY })).status).toBe(204);
  });
});
