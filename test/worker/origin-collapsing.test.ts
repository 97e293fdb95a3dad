// The origin's cost per request: identical blocking requests collapse (edge cache, and one wait in
// the LiveStream object per isolate), a part upload is one R2 put and one object call, and a
// playback URL naming no real channel id never reaches (or creates) a LiveStream object. Calls to
// the object are counted by wrapping its class's method: the narrowest seam there is.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import {
  authorizePublish,
  countCalls,
  createTestChannel,
  findTags,
  getPlaylist,
  ORIGIN,
  postIngest,
  putInit,
  putPart,
  readAttributes,
  restoreCounters,
  startTestStream,
} from './origin-fixtures.ts';

afterEach(restoreCounters);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('collapsing identical requests', () => {
  it('makes one LiveStream wait for twenty viewers asking for the same hinted part, and gives them all its bytes', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const waits = countCalls('waitForPart');
    const url = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/1.0.m4s`;
    const held = Array.from({ length: 20 }, () => SELF.fetch(url));
    await pause(150);
    const bytes = new Uint8Array([4, 3, 2, 1]);
    await putPart(publish, 'source', 1, 0, { body: bytes });
    const responses = await Promise.all(held);
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    }
    expect(waits.count).toBe(1);
  });

  it('makes one playlist call for concurrent identical blocking requests, and answers a repeat from the edge cache', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const calls = countCalls('getMediaPlaylist');
    const query = '?_HLS_msn=1&_HLS_part=1';
    const held = Array.from({ length: 10 }, () => getPlaylist(channel.channelId, 'source.m3u8', query));
    await pause(150);
    await putPart(publish, 'source', 1, 0);
    await putPart(publish, 'source', 1, 1);
    const bodies = await Promise.all(held.map(async (res) => (await res).text()));
    expect(new Set(bodies).size).toBe(1);
    expect(calls.count).toBe(1);
    // The playlist moves on, but the URL named a moment that has passed: the cached answer stands.
    await putPart(publish, 'source', 1, 2);
    await pause(50);
    const repeat = await getPlaylist(channel.channelId, 'source.m3u8', query);
    expect(await repeat.text()).toBe(bodies[0]);
    expect(calls.count).toBe(1);
    expect(repeat.headers.get('cache-control')).toBe('public, max-age=12');
    expect(repeat.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('part uploads', () => {
  it('lists each part with one call to the LiveStream object once the publish has sent its init', async () => {
    const channel = await createTestChannel();
    const publish = await authorizePublish(channel.streamKey);
    await putInit(publish, 'source');
    const checks = countCalls('checkPublisher');
    for (let part = 0; part < 5; part++) expect((await putPart(publish, 'source', 0, part)).status).toBe(204);
    expect(checks.count).toBe(0);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    expect(findTags(playlist, '#EXT-X-PART:')).toHaveLength(5);
  });

  it('keeps a continued publish safe from the bytes of the publisher it replaced', async () => {
    const channel = await createTestChannel();
    const first = await startTestStream(channel, ['source'], 1);
    await postIngest(first, 'end', { reason: 'publisher_lost' });
    const second = await authorizePublish(channel.streamKey);
    expect(second.continued).toBe(true);
    await putInit(second, 'source');
    const mine = new Uint8Array([1, 1, 1, 1]);
    expect((await putPart(second, 'source', 1, 0, { body: mine })).status).toBe(204);
    // The replaced publisher still uploads the same position: refused, and it overwrites nothing.
    expect((await putPart(first, 'source', 1, 0, { body: new Uint8Array([6, 6, 6, 6]) })).status).toBe(409);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    const uri = findTags(playlist, '#EXT-X-PART:')
      .map((line) => readAttributes(line).URI ?? '')
      .find((u) => u.includes('/1.0'));
    expect(uri).toBe(`${second.stream_id}/source/1.0-1.m4s`);
    const res = await SELF.fetch(`${ORIGIN}/live/${channel.channelId}/${uri}`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(mine);
  });
});

describe('channel ids in playback URLs', () => {
  it('answers 404 for a channel id that is not a UUID, and leaves no stored object for an unknown one', async () => {
    for (const path of ['not-a-channel/master.m3u8', 'x/source.m3u8', 'abc/s/source/0.m4s']) {
      const res = await SELF.fetch(`${ORIGIN}/live/${path}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    const unknown = crypto.randomUUID();
    const res = await SELF.fetch(`${ORIGIN}/live/${unknown}/master.m3u8`);
    expect(res.status).toBe(404);
    await res.arrayBuffer();
    const tables = await runInDurableObject(env.LIVE_STREAM.getByName(unknown), (_instance, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray(),
    );
    expect(tables).toEqual([]);
  });
});
