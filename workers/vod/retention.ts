// Retention: VODs for VOD_RETENTION_DAYS, live-only parts for LIVE_PART_RETENTION_HOURS, clips
// forever. The cron runs these sweeps with a bound on R2 deletes per run; each is idempotent and
// resumable: an expiring VOD stays 'deleting' until its media is gone, and the parts sweep keeps
// its position in retention_cursors. docs/retention.md gives the matching R2 lifecycle rules.
import { z } from 'zod';
import { getStreamPartsPrefix, getStreamPrefix, getVodPrefix } from '../../media/vod-keys.ts';
import { isPinnedKey, type PinnedRange, readPinnedRanges } from './highlights.ts';
import { getChatPrefix, purgePrefix, purgePrefixExcept } from './r2-storage.ts';
import { readSweepCursor, saveSweepCursor } from './sweep-cursors.ts';
import { forgetVodStream, withdrawStream } from './vod-lookup.ts';

const HOUR_MS = 60 * 60 * 1000;
/** VODs taken up per run; each may need several runs when its stream was long. */
const VODS_PER_RUN = 10;
const STREAMS_PER_RUN = 50;
export const PARTS_CURSOR = 'live-parts';

export interface PurgeResult {
  deleted: number;
  done: boolean;
}

/**
 * Deletes a VOD's objects: its playlists first (so playback answers 404 at once), then the
 * stream's media (segments, inits, thumbnail under streams/, the live parts under parts/) and its
 * chat archive. Clips are separate objects (with their own thumbnail copy) and stay, and so do the
 * segments the stream's highlights play (`pinned`, workers/vod/highlights.ts) with its inits and
 * thumbnail: highlights are kept for good.
 */
export async function purgeVodMedia(
  bucket: R2Bucket,
  vod: { id: string; stream_id: string },
  budget: number,
  pinned: readonly PinnedRange[] = [],
): Promise<PurgeResult> {
  let deleted = 0;
  const streamPrefix = getStreamPrefix(vod.stream_id);
  const prefixes = [
    getVodPrefix(vod.id),
    streamPrefix,
    getStreamPartsPrefix(vod.stream_id),
    getChatPrefix(vod.stream_id),
  ];
  for (const prefix of prefixes) {
    const result =
      prefix === streamPrefix && pinned.length > 0
        ? await purgePrefixExcept(bucket, prefix, budget - deleted, (key) =>
            isPinnedKey(key, streamPrefix, pinned),
          )
        : await purgePrefix(bucket, prefix, budget - deleted);
    deleted += result.deleted;
    if (!result.done) return { deleted, done: false };
  }
  return { deleted, done: true };
}

/**
 * Marks a VOD deleting, purges what `budget` allows, and marks it deleted once its media is gone.
 * Its media is withdrawn at once, before the purge: the live URLs that name the same objects 404
 * (this isolate at once, others within VOD_LOOKUP_TTL_MS), and the channel's LiveStream object
 * stops listing the stream if it still holds it as its ended stream.
 */
export async function deleteVod(
  env: Env,
  vod: { id: string; stream_id: string; channel_id: string },
  budget: number,
): Promise<PurgeResult> {
  await env.DB.prepare("UPDATE vods SET status = 'deleting' WHERE id = ? AND status = 'ready'")
    .bind(vod.id)
    .run();
  forgetVodStream(vod.id);
  withdrawStream(vod.stream_id);
  await env.LIVE_STREAM.getByName(vod.channel_id).forgetStream(vod.stream_id, { withdraw: true });
  // Read after the VOD is 'deleting': a highlight is only created while it is 'ready'.
  const pinned = await readPinnedRanges(env.DB, vod.stream_id);
  const result = await purgeVodMedia(env.MEDIA, vod, budget, pinned);
  if (result.done) {
    await env.DB.batch([
      env.DB.prepare("UPDATE vods SET status = 'deleted' WHERE id = ?").bind(vod.id),
      env.DB.prepare('UPDATE streams SET vod_url = NULL WHERE id = ?').bind(vod.stream_id),
    ]);
  }
  return result;
}

/** Expired VODs (and ones a DELETE left half-purged) lose their media, at most `maxDeletes` objects a run. */
export async function sweepExpiredVods(env: Env, now: number, maxDeletes: number): Promise<PurgeResult> {
  const db = env.DB;
  await db
    .prepare("UPDATE vods SET status = 'deleting' WHERE status = 'ready' AND expires_at <= ?")
    .bind(now)
    .run();
  const { results } = await db
    .prepare(
      "SELECT id, stream_id, channel_id FROM vods WHERE status = 'deleting' ORDER BY expires_at, id LIMIT ?",
    )
    .bind(VODS_PER_RUN)
    .all();
  let deleted = 0;
  for (const vod of results.map((row) => DeletingVod.parse(row))) {
    const result = await deleteVod(env, vod, maxDeletes - deleted);
    deleted += result.deleted;
    if (!result.done) return { deleted, done: false };
  }
  return { deleted, done: results.length < VODS_PER_RUN };
}

const DeletingVod = z.object({ id: z.string(), stream_id: z.string(), channel_id: z.string() });
const EndedStream = z.object({ id: z.string(), ended_at: z.number() });
const PartsCursor = z.object({ ended_at: z.number(), stream_id: z.string() });

/**
 * Parts exist for LL-HLS viewers at the live edge; the VOD and clips use whole segments. Streams
 * that ended more than `retentionHours` ago lose theirs, in (ended_at, id) order from the cursor,
 * which only moves past a stream once its parts prefix is empty.
 */
export async function sweepLiveParts(
  env: Env,
  now: number,
  retentionHours: number,
  maxDeletes: number,
): Promise<PurgeResult> {
  const db = env.DB;
  let cursor = await readSweepCursor(db, PARTS_CURSOR, PartsCursor, { ended_at: 0, stream_id: '' });
  const { results } = await db
    .prepare(
      `SELECT id, ended_at FROM streams
       WHERE status = 'ended' AND ended_at IS NOT NULL AND ended_at < ?1
         AND (ended_at > ?2 OR (ended_at = ?2 AND id > ?3))
       ORDER BY ended_at, id LIMIT ?4`,
    )
    .bind(now - retentionHours * HOUR_MS, cursor.ended_at, cursor.stream_id, STREAMS_PER_RUN)
    .all();
  let deleted = 0;
  let done = true;
  for (const stream of results.map((row) => EndedStream.parse(row))) {
    const result = await purgePrefix(env.MEDIA, getStreamPartsPrefix(stream.id), maxDeletes - deleted);
    deleted += result.deleted;
    if (!result.done) {
      done = false;
      break;
    }
    cursor = { ended_at: stream.ended_at, stream_id: stream.id };
  }
  await saveSweepCursor(db, PARTS_CURSOR, cursor, now);
  return { deleted, done: done && results.length < STREAMS_PER_RUN };
}
