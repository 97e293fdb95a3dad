// The transcoder's GET /metrics as it ships: main.ts as its own process, a real ffmpeg publishing
// over RTMP, an origin stand-in on loopback. The figures of the live publish must appear and move.
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import { findFreePort, type ManagedProcess, startTranscoder } from '../../../scripts/lib/platform.ts';
import { spawnPublisher } from '../rtmp/helpers.ts';
import { type FakeOrigin, startFakeOrigin } from '../upload/fake-origin.ts';
import { readSample, waitUntil } from './prometheus-text.ts';

const GRANT: AuthorizeResponse = {
  channel_id: 'chan-metrics',
  stream_id: 'stream-metrics',
  publish_id: 'pub-metrics',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

async function scrape(httpPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

describe('transcoder /metrics', () => {
  let origin: FakeOrigin | undefined;
  let transcoder: ManagedProcess | undefined;

  afterEach(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  it('shows a live RTMP publish: the session, source bytes and fps, upload latency, capacity; the session leaves when it ends', async () => {
    origin = await startFakeOrigin();
    origin.respond((request) =>
      request.path.endsWith('/authorize') ? { status: 200, body: JSON.stringify(GRANT) } : { status: 204 },
    );
    const rtmpPort = await findFreePort();
    const httpPort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort,
      httpPort,
      originUrl: origin.baseUrl,
      ingestSecret: 'metrics-test-secret',
      env: { RTMP_HOST: '127.0.0.1', TRANSCODER_ENCODER: 'x264', MAX_ENCODES: '4' },
    });
    const idle = await scrape(httpPort);
    expect(readSample(idle, 'transcoder_ingest_sessions', { protocol: 'rtmp' })).toBe(0);
    expect(readSample(idle, 'transcoder_encode_slots')).toBe(4);

    const publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/live_metrics_key`, 30);
    try {
      let first = '';
      await waitUntil(
        async () => {
          first = await scrape(httpPort);
          return (
            (readSample(first, 'transcoder_upload_latency_seconds_count', {
              rendition: 'source',
              kind: 'part',
            }) ?? 0) > 0
          );
        },
        20_000,
        'a part upload in the latency histogram',
      );
      expect(readSample(first, 'transcoder_ingest_sessions', { protocol: 'rtmp' })).toBe(1);
      expect(readSample(first, 'transcoder_ingest_sessions_total', { protocol: 'rtmp' })).toBe(1);
      expect(readSample(first, 'transcoder_source_fps', { stream_id: 'stream-metrics' })).toBe(30);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const second = await scrape(httpPort);
      const bytes = (text: string) =>
        readSample(text, 'transcoder_ingest_bytes_total', { protocol: 'rtmp' }) ?? 0;
      expect(bytes(second)).toBeGreaterThan(bytes(first));
      expect(
        readSample(second, 'transcoder_source_bitrate_bps', {
          stream_id: 'stream-metrics',
          protocol: 'rtmp',
        }),
      ).toBeGreaterThan(0);
      const parts = (text: string) =>
        readSample(text, 'transcoder_upload_latency_seconds_count', { rendition: 'source', kind: 'part' }) ??
        0;
      expect(parts(second)).toBeGreaterThan(parts(first));
      expect(second).toMatch(/^transcoder_encode_speed\{.*stream_id="stream-metrics".*\} \d/m);
    } finally {
      publisher.kill();
    }
    await waitUntil(
      async () =>
        readSample(await scrape(httpPort), 'transcoder_ingest_sessions', { protocol: 'rtmp' }) === 0,
      15_000,
      'the session to leave the gauge',
    );
  });
});
