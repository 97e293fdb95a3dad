// The public shapes of users, channels, categories and live streams, the SQL that reads them, and
// the row schemas that turn D1 rows into them (rows are parsed, never cast).
import { z } from '@hono/zod-openapi';
import { ChannelTier } from '../../../protocol/ingest.ts';
import { MAX_TAG_LENGTH } from '../../../protocol/limits.ts';
import { parseTags } from '../../shared/stream-keys.ts';
import { buildChatWebSocketUrl, type RequestScope, readRequestOrigin } from './router.ts';

export const CategorySchema = z
  .object({ id: z.number().int(), slug: z.string(), name: z.string(), box_art_url: z.string().nullable() })
  .openapi('Category');
export type Category = z.infer<typeof CategorySchema>;

export const UserSchema = z
  .object({ id: z.string(), username: z.string(), created_at: z.string() })
  .openapi('User');

export const ChannelSchema = z
  .object({
    id: z.string(),
    user_id: z.string(),
    name: z.string(),
    display_name: z.string(),
    description: z.string(),
    avatar_url: z.string().nullable(),
    banner_url: z.string().nullable(),
    follower_count: z.number().int(),
    subscriber_count: z.number().int(),
    tier: ChannelTier,
    title: z.string(),
    category: CategorySchema.nullable(),
    language: z.string(),
    tags: z.array(z.string()),
    created_at: z.string(),
    is_live: z.boolean(),
    /** Whether viewers may clip this channel (the owner's setting, PATCH /channels/{id}). */
    clips_enabled: z.boolean(),
    chat_websocket: z.string(),
  })
  .openapi('Channel');
export type Channel = z.infer<typeof ChannelSchema>;

export const LiveStreamSchema = z
  .object({
    stream_id: z.string(),
    channel: z.object({
      id: z.string(),
      name: z.string(),
      display_name: z.string(),
      avatar: z.string().nullable(),
    }),
    title: z.string(),
    category: CategorySchema.nullable(),
    tags: z.array(z.string()),
    language: z.string(),
    viewer_count: z.number().int(),
    /** The most viewers this stream had at once (players signalling presence, 10 s sweeps). */
    peak_viewers: z.number().int(),
    started_at: z.string().nullable(),
    thumbnail_url: z.string().nullable(),
    manifest_url: z.string(),
    chat_websocket: z.string(),
  })
  .openapi('LiveStream');
export type LiveStream = z.infer<typeof LiveStreamSchema>;

export const UserRow = z.object({ id: z.string(), username: z.string(), created_at: z.number() });

export function toUser(row: z.infer<typeof UserRow>) {
  return { id: row.id, username: row.username, created_at: new Date(row.created_at).toISOString() };
}

const CategoryColumns = z.object({
  category_id: z.number().int().nullable(),
  category_slug: z.string().nullable(),
  category_name: z.string().nullable(),
  category_box_art_url: z.string().nullable(),
});

function toCategory(row: z.infer<typeof CategoryColumns>): Category | null {
  if (row.category_id === null || row.category_slug === null || row.category_name === null) return null;
  return {
    id: row.category_id,
    slug: row.category_slug,
    name: row.category_name,
    box_art_url: row.category_box_art_url,
  };
}

export const CHANNEL_SELECT = `
  SELECT c.id, c.user_id, c.name, c.display_name, c.description, c.avatar_url, c.banner_url,
         c.follower_count, c.subscriber_count, c.tier, c.title, c.language, c.tags, c.created_at,
         c.clips_enabled,
         c.category_id, cat.slug AS category_slug, cat.name AS category_name,
         cat.box_art_url AS category_box_art_url,
         EXISTS (SELECT 1 FROM streams s WHERE s.channel_id = c.id AND s.status = 'live') AS is_live
  FROM channels c LEFT JOIN categories cat ON cat.id = c.category_id`;

export const ChannelRow = CategoryColumns.extend({
  id: z.string(),
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  description: z.string(),
  avatar_url: z.string().nullable(),
  banner_url: z.string().nullable(),
  follower_count: z.number().int(),
  subscriber_count: z.number().int(),
  tier: ChannelTier,
  title: z.string(),
  language: z.string(),
  tags: z.string(),
  created_at: z.number(),
  is_live: z.number(),
  clips_enabled: z.number(),
});

export function toChannel(c: RequestScope, row: z.infer<typeof ChannelRow>): Channel {
  return {
    id: row.id,
    user_id: row.user_id,
    name: row.name,
    display_name: row.display_name,
    description: row.description,
    avatar_url: row.avatar_url,
    banner_url: row.banner_url,
    follower_count: row.follower_count,
    subscriber_count: row.subscriber_count,
    tier: row.tier,
    title: row.title,
    category: toCategory(row),
    language: row.language,
    tags: parseTags(row.tags),
    created_at: new Date(row.created_at).toISOString(),
    is_live: row.is_live === 1,
    clips_enabled: row.clips_enabled !== 0,
    chat_websocket: buildChatWebSocketUrl(c, row.id),
  };
}

/** Loads a channel by id or (case-insensitive) name. */
export async function findChannel(c: RequestScope, idOrName: string): Promise<Channel | null> {
  const row = await c.env.DB.prepare(`${CHANNEL_SELECT} WHERE c.id = ?1 OR c.name = ?1 LIMIT 1`)
    .bind(idOrName)
    .first();
  return row ? toChannel(c, ChannelRow.parse(row)) : null;
}

/** Loads the channel a user owns (every user has exactly one). */
export async function findChannelOfUser(c: RequestScope, userId: string): Promise<Channel> {
  const row = await c.env.DB.prepare(`${CHANNEL_SELECT} WHERE c.user_id = ?`).bind(userId).first();
  if (!row) throw new Error(`user ${userId} has no channel`);
  return toChannel(c, ChannelRow.parse(row));
}

export const STREAM_SELECT = `
  SELECT s.id AS stream_id, s.channel_id, s.status, s.title, s.tags, s.language, s.viewer_count,
         s.peak_viewers,
         s.started_at, s.thumbnail_url, s.category_id, cat.slug AS category_slug,
         cat.name AS category_name, cat.box_art_url AS category_box_art_url,
         ch.name AS channel_name, ch.display_name AS channel_display_name, ch.avatar_url AS channel_avatar
  FROM streams s JOIN channels ch ON ch.id = s.channel_id LEFT JOIN categories cat ON cat.id = s.category_id`;

export const StreamRow = CategoryColumns.extend({
  stream_id: z.string(),
  channel_id: z.string(),
  status: z.enum(['pending', 'live', 'ended']),
  title: z.string(),
  tags: z.string(),
  language: z.string(),
  viewer_count: z.number().int(),
  peak_viewers: z.number().int(),
  started_at: z.number().nullable(),
  thumbnail_url: z.string().nullable(),
  channel_name: z.string(),
  channel_display_name: z.string(),
  channel_avatar: z.string().nullable(),
});
export type StreamRow = z.infer<typeof StreamRow>;

export function toLiveStream(c: RequestScope, row: StreamRow): LiveStream {
  return {
    stream_id: row.stream_id,
    channel: {
      id: row.channel_id,
      name: row.channel_name,
      display_name: row.channel_display_name,
      avatar: row.channel_avatar,
    },
    title: row.title,
    category: toCategory(row),
    tags: parseTags(row.tags),
    language: row.language,
    viewer_count: row.viewer_count,
    peak_viewers: row.peak_viewers,
    started_at: row.started_at === null ? null : new Date(row.started_at).toISOString(),
    thumbnail_url: row.thumbnail_url,
    manifest_url: `${readRequestOrigin(c)}/live/${encodeURIComponent(row.channel_id)}/master.m3u8`,
    chat_websocket: buildChatWebSocketUrl(c, row.channel_id),
  };
}

/**
 * A category in use named by id, slug or display name (case-insensitive); null when none matches
 * or it is retired (operators retired it: no new stream takes it, workers/api/routes/categories.ts).
 */
export async function findCategory(db: D1Database, ref: string | number): Promise<Category | null> {
  const row =
    typeof ref === 'number' || /^\d+$/.test(ref)
      ? await db
          .prepare('SELECT id, slug, name, box_art_url FROM categories WHERE id = ? AND retired_at IS NULL')
          .bind(Number(ref))
          .first()
      : await db
          .prepare(
            `SELECT id, slug, name, box_art_url FROM categories
             WHERE (slug = ?1 COLLATE NOCASE OR name = ?1 COLLATE NOCASE) AND retired_at IS NULL`,
          )
          .bind(ref)
          .first();
  return row ? CategorySchema.parse(row) : null;
}

/** One tag as the directory's `?tag=` takes it: 1-25 characters, no control or invisible ones. */
export const TagInput = z
  .string()
  .trim()
  .min(1)
  .max(MAX_TAG_LENGTH)
  .refine((tag) => !/[\p{Cc}\p{Cf}]/u.test(tag), 'No control or invisible characters');
/** Tags as the API accepts them: at most 10, each 1-25 characters. */
export const TagsInput = z.array(z.string().trim().min(1).max(MAX_TAG_LENGTH)).max(10);
/** A category reference: id, slug or name. */
export const CategoryRef = z.union([z.number().int().positive(), z.string().trim().min(1).max(100)]);
export const LanguageInput = z.string().trim().min(2).max(10);
