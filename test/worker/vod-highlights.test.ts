// VOD views (once per viewer per VOD in a window) and highlights: a saved range of a VOD, validated
// against the VOD, played from its own URL, and kept by the retention sweep that deletes the rest.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSession } from '../../workers/shared/auth.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { MAX_HIGHLIGHTS_PER_VOD } from '../../workers/vod/highlights.ts';
import { sweepExpiredVods } from '../../workers/vod/retention.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import { deliverStreamEnded, endSyntheticStream, listKeys, startSyntheticStream } from './vod-fixtures.ts';

const Highlight = z.object({
  id: z.string(),
  vod_id: z.string(),
  start_seconds: z.number(),
  duration_seconds: z.number(),
  playback_url: z.string(),
});

/** A 12 s VOD (six 2 s segments, msn 0-5) of a fresh channel. */
async function makeVod() {
  const stream = await startSyntheticStream(['720p60', 'audio'], 6);
  await endSyntheticStream(stream);
  await deliverStreamEnded(stream, 12);
  const vodId = await deriveVodId(stream.streamId);
  const token = await createSession(env.DB, stream.channel.userId);
  return { stream, vodId, token };
}

async function readViewCount(vodId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT view_count FROM vods WHERE id = ?')
    .bind(vodId)
    .first<{ view_count: number }>();
  return row?.view_count ?? -1;
}

function fetchPath(url: string): Promise<Response> {
  return SELF.fetch(`http://localhost${new URL(url, 'http://localhost').pathname}`);
}

describe('VOD views', () => {
  it('counts a view once per network and once per signed-in viewer in the window', async () => {
    const { vodId } = await makeVod();
    const ip = '203.0.113.77';
    expect((await callApi(`/vods/${vodId}/views`, { method: 'POST', ip })).status).toBe(204);
    expect((await callApi(`/vods/${vodId}/views`, { method: 'POST', ip })).status).toBe(204);
    expect(await readViewCount(vodId)).toBe(1);
    await callApi(`/vods/${vodId}/views`, { method: 'POST', ip: '203.0.113.78' });
    expect(await readViewCount(vodId)).toBe(2);
    // A signed-in viewer counts once whatever network they come from.
    const viewer = await signUp('vodviewer');
    await callApi(`/vods/${vodId}/views`, { method: 'POST', token: viewer.token, ip: '198.18.0.1' });
    await callApi(`/vods/${vodId}/views`, { method: 'POST', token: viewer.token, ip: '198.18.0.2' });
    expect(await readViewCount(vodId)).toBe(3);
    const vod = z.object({ view_count: z.number() }).parse(await (await callApi(`/vods/${vodId}`)).json());
    expect(vod.view_count).toBe(3);
  });

  it('answers 404 for an unknown VOD', async () => {
    const res = await callApi('/vods/no-such-vod/views', { method: 'POST' });
    expect(res.status).toBe(404);
    expect((await readError(res)).code).toBe('not_found');
  });
});

describe('highlights', () => {
  it('refuses a range outside the VOD, a reversed or empty range, strangers and bad titles', async () => {
    const { vodId, token } = await makeVod();
    const create = (body: unknown, auth: string | null = token) =>
      callApi(`/vods/${vodId}/highlights`, {
        method: 'POST',
        body,
        ...(auth === null ? {} : { token: auth }),
      });
    const outside = await create({ title: 'Late', start_seconds: 10, end_seconds: 30 });
    expect(outside.status).toBe(422);
    expect((await readError(outside)).message).toContain('past the end of the VOD');
    expect((await create({ title: 'Reversed', start_seconds: 8, end_seconds: 4 })).status).toBe(422);
    expect((await create({ title: 'Empty', start_seconds: 4, end_seconds: 4.5 })).status).toBe(422);
    expect((await create({ title: 'Negative', start_seconds: -1, end_seconds: 4 })).status).toBe(400);
    expect((await create({ title: 'Bad\u202etitle', start_seconds: 0, end_seconds: 4 })).status).toBe(400);
    expect((await create({ title: 'Anon', start_seconds: 0, end_seconds: 4 }, null)).status).toBe(401);
    const stranger = await signUp('stranger');
    const refused = await create({ title: 'Mine now', start_seconds: 0, end_seconds: 4 }, stranger.token);
    expect(refused.status).toBe(403);
    expect((await readError(refused)).code).toBe('forbidden');
    expect(
      (
        await callApi('/vods/unknown-vod/highlights', {
          method: 'POST',
          token,
          body: { title: 'x', start_seconds: 0, end_seconds: 4 },
        })
      ).status,
    ).toBe(404);
    const { n } = z
      .object({ n: z.number() })
      .parse(
        await env.DB.prepare('SELECT count(*) AS n FROM highlights WHERE vod_id = ?').bind(vodId).first(),
      );
    expect(n).toBe(0);
  });

  it('plays the saved range from its own URL, and only that range', async () => {
    const { vodId, token, stream } = await makeVod();
    const res = await callApi(`/vods/${vodId}/highlights`, {
      method: 'POST',
      token,
      body: { title: 'The clutch', start_seconds: 4.5, end_seconds: 7.5 },
    });
    expect(res.status).toBe(201);
    const highlight = Highlight.parse(await res.json());
    // Widened to whole segments: msn 2 (4-6 s) and 3 (6-8 s).
    expect(highlight).toMatchObject({ vod_id: vodId, start_seconds: 4, duration_seconds: 4 });
    const master = await fetchPath(highlight.playback_url);
    expect(master.status).toBe(200);
    expect(await master.text()).toContain('720p60.m3u8');
    const media = await (
      await fetchPath(highlight.playback_url.replace('master.m3u8', '720p60.m3u8'))
    ).text();
    expect(media.match(/^720p60\/\d+\.m4s$/gm)).toEqual(['720p60/2.m4s', '720p60/3.m4s']);
    expect(media).toContain('#EXT-X-ENDLIST');
    const base = `/highlights/${highlight.id}`;
    expect((await SELF.fetch(`http://localhost${base}/720p60/2.m4s`)).status).toBe(200);
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(media)?.[1];
    expect((await SELF.fetch(`http://localhost${base}/${init}`)).status).toBe(200);
    // The rest of the VOD is not served under the highlight's path.
    expect((await SELF.fetch(`http://localhost${base}/720p60/0.m4s`)).status).toBe(404);
    expect((await SELF.fetch(`http://localhost${base}/720p60/5.m4s`)).status).toBe(404);
    const listed = z
      .object({ data: z.array(z.object({ id: z.string() })) })
      .parse(await (await callApi(`/channels/${stream.channel.channelId}/highlights`)).json());
    expect(listed.data.map((h) => h.id)).toEqual([highlight.id]);
  });

  it('survives the retention sweep: the VOD and the rest of its media go, the highlight still plays', async () => {
    const { vodId, token, stream } = await makeVod();
    const highlight = Highlight.parse(
      await (
        await callApi(`/vods/${vodId}/highlights`, {
          method: 'POST',
          token,
          body: { title: 'Keeper', start_seconds: 2, end_seconds: 4 },
        })
      ).json(),
    );
    const expiresAt = z
      .object({ expires_at: z.number() })
      .parse(await env.DB.prepare('SELECT expires_at FROM vods WHERE id = ?').bind(vodId).first()).expires_at;
    const result = await sweepExpiredVods(env, expiresAt + 1, 10_000);
    expect(result.done).toBe(true);
    expect((await env.DB.prepare('SELECT status FROM vods WHERE id = ?').bind(vodId).first())?.status).toBe(
      'deleted',
    );
    expect((await callApi(`/vods/${vodId}`)).status).toBe(404);
    expect(await listKeys(`vods/${vodId}/`)).toEqual([]);
    const left = (await listKeys(`streams/${stream.streamId}/`))
      .map((k) => k.slice(`streams/${stream.streamId}/`.length))
      .sort();
    // msn 1 (2-4 s) of both renditions, their inits and the thumbnail if the stream had one.
    expect(left.filter((k) => k.endsWith('.m4s'))).toEqual(['720p60/1.m4s', 'audio/1.m4s']);
    expect(left.filter((k) => k.includes('init-')).length).toBeGreaterThan(0);

    const media = await (
      await fetchPath(highlight.playback_url.replace('master.m3u8', '720p60.m3u8'))
    ).text();
    expect(media.match(/^720p60\/\d+\.m4s$/gm)).toEqual(['720p60/1.m4s']);
    const segment = await SELF.fetch(`http://localhost/highlights/${highlight.id}/720p60/1.m4s`);
    expect(segment.status).toBe(200);
    expect((await segment.arrayBuffer()).byteLength).toBeGreaterThan(0);
    // A second sweep finds nothing more to delete and leaves the highlight's media.
    await sweepExpiredVods(env, expiresAt + 2, 10_000);
    expect((await listKeys(`streams/${stream.streamId}/`)).length).toBe(left.length);
  });

  it('caps highlights per VOD and leaves no playlists behind for a refused one', async () => {
    const { vodId, token } = await makeVod();
    for (let i = 0; i < MAX_HIGHLIGHTS_PER_VOD; i++) {
      const res = await callApi(`/vods/${vodId}/highlights`, {
        method: 'POST',
        token,
        body: { title: `Moment ${i}`, start_seconds: 0, end_seconds: 2 },
      });
      expect(res.status).toBe(201);
    }
    const before = await listKeys('highlights/');
    const refused = await callApi(`/vods/${vodId}/highlights`, {
      method: 'POST',
      token,
      body: { title: 'One too many', start_seconds: 0, end_seconds: 2 },
    });
    expect(refused.status).toBe(422);
    expect((await readError(refused)).message).toContain(`at most ${MAX_HIGHLIGHTS_PER_VOD} highlights`);
    expect(await listKeys('highlights/')).toEqual(before);
  });

  it('deletes a highlight: the owner only; after its VOD is gone, the media it alone kept goes with it', async () => {
    const { vodId, token, stream } = await makeVod();
    const save = async (start: number) =>
      Highlight.parse(
        await (
          await callApi(`/vods/${vodId}/highlights`, {
            method: 'POST',
            token,
            body: { title: `At ${start}`, start_seconds: start, end_seconds: start + 2 },
          })
        ).json(),
      );
    const first = await save(0);
    const second = await save(8);
    const expiresAt = z
      .object({ expires_at: z.number() })
      .parse(await env.DB.prepare('SELECT expires_at FROM vods WHERE id = ?').bind(vodId).first()).expires_at;
    await sweepExpiredVods(env, expiresAt + 1, 10_000);
    const segments = async () =>
      (await listKeys(`streams/${stream.streamId}/`))
        .filter((k) => k.endsWith('.m4s'))
        .map((k) => k.split('/').slice(-2).join('/'))
        .sort();
    expect(await segments()).toEqual(['720p60/0.m4s', '720p60/4.m4s', 'audio/0.m4s', 'audio/4.m4s']);

    const stranger = await signUp('thief');
    const refused = await callApi(`/highlights/${first.id}`, { method: 'DELETE', token: stranger.token });
    expect(refused.status).toBe(403);
    expect((await callApi(`/highlights/${first.id}`, { method: 'DELETE' })).status).toBe(401);

    expect((await callApi(`/highlights/${first.id}`, { method: 'DELETE', token })).status).toBe(204);
    expect((await callApi(`/highlights/${first.id}`)).status).toBe(404);
    expect(await listKeys(`highlights/${first.id}/`)).toEqual([]);
    // The other highlight's segments stay, and it still plays.
    expect(await segments()).toEqual(['720p60/4.m4s', 'audio/4.m4s']);
    expect((await SELF.fetch(`http://localhost/highlights/${second.id}/720p60/4.m4s`)).status).toBe(200);

    expect((await callApi(`/highlights/${second.id}`, { method: 'DELETE', token })).status).toBe(204);
    expect(await listKeys(`streams/${stream.streamId}/`)).toEqual([]);
    expect((await callApi(`/highlights/${second.id}`, { method: 'DELETE', token })).status).toBe(404);
  });
});
