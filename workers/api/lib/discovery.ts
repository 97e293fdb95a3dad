// The queries behind "recommended for you" and "similar channels". Every query is bounded by an
// index and a LIMIT before it groups, so a channel with a million followers costs what one with
// fifty does:
// - co-following: FOLLOWER_SAMPLE followers of a channel read in idx_follows_channel_user order
//   (user ids are random UUIDs, so the first N are a uniform sample), then at most CO_FOLLOW_ROWS of
//   their follows by the follows primary key, grouped;
// - a category's live streams: idx_streams_category_live, LIMIT;
// - popular now: idx_streams_live_viewers, LIMIT.
import { z } from '@hono/zod-openapi';
import { STREAM_SELECT, StreamRow } from './views.ts';

/** Followers of a channel whose other follows are counted ("people who follow X also follow Y"). */
export const FOLLOWER_SAMPLE = 50;
/** Follows read for those followers, at most, whatever each of them follows. */
export const CO_FOLLOW_ROWS = 2000;
/** Followed channels whose co-followers seed the recommendations: the most recently followed. */
export const SEED_CHANNELS = 5;
/** A viewer's follows read to exclude them (the Following rail shows them) and find seeds. */
export const FOLLOWS_READ = 200;
/** Categories (watched or of followed channels) whose popular streams are candidates. */
export const SEED_CATEGORIES = 3;
export const MAX_RECOMMENDATIONS = 24;

const CoFollowRow = z.object({ channel_id: z.string(), n: z.number().int() });
export type CoFollow = z.infer<typeof CoFollowRow>;

/**
 * Channels that a sample of `channelId`'s followers follow too, by how many of them (not
 * `channelId` itself). Reads at most FOLLOWER_SAMPLE + CO_FOLLOW_ROWS index rows.
 */
export function prepareCoFollows(db: D1Database, channelId: string, excludeUserId: string | null) {
  return db
    .prepare(
      `SELECT channel_id, count(*) AS n FROM (
         SELECT f2.channel_id FROM (
           SELECT user_id FROM follows INDEXED BY idx_follows_channel_user
           WHERE channel_id = ?1 AND user_id IS NOT ?2 LIMIT ${FOLLOWER_SAMPLE}
         ) p JOIN follows f2 ON f2.user_id = p.user_id
         LIMIT ${CO_FOLLOW_ROWS}
       ) WHERE channel_id != ?1 GROUP BY channel_id ORDER BY n DESC, channel_id LIMIT 50`,
    )
    .bind(channelId, excludeUserId);
}

export function readCoFollows(result: D1Result | undefined): CoFollow[] {
  return (result?.results ?? []).map((row) => CoFollowRow.parse(row));
}

/** The live streams of a category, busiest first (idx_streams_category_live). */
export function prepareCategoryLive(db: D1Database, categoryId: number, limit: number) {
  return db
    .prepare(
      `${STREAM_SELECT} WHERE s.category_id = ? AND s.status = 'live' ORDER BY s.viewer_count DESC LIMIT ?`,
    )
    .bind(categoryId, limit);
}

/** The busiest live streams (idx_streams_live_viewers). */
export function preparePopularLive(db: D1Database, limit: number) {
  return db
    .prepare(`${STREAM_SELECT} WHERE s.status = 'live' ORDER BY s.viewer_count DESC LIMIT ?`)
    .bind(limit);
}

/** The live streams of up to 100 named channels (idx_streams_channel per channel). */
export function prepareLiveOfChannels(db: D1Database, channelIds: readonly string[]) {
  const ids = channelIds.slice(0, 100);
  return db
    .prepare(`${STREAM_SELECT} WHERE s.status = 'live' AND s.channel_id IN (SELECT value FROM json_each(?))`)
    .bind(JSON.stringify(ids));
}

export function readStreams(result: D1Result | undefined): StreamRow[] {
  return (result?.results ?? []).map((row) => StreamRow.parse(row));
}
