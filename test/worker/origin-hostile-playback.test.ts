// Attacks on the playback origin (docs/security.md): cache-busting query strings that would miss
// the edge cache and the in-isolate collapsing and park one waiter each in the channel's
// LiveStream object, a flood of held requests past the object's bound, Range requests that used to
// skip collapsing, and a flood that must not delay the part commits the same object takes.
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countCalls,
  createTestChannel,
  getPlaylist,
  ORIGIN,
  putPart,
  restoreCounters,
  runInTestLiveStream,
  startTestStream,
} from './origin-fixtures.ts';

afterEach(restoreCounters);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function randomToken(): string {
  return crypto.randomUUID().slice(0, 8);
}

describe('cache-busting query strings', () => {
  it('refuses unknown and repeated parameters with 400 before any request reaches the LiveStream object', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const playlists = countCalls('getMediaPlaylist');
    const parts = countCalls('waitForPart');
    const base = `${ORIGIN}/live/${channel.channelId}`;
    const urls = [
      ...Array.from({ length: 40 }, () => `${base}/source.m3u8?_HLS_msn=1&x=${randomToken()}`),
      ...Array.from({ length: 20 }, () => `${base}/${publish.stream_id}/source/1.0.m4s?cb=${randomToken()}`),
      `${base}/source.m3u8?_HLS_msn=1&_HLS_msn=2`,
      `${base}/source.m3u8?_HLS_msn=1&_hls_msn=1`,
      `${base}/source.m3u8?_HLS_msn=1.5`,
      `${base}/source.m3u8?_HLS_msn=-1`,
      `${base}/source.m3u8?_HLS_skip=NO`,
      `${base}/master.m3u8?v=${randomToken()}`,
      `${base}/${publish.stream_id}/thumbnail.jpg?v=1`,
    ];
    const responses = await Promise.all(urls.map((url) => SELF.fetch(url)));
    for (const [index, res] of responses.entries()) {
      expect(res.status, urls[index]).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toMatchObject({ error: { code: 'bad_request' } });
    }
    expect(playlists.count).toBe(0);
    expect(parts.count).toBe(0);
  });

  it('collapses directives spelled differently onto one wait in the object', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const playlists = countCalls('getMediaPlaylist');
    const spellings = ['?_HLS_msn=1&_HLS_part=0', '?_HLS_part=0&_HLS_msn=1', '?_HLS_msn=01&_HLS_part=00'];
    const held = spellings.map((query) => getPlaylist(channel.channelId, 'source.m3u8', query));
    await pause(150);
    expect((await putPart(publish, 'source', 1, 0)).status).toBe(204);
    for (const res of await Promise.all(held)) {
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('1.0.m4s');
    }
    expect(playlists.count).toBe(1);
  });
});

describe('the bound on held requests', () => {
  it('answers 503 with Retry-After past the bound, and still releases the held requests when their parts arrive', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    await runInTestLiveStream(env.LIVE_STREAM.getByName(channel.channelId), (instance) => {
      instance.setTimings({ maxWaiters: 2 });
    });
    const first = getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=0');
    const second = getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=1');
    await pause(150);
    const refused = await getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=2');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('cache-control')).toBe('no-store');
    expect(await refused.json()).toMatchObject({ error: { code: 'unavailable' } });
    // A hinted part is held the same way, and refused the same way past the bound.
    const part = await SELF.fetch(`${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/1.2.m4s`);
    expect(part.status).toBe(503);
    expect(part.headers.get('retry-after')).toBe('1');
    await part.arrayBuffer();

    expect((await putPart(publish, 'source', 1, 0)).status).toBe(204);
    expect((await putPart(publish, 'source', 1, 1)).status).toBe(204);
    for (const res of await Promise.all([first, second])) {
      expect(res.status).toBe(200);
      await res.text();
    }
    // Room again: the next request is held, not refused.
    const later = getPlaylist(channel.channelId, 'source.m3u8', '?_HLS_msn=1&_HLS_part=2');
    await pause(100);
    expect((await putPart(publish, 'source', 1, 2)).status).toBe(204);
    expect((await later).status).toBe(200);
  });
});

describe('Range requests for a part that does not exist yet', () => {
  it('share the one wait with whole, HEAD and conditional requests, and each gets its own slice', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const waits = countCalls('waitForPart');
    const url = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/1.0.m4s`;
    const ranges = ['bytes=0-3', 'bytes=4-', 'bytes=-2', 'bytes=2-5', 'bytes=0-0'];
    const ranged = ranges.map((range) => SELF.fetch(url, { headers: { Range: range } }));
    const whole = Array.from({ length: 3 }, () => SELF.fetch(url));
    const head = SELF.fetch(url, { method: 'HEAD' });
    const outOfRange = SELF.fetch(url, { headers: { Range: 'bytes=100-' } });
    await pause(150);
    const bytes = new Uint8Array([10, 11, 12, 13, 14, 15, 16, 17]);
    expect((await putPart(publish, 'source', 1, 0, { body: bytes })).status).toBe(204);

    const expected = [
      bytes.slice(0, 4),
      bytes.slice(4),
      bytes.slice(6),
      bytes.slice(2, 6),
      bytes.slice(0, 1),
    ];
    for (const [index, res] of (await Promise.all(ranged)).entries()) {
      expect(res.status).toBe(206);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(expected[index]);
      expect(res.headers.get('content-range')).toMatch(/\/8$/);
    }
    for (const res of await Promise.all(whole)) {
      expect(res.status).toBe(200);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    }
    const headRes = await head;
    expect(headRes.status).toBe(200);
    expect(headRes.headers.get('content-length')).toBe('8');
    expect((await headRes.arrayBuffer()).byteLength).toBe(0);
    const unsatisfiable = await outOfRange;
    expect(unsatisfiable.status).toBe(416);
    await unsatisfiable.arrayBuffer();
    expect(waits.count).toBe(1);
  });
});

describe('a flood of playback requests beside the ingest', () => {
  it('keeps part commits prompt and releases the held viewers while 300 hostile requests are in flight', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source', 'audio'], 1);
    const reached = countCalls('getMediaPlaylist');
    const base = `${ORIGIN}/live/${channel.channelId}`;
    // 200 cache-busting requests and 100 valid blocking ones over every part of the next segment.
    const busting = Array.from({ length: 200 }, (_, i) =>
      SELF.fetch(
        `${base}/${i % 2 ? 'source' : 'audio'}.m3u8?_HLS_msn=1&_HLS_part=${i % 10}&r=${randomToken()}`,
      ),
    );
    const valid = Array.from({ length: 100 }, (_, i) =>
      getPlaylist(channel.channelId, i % 2 ? 'source.m3u8' : 'audio.m3u8', `?_HLS_msn=1&_HLS_part=${i % 10}`),
    );
    await pause(200);
    const commitTimes: number[] = [];
    for (let part = 0; part < 10; part++) {
      for (const rendition of ['source', 'audio'] as const) {
        const started = Date.now();
        expect((await putPart(publish, rendition, 1, part)).status).toBe(204);
        commitTimes.push(Date.now() - started);
      }
    }
    for (const res of await Promise.all(busting)) {
      expect(res.status).toBe(400);
      await res.arrayBuffer();
    }
    for (const res of await Promise.all(valid)) {
      expect(res.status).toBe(200);
      await res.text();
    }
    // Every commit is answered well within one part target's worth of waiting per commit, and the
    // object saw one call per distinct (rendition, part), never one per request.
    expect(Math.max(...commitTimes)).toBeLessThan(1000);
    expect(commitTimes.reduce((sum, t) => sum + t, 0)).toBeLessThan(5000);
    expect(reached.count).toBeLessThanOrEqual(20);
  });
});
