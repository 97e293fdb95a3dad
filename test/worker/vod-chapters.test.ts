// VOD chapters: a live stream's category changes (through the API) become chapters of its VOD,
// placed on the VOD's clock, the first at 0; a change to the same category, one before the stream
// is live and one after it ended add none, and a stream keeps at most MAX_CHAPTERS_PER_STREAM.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { MAX_CHAPTERS_PER_STREAM } from '../../workers/api/lib/stream-info.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { callApi, signUp, type TestSession } from './api-helpers.ts';
import { deliverStreamEnded, endSyntheticStream, startSyntheticStream } from './vod-fixtures.ts';

async function goLive(owner: TestSession) {
  const key = (await (
    await callApi(`/channels/${owner.channel.id}/stream-key`, { token: owner.token })
  ).json()) as {
    stream_key: string;
  };
  return startSyntheticStream(['720p60'], 6, {
    channel: { channelId: owner.channel.id, userId: owner.user.id, streamKey: key.stream_key },
  });
}

async function setCategory(owner: TestSession, streamId: string, category: string): Promise<number> {
  const res = await callApi(`/streams/${streamId}`, {
    method: 'PATCH',
    token: owner.token,
    body: { category },
  });
  return res.status;
}

async function readChapterRows(streamId: string) {
  const { results } = await env.DB.prepare(
    'SELECT at, category_id FROM stream_chapters WHERE stream_id = ? ORDER BY at',
  )
    .bind(streamId)
    .all<{ at: number; category_id: number | null }>();
  return results;
}

describe('VOD chapters', () => {
  it("turns the live stream's category changes into seekable chapters of its VOD", async () => {
    const owner = await signUp('chapters');
    // Before the stream is live, a category is the next stream's default: no chapter.
    const before = await callApi(`/channels/${owner.channel.id}`, {
      method: 'PATCH',
      token: owner.token,
      body: { category: 'music' },
    });
    expect(before.status).toBe(200);
    const stream = await goLive(owner);
    expect(await readChapterRows(stream.streamId)).toEqual([]);
    // The category it already has is no change.
    expect(await setCategory(owner, stream.streamId, 'music')).toBe(200);
    expect(await readChapterRows(stream.streamId)).toEqual([]);

    expect(await setCategory(owner, stream.streamId, 'art')).toBe(200);
    let rows = await readChapterRows(stream.streamId);
    expect(rows.map((row) => row.category_id)).toEqual([2, 6]);
    expect(Math.abs((rows[1]?.at ?? 0) - Date.now())).toBeLessThan(10_000);
    expect(await setCategory(owner, stream.streamId, 'irl')).toBe(200);
    rows = await readChapterRows(stream.streamId);
    expect(rows.map((row) => row.category_id)).toEqual([2, 6, 8]);
    // The fixture back-dates its media (12 s of segments that end now) but not the stream's
    // started_at: the chapters are moved onto the media's clock, the go-live category at its first
    // sample and the changes at 5 s and 9 s, as if made while those segments were live.
    await env.DB.batch([
      env.DB.prepare('UPDATE stream_chapters SET at = ? WHERE stream_id = ? AND category_id = 2').bind(
        stream.startPdt,
        stream.streamId,
      ),
      env.DB.prepare('UPDATE stream_chapters SET at = ? WHERE stream_id = ? AND category_id = 6').bind(
        stream.startPdt + 5000,
        stream.streamId,
      ),
      env.DB.prepare('UPDATE stream_chapters SET at = ? WHERE stream_id = ? AND category_id = 8').bind(
        stream.startPdt + 9000,
        stream.streamId,
      ),
    ]);
    await endSyntheticStream(stream);
    await deliverStreamEnded(stream, 12);
    // After the end the stream's info is final: no chapter.
    expect(await setCategory(owner, stream.streamId, 'sports')).toBe(422);
    expect(await readChapterRows(stream.streamId)).toHaveLength(3);

    const vodId = await deriveVodId(stream.streamId);
    const vod = (await (await callApi(`/vods/${vodId}`)).json()) as {
      duration_seconds: number;
      chapters: { start_seconds: number; duration_seconds: number; category: { slug: string } | null }[];
    };
    expect(vod.duration_seconds).toBe(12);
    expect(vod.chapters.map((c) => [c.start_seconds, c.duration_seconds, c.category?.slug])).toEqual([
      [0, 5, 'music'],
      [5, 4, 'art'],
      [9, 3, 'irl'],
    ]);
  });

  it(`keeps at most ${MAX_CHAPTERS_PER_STREAM} chapters per stream`, async () => {
    const owner = await signUp('manychapters');
    const stream = await goLive(owner);
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO stream_chapters (stream_id, at, category_id) SELECT ?1, i, 1 + (i % 8) FROM n`,
    )
      .bind(stream.streamId, MAX_CHAPTERS_PER_STREAM)
      .run();
    expect(await setCategory(owner, stream.streamId, 'minecraft')).toBe(200);
    expect(await readChapterRows(stream.streamId)).toHaveLength(MAX_CHAPTERS_PER_STREAM);
    await endSyntheticStream(stream);
  });
});
