// VOD finalization from a synthetic stream published through the real ingest endpoint: the
// stream.ended consumer writes HLS VOD playlists, a DASH MPD (its shape: vod-dash.test.ts) and the
// vods row; the origin's vodPlaybackApp serves them with the cache, Range and CORS rules.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../protocol/events.ts';
import { vodPlaybackApp } from '../../workers/origin/vod-playback.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { deliver, endSyntheticStream, SEGMENT_SECONDS, startSyntheticStream } from './vod-fixtures.ts';

function fetchVod(path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(vodPlaybackApp.request(`http://localhost${path}`, init, env));
}

async function makeEndedStream(options: { reconnectAfter?: number } = {}) {
  const stream = await startSyntheticStream(['720p60', 'audio'], 5, options);
  await endSyntheticStream(stream);
  const event = createEvent('stream.ended', {
    stream_id: stream.streamId,
    channel_id: stream.channel.channelId,
    duration_seconds: 10,
  });
  return { stream, event };
}

describe('VOD finalization', () => {
  it('makes one VOD from a redelivered stream.ended, with the vods row, vod_url and playlists in R2', async () => {
    const { stream, event } = await makeEndedStream();
    const first = await deliver('stream-events', [event]);
    expect(first.acked).toHaveLength(1);
    // The same event again, and a second event for the same stream (a producer retry).
    await deliver('stream-events', [event]);
    await deliver('stream-events', [{ ...event, id: crypto.randomUUID() }]);

    const { results } = await env.DB.prepare(
      'SELECT id, duration_seconds, status, expires_at, created_at FROM vods WHERE stream_id = ?',
    )
      .bind(stream.streamId)
      .all<{
        id: string;
        duration_seconds: number;
        status: string;
        expires_at: number;
        created_at: number;
      }>();
    expect(results).toHaveLength(1);
    const vod = results[0];
    expect(vod?.id).toBe(await deriveVodId(stream.streamId));
    expect(vod?.duration_seconds).toBeCloseTo(5 * SEGMENT_SECONDS, 5);
    expect(vod?.status).toBe('ready');
    expect((vod?.expires_at ?? 0) - (vod?.created_at ?? 0)).toBe(Number(env.VOD_RETENTION_DAYS) * 86_400_000);
    const row = await env.DB.prepare('SELECT vod_url FROM streams WHERE id = ?')
      .bind(stream.streamId)
      .first<{ vod_url: string }>();
    expect(row?.vod_url).toBe(`/vod/${vod?.id}/master.m3u8`);
    for (const name of ['master.m3u8', '720p60.m3u8', 'audio.m3u8', 'manifest.mpd']) {
      expect(await env.MEDIA.head(`vods/${vod?.id}/${name}`)).not.toBeNull();
    }
  });

  it('writes VOD media playlists with PLAYLIST-TYPE:VOD, ENDLIST, MAP and PROGRAM-DATE-TIME over the stream segments', async () => {
    const { stream, event } = await makeEndedStream();
    await deliver('stream-events', [event]);
    const vodId = await deriveVodId(stream.streamId);
    const res = await fetchVod(`/vod/${vodId}/720p60.m3u8`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe('application/vnd.apple.mpegurl');
    expect(res.headers.get('Cache-Control')).toBe('public, max-age=300');
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('#EXTM3U');
    expect(lines).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(lines.at(-1)).toBe('#EXT-X-ENDLIST');
    expect(lines).toContain('#EXT-X-TARGETDURATION:2');
    expect(lines.filter((l) => l.startsWith('#EXT-X-MAP'))).toEqual(['#EXT-X-MAP:URI="720p60/init-1.mp4"']);
    expect(lines.filter((l) => l === '#EXT-X-DISCONTINUITY')).toHaveLength(0);
    expect(lines.find((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME:'))).toBe(
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(stream.startPdt).toISOString()}`,
    );
    expect(lines.filter((l) => !l.startsWith('#'))).toEqual(
      [0, 1, 2, 3, 4].map((msn) => `720p60/${msn}.m4s`),
    );
    // No LL-HLS tags in a VOD.
    expect(lines.some((l) => l.startsWith('#EXT-X-PART') || l.startsWith('#EXT-X-PRELOAD-HINT'))).toBe(false);

    const master = await (await fetchVod(`/vod/${vodId}/master.m3u8`)).text();
    expect(master).toContain('#EXT-X-INDEPENDENT-SEGMENTS');
    expect(master).toMatch(
      /#EXT-X-STREAM-INF:BANDWIDTH=3500000,AVERAGE-BANDWIDTH=3000000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000\n720p60.m3u8/,
    );
    expect(master).toMatch(
      /#EXT-X-STREAM-INF:BANDWIDTH=160000,AVERAGE-BANDWIDTH=128000,CODECS="mp4a.40.2"\naudio.m3u8/,
    );
  });

  it('shows a reconnect inside the stream as a discontinuity with a new MAP, not as a second VOD', async () => {
    const { stream, event } = await makeEndedStream({ reconnectAfter: 3 });
    await deliver('stream-events', [event]);
    const vodId = await deriveVodId(stream.streamId);
    const lines = (await (await fetchVod(`/vod/${vodId}/720p60.m3u8`)).text()).trim().split('\n');
    const discontinuity = lines.indexOf('#EXT-X-DISCONTINUITY');
    expect(lines.filter((l) => l === '#EXT-X-DISCONTINUITY')).toHaveLength(1);
    // The discontinuity sits right before segment 3, followed by the new init and its own clock.
    expect(lines.slice(discontinuity, discontinuity + 5)).toEqual([
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-MAP:URI="720p60/init-2.mp4"',
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(stream.startPdt + 3 * 2000 + 5000).toISOString()}`,
      '#EXTINF:2.00000,',
      '720p60/3.m4s',
    ]);
    const count = await env.DB.prepare('SELECT count(*) AS n FROM vods WHERE channel_id = ?')
      .bind(stream.channel.channelId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it('serves VOD segments and inits from the stream keys with immutable caching, Range, HEAD and ETag', async () => {
    const { stream, event } = await makeEndedStream();
    await deliver('stream-events', [event]);
    const vodId = await deriveVodId(stream.streamId);
    const whole = await fetchVod(`/vod/${vodId}/720p60/1.m4s`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
    const bytes = new Uint8Array(await whole.arrayBuffer());
    const stored = await env.MEDIA.get(`streams/${stream.streamId}/720p60/1.m4s`);
    expect(bytes).toEqual(new Uint8Array(await (stored?.arrayBuffer() ?? new ArrayBuffer(0))));

    const ranged = await fetchVod(`/vod/${vodId}/720p60/1.m4s`, { headers: { Range: 'bytes=8-15' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('Content-Range')).toBe(`bytes 8-15/${bytes.byteLength}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.slice(8, 16));
    const beyond = await fetchVod(`/vod/${vodId}/720p60/1.m4s`, {
      headers: { Range: `bytes=${bytes.byteLength}-` },
    });
    expect(beyond.status).toBe(416);
    const head = await fetchVod(`/vod/${vodId}/720p60/init-1.mp4`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const etag = head.headers.get('ETag') ?? '';
    expect(etag).not.toBe('');
    const cached = await fetchVod(`/vod/${vodId}/720p60/init-1.mp4`, { headers: { 'If-None-Match': etag } });
    expect(cached.status).toBe(304);
    expect((await fetchVod(`/vod/${vodId}/720p60/0.0.m4s`)).status).toBe(404);
    expect((await fetchVod(`/vod/${vodId}/720p60/99.m4s`)).status).toBe(404);
    const unknown = await fetchVod(`/vod/${crypto.randomUUID()}/720p60/1.m4s`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('Cache-Control')).toBe('no-store');
  });

  it('makes no VOD for a stream that never sent media', async () => {
    const { stream } = await makeEndedStream();
    const silentStream = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO streams (id, channel_id, status, created_at) VALUES (?, ?, 'ended', ?)")
      .bind(silentStream, stream.channel.channelId, Date.now())
      .run();
    const event = createEvent('stream.ended', {
      stream_id: silentStream,
      channel_id: stream.channel.channelId,
      duration_seconds: 0,
    });
    const result = await deliver('stream-events', [event]);
    expect(result.acked).toHaveLength(1);
    expect(
      await env.DB.prepare('SELECT 1 FROM vods WHERE stream_id = ?').bind(silentStream).first(),
    ).toBeNull();
  });
});
