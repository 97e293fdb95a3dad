import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  createTestChannel,
  findTags,
  getPlaylist,
  ORIGIN,
  postIngest,
  publishSegment,
  putInit,
  putPart,
  readAttributes,
  runInTestLiveStream,
  startTestStream,
} from './origin-fixtures.ts';

/** Tracks whether a pending response has settled, to assert that a request is being held. */
function track(response: Promise<Response>): { promise: Promise<Response>; settled: () => boolean } {
  let done = false;
  const promise = response.finally(() => {
    done = true;
  });
  return { promise, settled: () => done };
}

const HOLD_CHECK_MS = 150;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('blocking playlist reload', () => {
  it('holds _HLS_msn until that segment is listed, then answers the whole playlist', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 2);
    const held = track(getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=2'));
    await pause(HOLD_CHECK_MS);
    expect(held.settled()).toBe(false);
    await publishSegment(publish, 'source', 2);
    const res = await held.promise;
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=12');
    const body = await res.text();
    expect(body.startsWith('#EXTM3U\n')).toBe(true);
    expect(body).toContain(`${publish.stream_id}/source/0.m4s`);
    expect(body).toContain(`${publish.stream_id}/source/2.m4s`);
  });

  it('holds _HLS_msn with _HLS_part until that part is listed', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    await putPart(publish, 'source', 1, 0);
    const held = track(getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=2'));
    await putPart(publish, 'source', 1, 1);
    await pause(HOLD_CHECK_MS);
    expect(held.settled()).toBe(false);
    await putPart(publish, 'source', 1, 2);
    const body = await (await held.promise).text();
    expect(findTags(body, '#EXT-X-PART:').at(-1)).toContain(`${publish.stream_id}/source/1.2.m4s`);
    expect(findTags(body, '#EXT-X-PRELOAD-HINT:')[0]).toContain('/source/1.3.m4s');
  });

  it('reads a part one past the end of a finished segment as part 0 of the next one', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 2);
    // Segment 1 has parts 0..9, so 1.10 means 2.0 (what hls.js asks for).
    const held = track(getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=10'));
    await pause(HOLD_CHECK_MS);
    expect(held.settled()).toBe(false);
    await putPart(publish, 'source', 2, 0);
    const body = await (await held.promise).text();
    expect(body).toContain(`URI="${publish.stream_id}/source/2.0.m4s"`);
  });

  it('answers at once when the directive is already satisfied', async () => {
    const channel = await createTestChannel();
    await startTestStream(channel, ['source'], 2);
    const res = await getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=4');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=12');
  });

  it('refuses _HLS_part without _HLS_msn, an msn more than 2 ahead and a part beyond the advance limit', async () => {
    const channel = await createTestChannel();
    await startTestStream(channel, ['source'], 2);
    const refused = [
      '?_HLS_part=1',
      '?_HLS_msn=4',
      '?_HLS_msn=3&_HLS_part=6',
      '?_HLS_msn=-1',
      '?_HLS_skip=NO',
    ];
    for (const query of refused) {
      const res = await getPlaylist(channel.channelId, 'source.m3u8', query);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toMatchObject({ error: { code: 'bad_request' } });
    }
  });

  it('answers 503 when the awaited part does not arrive within the timeout', async () => {
    const channel = await createTestChannel();
    await startTestStream(channel, ['source'], 1);
    await runInTestLiveStream(env.LIVE_STREAM.getByName(channel.channelId), (instance) => {
      instance.setTimings({ blockingTimeoutMs: 200 });
    });
    const res = await getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=3');
    expect(res.status).toBe(503);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toMatchObject({ error: { code: 'unavailable' } });
  });

  it('waits the full three target durations by default before answering 503', async () => {
    const channel = await createTestChannel();
    await startTestStream(channel, ['source'], 1);
    const started = Date.now();
    const res = await getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=2');
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_900);
  });

  it('ignores the directives once the playlist has ENDLIST', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    await postIngest(publish, 'end', { reason: 'publisher_closed' });
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stub, (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
    });
    await runDurableObjectAlarm(stub);
    const res = await getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=50&_HLS_part=3');
    expect(res.status).toBe(200);
    expect((await res.text()).trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });

  it('releases a held request when the stream ends', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const held = track(getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1'));
    await postIngest(publish, 'end', { reason: 'publisher_closed' });
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stub, (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
    });
    await runDurableObjectAlarm(stub);
    const res = await held.promise;
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('#EXT-X-ENDLIST');
  });
});

describe('hinted part requests', () => {
  it('holds a request for the hinted part until it is uploaded', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    const hint = readAttributes(findTags(playlist, '#EXT-X-PRELOAD-HINT:')[0] ?? '').URI;
    expect(hint).toBe(`${publish.stream_id}/source/1.0.m4s`);
    const held = track(SELF.fetch(`${ORIGIN}/live/${channel.channelId}/${hint}`));
    await pause(HOLD_CHECK_MS);
    expect(held.settled()).toBe(false);
    const bytes = new Uint8Array([9, 8, 7, 6, 5]);
    await putPart(publish, 'source', 1, 0, { body: bytes });
    const res = await held.promise;
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  it('holds a part a few parts ahead of the hint, within the advance limit', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const held = track(SELF.fetch(`${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/1.2.m4s`));
    await putPart(publish, 'source', 1, 0);
    await putPart(publish, 'source', 1, 1);
    await pause(HOLD_CHECK_MS);
    expect(held.settled()).toBe(false);
    await putPart(publish, 'source', 1, 2);
    expect((await held.promise).status).toBe(200);
  });
});

describe('delta updates', () => {
  it('replaces segments older than CAN-SKIP-UNTIL with EXT-X-SKIP and keeps the date of the next one', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 10);
    const full = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    expect(findTags(full, '#EXTINF:')).toHaveLength(10);
    expect(full).not.toContain('#EXT-X-SKIP');

    for (const value of ['YES', 'v2']) {
      const delta = await (await getPlaylist(channel.channelId, 'source.m3u8', `?_HLS_skip=${value}`)).text();
      const lines = delta.trimEnd().split('\n');
      // 10 segments of 2 s: segments 0..3 start more than 12 s before the end.
      expect(findTags(delta, '#EXT-X-SKIP:')).toEqual(['#EXT-X-SKIP:SKIPPED-SEGMENTS=4']);
      expect(lines).toContain('#EXT-X-MEDIA-SEQUENCE:0');
      expect(findTags(delta, '#EXTINF:')).toHaveLength(6);
      const firstUri = lines.find((line) => !line.startsWith('#'));
      expect(firstUri).toBe(`${publish.stream_id}/source/4.m4s`);
      const fullLines = full.split('\n');
      // The full playlist carries one date; the segment after the skip must carry its own.
      const firstDate = findTags(full, '#EXT-X-PROGRAM-DATE-TIME:')[0] ?? '';
      const start = Date.parse(firstDate.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
      const deltaDate = findTags(delta, '#EXT-X-PROGRAM-DATE-TIME:')[0] ?? '';
      expect(Date.parse(deltaDate.slice('#EXT-X-PROGRAM-DATE-TIME:'.length)) - start).toBe(4 * 2000);
      expect(findTags(delta, '#EXT-X-MAP:')).toHaveLength(1);
      expect(fullLines.length).toBeGreaterThan(lines.length);
    }
  });
});

describe('DVR window', () => {
  it('drops segments older than the window from the playlist, advancing both sequence numbers, but keeps them in R2', async () => {
    const channel = await createTestChannel();
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stub, (instance) => {
      instance.setTimings({ dvrWindowSeconds: 8 });
    });
    const publish = await startTestStream(channel, ['source'], 2);
    // A new init (ffmpeg restarted) puts a discontinuity before segment 2.
    expect((await putInit(publish, 'source')).status).toBe(204);
    const start = Date.now();
    for (let msn = 2; msn < 8; msn++)
      await publishSegment(publish, 'source', msn, { pdt: start + msn * 2000 });

    const body = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    const lines = body.trimEnd().split('\n');
    expect(lines).toContain('#EXT-X-MEDIA-SEQUENCE:4');
    expect(lines).toContain('#EXT-X-DISCONTINUITY-SEQUENCE:1');
    expect(body).not.toContain('#EXT-X-DISCONTINUITY\n');
    expect(findTags(body, '#EXTINF:')).toHaveLength(4);
    expect(findTags(body, '#EXT-X-MAP:')).toEqual([
      `#EXT-X-MAP:URI="${publish.stream_id}/source/init-2.mp4"`,
    ]);
    expect(await env.MEDIA.head(`streams/${publish.stream_id}/source/0.m4s`)).not.toBeNull();
    const index = await stub.getSegmentIndex('source');
    expect(index.map((s) => s.msn)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(index[2]).toMatchObject({ discontinuity: true, init: 2 });
  });
});
