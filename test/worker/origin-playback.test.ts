import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  createTestChannel,
  findTags,
  getPlaylist,
  ORIGIN,
  PART_TARGET,
  putPart,
  readAttributes,
  startTestStream,
} from './origin-fixtures.ts';

describe('multivariant playlist', () => {
  it('lists every rendition with its attributes, a mid rendition first and audio without a resolution', async () => {
    const channel = await createTestChannel();
    await startTestStream(channel, ['source', '720p60', '480p30', 'audio'], 1);
    const res = await getPlaylist(channel.channelId, 'master.m3u8');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(res.headers.get('cache-control')).toBe('public, max-age=2');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const body = await res.text();
    const lines = body.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual(['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS']);
    const variants = findTags(body, '#EXT-X-STREAM-INF:').map((line) => ({
      attributes: readAttributes(line),
      uri: lines[lines.indexOf(line) + 1],
    }));
    expect(variants.map((v) => v.uri)).toEqual(['720p60.m3u8', 'source.m3u8', '480p30.m3u8', 'audio.m3u8']);
    expect(variants[0]?.attributes).toEqual({
      BANDWIDTH: '3500000',
      'AVERAGE-BANDWIDTH': '3000000',
      CODECS: 'avc1.64001f,mp4a.40.2',
      RESOLUTION: '1280x720',
      'FRAME-RATE': '60.000',
    });
    const audio = variants[3]?.attributes;
    expect(audio).toMatchObject({ BANDWIDTH: '160000', CODECS: 'mp4a.40.2' });
    expect(audio).not.toHaveProperty('RESOLUTION');
    expect(audio).not.toHaveProperty('FRAME-RATE');
  });

  it('answers 404 as JSON, uncached, for a channel that has no stream', async () => {
    const res = await getPlaylist(crypto.randomUUID(), 'master.m3u8');
    expect(res.status).toBe(404);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    const media = await getPlaylist(crypto.randomUUID(), 'source.m3u8');
    expect(media.status).toBe(404);
  });
});

describe('media playlist', () => {
  it('follows the LL-HLS rules for headers, parts, hints, reports and dates', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source', 'audio'], 5);
    for (let part = 0; part < 3; part++) await putPart(publish, 'source', 5, part);
    await putPart(publish, 'audio', 5, 0);

    const res = await getPlaylist(channel.channelId, 'source.m3u8');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=1');
    const body = await res.text();
    const lines = body.trimEnd().split('\n');
    expect(lines[0]).toBe('#EXTM3U');
    expect(lines).toContain('#EXT-X-VERSION:9');
    expect(lines).toContain('#EXT-X-TARGETDURATION:2');
    expect(lines).toContain('#EXT-X-MEDIA-SEQUENCE:0');
    expect(body).not.toContain('#EXT-X-ENDLIST');

    const partTarget = Number(readAttributes(findTags(body, '#EXT-X-PART-INF:')[0] ?? '')['PART-TARGET']);
    expect(partTarget).toBe(PART_TARGET);
    const control = readAttributes(findTags(body, '#EXT-X-SERVER-CONTROL:')[0] ?? '');
    expect(control['CAN-BLOCK-RELOAD']).toBe('YES');
    expect(Number(control['PART-HOLD-BACK'])).toBeGreaterThanOrEqual(3 * partTarget - 1e-9);
    expect(Number(control['HOLD-BACK'])).toBeGreaterThanOrEqual(3 * 2);
    expect(Number(control['CAN-SKIP-UNTIL'])).toBeGreaterThanOrEqual(6 * 2);

    expect(findTags(body, '#EXT-X-MAP:')).toEqual([
      `#EXT-X-MAP:URI="${publish.stream_id}/source/init-1.mp4"`,
    ]);
    expect(findTags(body, '#EXT-X-PROGRAM-DATE-TIME:').length).toBeGreaterThanOrEqual(1);
    const extinf = findTags(body, '#EXTINF:');
    expect(extinf).toHaveLength(5);
    for (const line of extinf) expect(line).toMatch(/^#EXTINF:\d+\.\d{5},$/);
    const segmentUris = lines.filter((line) => !line.startsWith('#'));
    expect(segmentUris).toEqual([0, 1, 2, 3, 4].map((msn) => `${publish.stream_id}/source/${msn}.m4s`));

    const parts = findTags(body, '#EXT-X-PART:').map(readAttributes);
    for (const part of parts) expect(Number(part.DURATION)).toBeLessThanOrEqual(partTarget);
    // Parts of the last ~3 target durations (segments 2..4) and of the open segment 5.
    const partMsns = new Set(parts.map((p) => Number(p.URI?.split('/').at(-1)?.split('.')[0])));
    expect([...partMsns]).toEqual([2, 3, 4, 5]);
    expect(parts.filter((p) => p.URI?.endsWith('/5.0.m4s'))[0]?.INDEPENDENT).toBe('YES');
    expect(parts.at(-1)?.URI).toBe(`${publish.stream_id}/source/5.2.m4s`);

    expect(findTags(body, '#EXT-X-PRELOAD-HINT:')).toEqual([
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${publish.stream_id}/source/5.3.m4s"`,
    ]);
    expect(findTags(body, '#EXT-X-RENDITION-REPORT:')).toEqual([
      '#EXT-X-RENDITION-REPORT:URI="audio.m3u8",LAST-MSN=5,LAST-PART=0',
    ]);

    // Every URI the playlist names resolves against it.
    for (const uri of [segmentUris[0], parts.at(-1)?.URI, `${publish.stream_id}/source/init-1.mp4`]) {
      const media = await SELF.fetch(new URL(uri ?? '', `${ORIGIN}/live/${channel.channelId}/source.m3u8`));
      expect(media.status).toBe(200);
    }
  });
});

describe('media files', () => {
  it('serves parts and segments as immutable video/mp4 with an ETag, over CORS', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const url = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/0.m4s`;
    const res = await SELF.fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    expect((await res.arrayBuffer()).byteLength).toBe(256);

    const again = await SELF.fetch(url, { headers: { 'If-None-Match': etag ?? '' } });
    expect(again.status).toBe(304);

    const part = await SELF.fetch(`${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/0.3.m4s`);
    expect(part.status).toBe(200);
    expect(new TextDecoder().decode((await part.arrayBuffer()).slice(0, 16))).toBe('part source 0.3\0');
  });

  it('answers HEAD with the length and no body', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const res = await SELF.fetch(
      `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/init-1.mp4`,
      {
        method: 'HEAD',
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('64');
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers byte ranges with 206 and Content-Range, and 416 when unsatisfiable', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const url = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source/0.m4s`;
    const whole = new Uint8Array(await (await SELF.fetch(url)).arrayBuffer());

    const first = await SELF.fetch(url, { headers: { Range: 'bytes=0-9' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe('bytes 0-9/256');
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(whole.slice(0, 10));

    const suffix = await SELF.fetch(url, { headers: { Range: 'bytes=-6' } });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe('bytes 250-255/256');
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(whole.slice(250));

    const open = await SELF.fetch(url, { headers: { Range: 'bytes=200-' } });
    expect(open.headers.get('content-range')).toBe('bytes 200-255/256');
    expect((await open.arrayBuffer()).byteLength).toBe(56);

    const beyond = await SELF.fetch(url, { headers: { Range: 'bytes=999-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */256');
  });

  it('answers 404, uncached, for media that does not exist and cannot be awaited', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const base = `${ORIGIN}/live/${channel.channelId}/${publish.stream_id}/source`;
    for (const file of ['7.m4s', '40.0.m4s', 'init-9.mp4', 'nonsense.txt']) {
      const res = await SELF.fetch(`${base}/${file}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });
});
