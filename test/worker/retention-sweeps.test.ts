// Retention with a fake clock: the sweeps get `now` passed in, so 60 days and 48 hours pass
// without waiting. Expired VOD media leaves R2 and D1 agrees; parts of long-ended streams go;
// clips and everything unexpired stay; bounded runs resume where the last one stopped.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { runSweeps, SWEEPS } from '../../workers/cron.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { PARTS_CURSOR, sweepExpiredVods, sweepLiveParts } from '../../workers/vod/retention.ts';
import { callApi, signUp } from './api-helpers.ts';
import { deliverStreamEnded, endSyntheticStream, listKeys, startSyntheticStream } from './vod-fixtures.ts';

const DAY_MS = 86_400_000;

async function makeVod() {
  const stream = await startSyntheticStream(['720p60', 'audio'], 3);
  await endSyntheticStream(stream);
  await deliverStreamEnded(stream, 6);
  const vodId = await deriveVodId(stream.streamId);
  const row = await env.DB.prepare('SELECT expires_at FROM vods WHERE id = ?')
    .bind(vodId)
    .first<{ expires_at: number }>();
  if (!row) throw new Error('no VOD');
  return { stream, vodId, expiresAt: row.expires_at };
}

async function readStatus(vodId: string): Promise<string | undefined> {
  return (
    await env.DB.prepare('SELECT status FROM vods WHERE id = ?').bind(vodId).first<{ status: string }>()
  )?.status;
}

describe('retention sweeps', () => {
  it('deletes an expired VOD media from R2 and marks it deleted, touching nothing else', async () => {
    const expired = await makeVod();
    const kept = await makeVod();
    await env.DB.prepare('UPDATE vods SET expires_at = ? WHERE id = ?')
      .bind(expired.expiresAt - DAY_MS, expired.vodId)
      .run();
    await env.MEDIA.put('clips/retention-keeper.mp4', 'clip bytes');
    const now = expired.expiresAt - DAY_MS / 2;

    const before = await listKeys(`streams/${kept.stream.streamId}/`);
    await sweepExpiredVods(env, now, 10_000);
    expect(await listKeys(`streams/${expired.stream.streamId}/`)).toEqual([]);
    expect(await listKeys(`vods/${expired.vodId}/`)).toEqual([]);
    // The live parts go with the VOD: left behind, they would still play the whole broadcast.
    expect(await listKeys(`parts/${expired.stream.streamId}/`)).toEqual([]);
    expect(await readStatus(expired.vodId)).toBe('deleted');
    const stream = await env.DB.prepare('SELECT vod_url FROM streams WHERE id = ?')
      .bind(expired.stream.streamId)
      .first<{ vod_url: string | null }>();
    expect(stream?.vod_url).toBeNull();
    expect((await callApi(`/vods/${expired.vodId}`)).status).toBe(404);

    expect(await readStatus(kept.vodId)).toBe('ready');
    expect(await listKeys(`streams/${kept.stream.streamId}/`)).toEqual(before);
    // master, two media playlists, the MPD and the segment index.
    expect(await listKeys(`vods/${kept.vodId}/`)).toHaveLength(5);
    expect(await listKeys(`parts/${kept.stream.streamId}/`)).not.toEqual([]);
    expect(await env.MEDIA.head('clips/retention-keeper.mp4')).not.toBeNull();
  });

  it('spreads a large purge over bounded runs and resumes where the last run stopped', async () => {
    const { stream, vodId } = await makeVod();
    // An expiry long past, so the fake clock below expires this VOD and no other of the file.
    const expiresAt = 1000;
    await env.DB.prepare('UPDATE vods SET expires_at = ? WHERE id = ?').bind(expiresAt, vodId).run();
    const total =
      (await listKeys(`streams/${stream.streamId}/`)).length +
      (await listKeys(`parts/${stream.streamId}/`)).length +
      (await listKeys(`vods/${vodId}/`)).length;
    const budget = 7;
    let runs = 0;
    let left = total;
    while ((await readStatus(vodId)) !== 'deleted' && runs < 50) {
      const result = await sweepExpiredVods(env, expiresAt + 1, budget);
      expect(result.deleted).toBeLessThanOrEqual(budget);
      left -= result.deleted;
      runs++;
    }
    expect(left).toBe(0);
    expect(runs).toBe(Math.ceil(total / budget));
    // Another run finds nothing to do: the sweep is idempotent.
    expect(await sweepExpiredVods(env, expiresAt + 2, budget)).toMatchObject({ deleted: 0 });
  });

  it('finishes through the cron a DELETE that its own budget could not complete', async () => {
    const { stream, vodId } = await makeVod();
    await env.DB.prepare("UPDATE vods SET status = 'deleting' WHERE id = ?").bind(vodId).run();
    await runSweeps(SWEEPS, env, Date.now());
    expect(await readStatus(vodId)).toBe('deleted');
    expect(await listKeys(`streams/${stream.streamId}/`)).toEqual([]);
    expect(await listKeys(`parts/${stream.streamId}/`)).toEqual([]);
  });

  it('removes the parts of streams that ended more than 48 hours ago, in cursor order, and keeps their segments', async () => {
    const old = await startSyntheticStream(['720p60'], 2);
    await endSyntheticStream(old);
    const recent = await startSyntheticStream(['720p60'], 2);
    await endSyntheticStream(recent);
    const endedAt = Date.now();
    await env.DB.prepare('UPDATE streams SET ended_at = ? WHERE id = ?')
      .bind(endedAt - 49 * 3_600_000, old.streamId)
      .run();
    await env.DB.prepare('UPDATE streams SET ended_at = ? WHERE id = ?').bind(endedAt, recent.streamId).run();
    const oldSegments = (await listKeys(`streams/${old.streamId}/720p60/`)).length;
    expect(await listKeys(`parts/${old.streamId}/`)).toHaveLength(20);

    // A budget of 15 leaves the stream half done: the cursor must not pass it.
    await sweepLiveParts(env, endedAt, 48, 15);
    expect(await listKeys(`parts/${old.streamId}/`)).toHaveLength(5);
    await sweepLiveParts(env, endedAt, 48, 15);
    expect(await listKeys(`parts/${old.streamId}/`)).toEqual([]);
    const cursor = await env.DB.prepare('SELECT cursor FROM retention_cursors WHERE name = ?')
      .bind(PARTS_CURSOR)
      .first<{ cursor: string }>();
    expect(JSON.parse(cursor?.cursor ?? '{}')).toMatchObject({ stream_id: old.streamId });
    expect(await listKeys(`streams/${old.streamId}/720p60/`)).toHaveLength(oldSegments);
    expect(await listKeys(`parts/${recent.streamId}/`)).toHaveLength(20);
  });

  it('lets only the owner delete a VOD, and the DELETE removes its media and makes playback 404', async () => {
    const { stream, vodId } = await makeVod();
    const stranger = await signUp('stranger');
    expect((await callApi(`/vods/${vodId}`, { method: 'DELETE' })).status).toBe(401);
    expect((await callApi(`/vods/${vodId}`, { method: 'DELETE', token: stranger.token })).status).toBe(403);
    // The fixture channel's owner has no session yet: store one the way createSession does.
    const owner = await env.DB.prepare('SELECT user_id FROM channels WHERE id = ?')
      .bind(stream.channel.channelId)
      .first<{ user_id: string }>();
    const token = crypto.randomUUID();
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
    const hash = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    await env.DB.prepare(
      'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
    )
      .bind(hash, owner?.user_id, Date.now(), Date.now() + DAY_MS)
      .run();
    expect(await listKeys(`parts/${stream.streamId}/`)).not.toEqual([]);
    expect((await callApi(`/vods/${vodId}`, { method: 'DELETE', token })).status).toBe(204);
    expect(await listKeys(`streams/${stream.streamId}/`)).toEqual([]);
    expect(await listKeys(`parts/${stream.streamId}/`)).toEqual([]);
    expect(await listKeys(`vods/${vodId}/`)).toEqual([]);
    expect(await readStatus(vodId)).toBe('deleted');
    expect((await callApi(`/vods/${vodId}`, { method: 'DELETE', token })).status).toBe(404);
  });
});
