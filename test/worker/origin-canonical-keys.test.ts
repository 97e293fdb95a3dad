// Attacks on the playback origin's keys (docs/security.md): other spellings of the same file name,
// channel id or path that would each be one more edge-cache key and one more request held by the
// channel's LiveStream object, and Range or random If-None-Match requests that would skip the edge
// cache and read R2 each time. Each test performs the attack through the Worker (SELF) or through
// the object's RPC surface as many isolates would.
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { getSegmentKey } from '../../media/live-keys.ts';
import {
  countCalls,
  createTestChannel,
  findTags,
  getPlaylist,
  ORIGIN,
  putPart,
  readAttributes,
  restoreCounters,
  runInTestLiveStream,
  startTestStream,
} from './origin-fixtures.ts';

afterEach(restoreCounters);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 1,500 names that spell the hinted part 1.0, segment 0 or its init another way. */
function otherSpellings(init: string): string[] {
  const names = new Set<string>();
  for (let zeros = 1; zeros <= 11; zeros++) {
    names.add(`${'0'.repeat(zeros)}1.0.m4s`);
    names.add(`${'0'.repeat(zeros)}0.m4s`);
  }
  for (let zeros = 2; zeros <= 6; zeros++) names.add(`1.${'0'.repeat(zeros)}.m4s`);
  names.add('1.0-0.m4s');
  names.add(init.replace('init-', 'init-0'));
  for (let n = 1; names.size < 1500; n++) {
    names.add(`1.0-0${n}.m4s`);
    names.add(`01.0-${n}.m4s`);
  }
  return [...names].slice(0, 1500);
}

describe('media file names', () => {
  it('answers 404 to 1,500 other spellings of existing and hinted files without holding a request in the object', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    const map = findTags(playlist, '#EXT-X-MAP:')[0] ?? '';
    const init = (readAttributes(map).URI ?? '').split('/').pop() ?? '';
    expect(init).toMatch(/^init-\d+\.mp4$/);
    const waits = countCalls('waitForPart');
    const base = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source`;
    const names = otherSpellings(init);
    expect(names).toHaveLength(1500);
    const started = Date.now();
    for (let batch = 0; batch < names.length; batch += 250) {
      const slice = names.slice(batch, batch + 250);
      const responses = await Promise.all(slice.map((name) => SELF.fetch(`${base}/${name}`)));
      for (const [index, res] of responses.entries()) {
        expect(res.status, slice[index]).toBe(404);
        expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
      }
    }
    // Answered at once, not after the blocking timeout (3 × target duration).
    expect(Date.now() - started).toBeLessThan(6000);
    expect(waits.count).toBe(0);
    // The canonical names still answer: the files that exist, and the hinted part once it lands.
    for (const name of ['0.m4s', '0.0.m4s', init])
      expect((await SELF.fetch(`${base}/${name}`)).status).toBe(200);
    const hinted = SELF.fetch(`${base}/1.0.m4s`);
    await pause(100);
    expect((await putPart(publish, 'source', 1, 0)).status).toBe(204);
    expect((await hinted).status).toBe(200);
  });

  it('collapses requests naming later publishes onto the one wait for the part, and answers them 404 once another publish uploaded it', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const waits = countCalls('waitForPart');
    const base = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source`;
    const later = Array.from({ length: 40 }, (_, index) => SELF.fetch(`${base}/1.0-${index + 1}.m4s`));
    const hinted = SELF.fetch(`${base}/1.0.m4s`);
    await pause(150);
    expect((await putPart(publish, 'source', 1, 0)).status).toBe(204);
    expect((await hinted).status).toBe(200);
    for (const res of await Promise.all(later)) {
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    }
    expect(waits.count).toBe(1);
  });
});

describe('the bound on held requests', () => {
  it('holds many requests for the same part or playlist position as one entry, and refuses only a new one past the bound', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stub, (instance) => {
      instance.setTimings({ maxWaiters: 2 });
    });
    // As many isolates would: each makes its own call to the object for the same hinted part.
    const parts = Array.from({ length: 60 }, () => stub.waitForPart(publish.stream_id, 'source', 1, 0));
    const playlists = Array.from({ length: 60 }, () =>
      stub.getMediaPlaylist('source', { msn: 1, part: 0, skip: false }),
    );
    await pause(100);
    expect(await stub.waitForPart(publish.stream_id, 'source', 1, 1)).toMatchObject({ kind: 'busy' });
    expect(await stub.getMediaPlaylist('source', { msn: 1, part: 1, skip: false })).toMatchObject({
      kind: 'busy',
    });
    expect((await putPart(publish, 'source', 1, 0)).status).toBe(204);
    for (const outcome of await Promise.all(parts)) expect(outcome).toEqual({ kind: 'ok', publish: 0 });
    for (const outcome of await Promise.all(playlists)) expect(outcome).toMatchObject({ kind: 'ok' });
  });
});

describe('percent-encoded paths', () => {
  it('share the cache entry and the wait of the plain spelling', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const playlists = countCalls('getMediaPlaylist');
    const waits = countCalls('waitForPart');
    const query = '?_HLS_msn=1&_HLS_part=0';
    const held = [
      getPlaylist(channel.channelId, 'source.m3u8', query),
      getPlaylist(channel.channelId, '%73ource.m3u8', query),
      getPlaylist(channel.channelId, '%73%6F%75%72%63%65.m3u8', query),
    ];
    const base = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source`;
    const parts = [
      SELF.fetch(`${base}/1.0.m4s`),
      SELF.fetch(`${base}/%31.0.m4s`),
      SELF.fetch(`${base}/1%2E0.m4s`),
    ];
    await pause(150);
    expect((await putPart(publish, 'source', 1, 0)).status).toBe(204);
    for (const res of await Promise.all(held)) {
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('1.0.m4s');
    }
    for (const res of await Promise.all(parts)) {
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(playlists.count).toBe(1);
    expect(waits.count).toBe(1);
  });
});

describe('Range and conditional requests for cached media', () => {
  it('are answered from the edge cache, with no R2 read, whatever their ETag or range', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const url = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/0.m4s`;
    // The first request is a Range request: it reads the object once and keeps it.
    const first = await SELF.fetch(url, { headers: { Range: 'bytes=0-3' } });
    expect(first.status).toBe(206);
    const etag = first.headers.get('etag') ?? '';
    await first.arrayBuffer();
    await pause(50);
    const whole = await env.MEDIA.get(getSegmentKey(publish.stream_id, 'source', 0));
    const bytes = new Uint8Array((await whole?.arrayBuffer()) ?? new ArrayBuffer(0));
    expect(bytes.byteLength).toBeGreaterThan(8);
    // Gone from R2: only the edge cache can answer now.
    await env.MEDIA.delete(getSegmentKey(publish.stream_id, 'source', 0));
    for (let i = 0; i < 20; i++) {
      const res = await SELF.fetch(url, { headers: { 'If-None-Match': `"${crypto.randomUUID()}"` } });
      expect(res.status).toBe(200);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    }
    const notModified = await SELF.fetch(url, { headers: { 'If-None-Match': etag } });
    expect(notModified.status).toBe(304);
    const ranged = await SELF.fetch(url, { headers: { Range: 'bytes=4-7' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 4-7/${bytes.byteLength}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.slice(4, 8));
    const head = await SELF.fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
    // Another (valid, lower-case) channel id in the URL names the same bytes: the same entry.
    const elsewhere = await SELF.fetch(url.replace(channel.channelId, crypto.randomUUID()));
    expect(elsewhere.status).toBe(200);
    expect(new Uint8Array(await elsewhere.arrayBuffer())).toEqual(bytes);
  });
});

describe('Range requests for a media object too large to hold', () => {
  it('are served from R2 by range, neither read whole from the edge cache nor kept in it', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const key = getSegmentKey(publish.stream_id, 'source', 7);
    const size = 32 * 1024 * 1024 + 16;
    const bytes = new Uint8Array(size);
    bytes.set([1, 2, 3, 4], size - 4);
    await env.MEDIA.put(key, bytes);
    const url = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/7.m4s`;
    // A plain GET streams it and keeps it in the edge cache...
    const whole = await SELF.fetch(url);
    expect(whole.status).toBe(200);
    expect((await whole.arrayBuffer()).byteLength).toBe(size);
    await pause(50);
    // ...but a Range request does not read the cached copy whole: it is served from R2 by range.
    const tail = await SELF.fetch(url, { headers: { Range: 'bytes=-4' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe(`bytes ${size - 4}-${size - 1}/${size}`);
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4]));
    await pause(50);
    await env.MEDIA.delete(key);
    const again = await SELF.fetch(url, { headers: { Range: 'bytes=-4' } });
    expect(again.status).toBe(404);
    await again.arrayBuffer();
    const cached = await SELF.fetch(url);
    expect(cached.status).toBe(200);
    expect((await cached.arrayBuffer()).byteLength).toBe(size);
  });
});

describe('channel ids', () => {
  it('answers 404 for an upper-case spelling of a live channel without addressing any object', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const playlists = countCalls('getMediaPlaylist');
    const waits = countCalls('waitForPart');
    const upper = channel.channelId.toUpperCase();
    const urls = [
      `${ORIGIN}/live/${upper}/master.m3u8`,
      `${ORIGIN}/live/${upper}/source.m3u8`,
      `${ORIGIN}/live/${upper}/source.m3u8?_HLS_msn=1&_HLS_part=0`,
      `${ORIGIN}/live/${upper}/${publish.stream_id}/source/1.0.m4s`,
    ];
    for (const url of urls) {
      const res = await SELF.fetch(url);
      expect(res.status, url).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
    expect(playlists.count).toBe(0);
    expect(waits.count).toBe(0);
    expect((await getPlaylist(channel.channelId, 'source.m3u8')).status).toBe(200);
  });
});
