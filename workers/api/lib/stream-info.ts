// Stream info (title, category, tags, language) lives twice: on the channel, as the defaults the
// next stream starts with, and on the open (pending or live) stream viewers are watching. Every
// edit goes through updateStreamInfo so the two never drift apart.
import { z } from '@hono/zod-openapi';
import { createEvent } from '../../../protocol/events.ts';
import { publishEvent } from '../../shared/events.ts';
import { prepareSearchIndexRefresh } from '../../shared/search-index.ts';

export interface StreamInfoPatch {
  title?: string | undefined;
  /** null clears the category. */
  category_id?: number | null | undefined;
  tags?: string[] | undefined;
  language?: string | undefined;
}

const OpenStream = z.object({ id: z.string(), status: z.enum(['pending', 'live']) });
export type OpenStream = z.infer<typeof OpenStream>;

/** A live stream keeps at most this many chapters; later category changes add none. */
export const MAX_CHAPTERS_PER_STREAM = 100;

/**
 * A category change of the live stream becomes a chapter of its VOD. Runs before the stream's row
 * is updated: the first change also records the category the stream went live with, and a "change"
 * to the category it already has records nothing.
 */
function prepareChapter(db: D1Database, channelId: string, categoryId: number | null, now: number) {
  return [
    db
      .prepare(
        `INSERT INTO stream_chapters (stream_id, at, category_id)
         SELECT s.id, coalesce(s.started_at, ?2), s.category_id FROM streams s
         WHERE s.channel_id = ?1 AND s.status = 'live' AND s.category_id IS NOT ?3
           AND NOT EXISTS (SELECT 1 FROM stream_chapters WHERE stream_id = s.id)
         ON CONFLICT DO NOTHING`,
      )
      .bind(channelId, now, categoryId),
    db
      .prepare(
        `INSERT INTO stream_chapters (stream_id, at, category_id)
         SELECT s.id, ?2, ?3 FROM streams s
         WHERE s.channel_id = ?1 AND s.status = 'live' AND s.category_id IS NOT ?3
           AND (SELECT count(*) FROM stream_chapters WHERE stream_id = s.id) < ?4
         ON CONFLICT (stream_id, at) DO UPDATE SET category_id = excluded.category_id`,
      )
      .bind(channelId, now, categoryId, MAX_CHAPTERS_PER_STREAM),
  ];
}

/**
 * Applies `patch` to the channel's defaults and to its open stream in one D1 batch (together with
 * `alongside`, the caller's own statements, and the search row), then tells the stream-events queue
 * when a live stream changed. Returns the open stream, or null when the channel has none.
 */
export async function updateStreamInfo(
  env: Pick<Env, 'DB' | 'STREAM_EVENTS'>,
  channelId: string,
  patch: StreamInfoPatch,
  alongside: D1PreparedStatement[] = [],
): Promise<OpenStream | null> {
  const db = env.DB;
  const columns: [string, string | number | null][] = [];
  if (patch.title !== undefined) columns.push(['title', patch.title]);
  if (patch.category_id !== undefined) columns.push(['category_id', patch.category_id]);
  if (patch.tags !== undefined) columns.push(['tags', JSON.stringify(patch.tags)]);
  if (patch.language !== undefined) columns.push(['language', patch.language]);

  const statements = [...alongside];
  if (patch.category_id !== undefined)
    statements.push(...prepareChapter(db, channelId, patch.category_id, Date.now()));
  if (columns.length > 0) {
    // Column names come from the fixed list above, never from the request.
    const assignments = columns.map(([column]) => `${column} = ?`).join(', ');
    const values = columns.map(([, value]) => value);
    statements.push(
      db.prepare(`UPDATE channels SET ${assignments} WHERE id = ?`).bind(...values, channelId),
      // The status guard makes an edit racing the stream's end leave the ended stream's info final.
      db
        .prepare(`UPDATE streams SET ${assignments} WHERE channel_id = ? AND status IN ('pending', 'live')`)
        .bind(...values, channelId),
    );
  }
  if (statements.length > 0) statements.push(...prepareSearchIndexRefresh(db, channelId));
  statements.push(
    db
      .prepare(
        `SELECT id, status FROM streams WHERE channel_id = ? AND status IN ('pending', 'live')
         ORDER BY created_at DESC LIMIT 1`,
      )
      .bind(channelId),
  );
  const results = await db.batch(statements);
  const open = OpenStream.nullable().parse(results.at(-1)?.results[0] ?? null);
  if (open?.status === 'live' && columns.length > 0) {
    await publishEvent(
      env.STREAM_EVENTS,
      createEvent('stream.updated', { stream_id: open.id, channel_id: channelId }),
    );
  }
  return open;
}
