// A deleted VOD's media must not stay reachable through the live URLs that name the same R2
// objects (/live/{channel}/{stream}/...), nor through the edge cache that kept copies of them,
// while the budgeted purge is still deleting the objects (docs/retention.md).
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getMediaCacheKey } from '../../workers/origin/playback-query.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { deleteVod } from '../../workers/vod/retention.ts';
import { deliverStreamEnded, endSyntheticStream, startSyntheticStream } from './vod-fixtures.ts';

describe('deleting a VOD', () => {
  it('refuses its media through live URLs at once and drops the cached copies, before the purge has deleted anything', async () => {
    const stream = await startSyntheticStream(['720p60'], 3);
    await endSyntheticStream(stream);
    await deliverStreamEnded(stream, 6);
    const vodId = await deriveVodId(stream.streamId);
    const live = `http://localhost/live/${stream.channel.channelId}`;
    const segment = `${live}/${stream.streamId}/720p60/1.m4s`;
    const init = `${live}/${stream.streamId}/720p60/init-1.mp4`;
    const playlist = `${live}/720p60.m3u8`;
    for (const url of [segment, init, playlist]) {
      const res = await SELF.fetch(url);
      expect(res.status, url).toBe(200);
      await res.arrayBuffer();
    }
    // The segment and init are in the edge cache now.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Kept under the file's canonical key (playback-query.ts), whichever channel URL named it.
    const cachedSegment = getMediaCacheKey('http://localhost', stream.streamId, '720p60', {
      kind: 'segment',
      msn: 1,
    });
    const cachedInit = getMediaCacheKey('http://localhost', stream.streamId, '720p60', {
      kind: 'init',
      init: 1,
    });
    expect(await caches.default.match(cachedSegment)).toBeDefined();

    // Budget 0: the DELETE has not removed a single object from R2 yet.
    const result = await deleteVod(
      env,
      { id: vodId, stream_id: stream.streamId, channel_id: stream.channel.channelId },
      0,
    );
    expect(result.done).toBe(false);
    for (const url of [segment, init, playlist, `${live}/${stream.streamId}/thumbnail.jpg`]) {
      const res = await SELF.fetch(url);
      expect(res.status, url).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await caches.default.match(cachedSegment)).toBeUndefined();
    expect(await caches.default.match(cachedInit)).toBeUndefined();
  });
});
