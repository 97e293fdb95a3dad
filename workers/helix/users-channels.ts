// Helix users, channels, streams, games and search (dev.twitch.tv/docs/api/reference), over the
// same D1 tables the /api/v1 routes read. A user and their channel are one id here, as on Twitch
// (broadcaster_id is the user's id). Differences are listed in docs/twitch-compat.md.
import { Hono } from 'hono';
import { z } from 'zod';
import { updateStreamInfo } from '../api/lib/stream-info.ts';
import { findCategory } from '../api/lib/views.ts';
import { HelixError, type HelixVariables, requireScope, requireSelf } from './auth.ts';
import {
  KeyIdPosition,
  paginate,
  readAfter,
  readFirst,
  readList,
  readRequired,
  TagsColumn,
  toRfc3339,
} from './params.ts';

const UserRow = z.object({
  id: z.string(),
  username: z.string(),
  display_name: z.string(),
  description: z.string(),
  avatar_url: z.string().nullable(),
  banner_url: z.string().nullable(),
  tier: z.string(),
  created_at: z.number(),
});

const USER_SELECT = `SELECT u.id, u.username, c.display_name, c.description, c.avatar_url, c.banner_url, c.tier, u.created_at
  FROM users u JOIN channels c ON c.user_id = u.id`;

const ChannelRow = z.object({
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  language: z.string(),
  category_id: z.number().nullable(),
  category_name: z.string().nullable(),
  title: z.string(),
  tags: TagsColumn,
});
const CHANNEL_SELECT = `SELECT c.user_id, c.name, c.display_name, c.language, c.category_id, cat.name AS category_name, c.title, c.tags
  FROM channels c LEFT JOIN categories cat ON cat.id = c.category_id`;

const StreamRow = z.object({
  stream_id: z.string(),
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  category_id: z.number().nullable(),
  category_name: z.string().nullable(),
  title: z.string(),
  tags: TagsColumn,
  viewer_count: z.number(),
  started_at: z.number().nullable(),
  language: z.string(),
  thumbnail_url: z.string().nullable(),
});
const STREAM_SELECT = `SELECT s.id AS stream_id, c.user_id, c.name, c.display_name, s.category_id, cat.name AS category_name,
    s.title, s.tags, s.viewer_count, s.started_at, s.language, s.thumbnail_url
  FROM streams s JOIN channels c ON c.id = s.channel_id LEFT JOIN categories cat ON cat.id = s.category_id`;

const CategoryRow = z.object({ id: z.number(), name: z.string(), box_art_url: z.string().nullable() });

/** Box art as Twitch gives it, an absolute URL (ours are served by the API: a path until here). */
function toGame(origin: string, row: z.infer<typeof CategoryRow>) {
  const art = row.box_art_url === null ? '' : new URL(row.box_art_url, origin).toString();
  return { id: String(row.id), name: row.name, box_art_url: art, igdb_id: '' };
}

/** `column IN (...)` over one bound JSON array, so a list of 100 ids is one parameter. */
/** One live stream in Helix's shape (GET /streams, GET /streams/followed). */
function describeStream(row: z.infer<typeof StreamRow>) {
  return {
    id: row.stream_id,
    user_id: row.user_id,
    user_login: row.name.toLowerCase(),
    user_name: row.display_name,
    game_id: row.category_id === null ? '' : String(row.category_id),
    game_name: row.category_name ?? '',
    type: 'live',
    title: row.title,
    tags: row.tags,
    viewer_count: row.viewer_count,
    started_at: toRfc3339(row.started_at),
    language: row.language,
    thumbnail_url: row.thumbnail_url ?? '',
    tag_ids: [],
    is_mature: false,
  };
}

function inList(column: string): string {
  return `${column} IN (SELECT value FROM json_each(?))`;
}

const ModifyChannelBody = z.object({
  game_id: z.string().max(20).optional(),
  broadcaster_language: z.string().min(2).max(10).optional(),
  title: z.string().min(1).max(140).optional(),
  tags: z.array(z.string().min(1).max(25)).max(10).optional(),
});

export const helixUsersChannelsApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>()
  .get('/users', async (c) => {
    const ids = readList(c, 'id');
    const logins = readList(c, 'login');
    if (ids.length + logins.length > 100)
      throw new HelixError(400, 'The maximum number of id and login values is 100');
    let where: string;
    let binds: string[];
    if (ids.length + logins.length === 0) {
      // No parameters: the token's user (Twitch: "If you don't specify IDs or login names, the request returns the user from the OAuth token").
      const self = c.get('token').userId;
      if (self === null)
        throw new HelixError(400, 'The id or login parameter is required for an app access token');
      where = 'u.id = ?';
      binds = [self];
    } else {
      where = `(${inList('u.id')} OR ${inList('u.username')})`;
      binds = [JSON.stringify(ids), JSON.stringify(logins)];
    }
    const { results } = await c.env.DB.prepare(`${USER_SELECT} WHERE ${where} LIMIT 100`)
      .bind(...binds)
      .all();
    const data = results.map((raw) => {
      const row = UserRow.parse(raw);
      return {
        id: row.id,
        login: row.username.toLowerCase(),
        display_name: row.display_name,
        type: '',
        broadcaster_type: row.tier === 'none' ? '' : row.tier,
        description: row.description,
        profile_image_url: row.avatar_url ?? '',
        offline_image_url: row.banner_url ?? '',
        view_count: 0,
        created_at: toRfc3339(row.created_at),
      };
    });
    return c.json({ data });
  })
  .get('/channels', async (c) => {
    const ids = readList(c, 'broadcaster_id');
    if (ids.length === 0) throw new HelixError(400, 'Missing required parameter "broadcaster_id"');
    const { results } = await c.env.DB.prepare(`${CHANNEL_SELECT} WHERE ${inList('c.user_id')} LIMIT 100`)
      .bind(JSON.stringify(ids))
      .all();
    const data = results.map((raw) => {
      const row = ChannelRow.parse(raw);
      return {
        broadcaster_id: row.user_id,
        broadcaster_login: row.name.toLowerCase(),
        broadcaster_name: row.display_name,
        broadcaster_language: row.language,
        game_id: row.category_id === null ? '' : String(row.category_id),
        game_name: row.category_name ?? '',
        title: row.title,
        delay: 0,
        tags: row.tags,
        content_classification_labels: [],
        is_branded_content: false,
      };
    });
    return c.json({ data });
  })
  .patch('/channels', async (c) => {
    requireScope(c, 'channel:manage:broadcast');
    const userId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    const parsed = ModifyChannelBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) throw new HelixError(400, 'The request body is malformed');
    const body = parsed.data;
    let categoryId: number | null | undefined;
    if (body.game_id !== undefined) {
      // Twitch: "game_id: ... Use '' or '0' to remove the game."
      if (body.game_id === '' || body.game_id === '0') categoryId = null;
      else {
        const category = /^\d+$/.test(body.game_id)
          ? await findCategory(c.env.DB, Number(body.game_id))
          : null;
        if (category === null) throw new HelixError(400, 'The ID in game_id is not valid');
        categoryId = category.id;
      }
    }
    const channel = z
      .object({ id: z.string() })
      .nullable()
      .parse(await c.env.DB.prepare('SELECT id FROM channels WHERE user_id = ?').bind(userId).first());
    if (channel === null) throw new HelixError(404, 'Channel not found');
    // The dashboard's own edit (api/lib/stream-info.ts): the channel's defaults, its live stream,
    // the search row and the stream.updated event in one place.
    await updateStreamInfo(c.env, channel.id, {
      title: body.title,
      category_id: categoryId,
      tags: body.tags,
      language: body.broadcaster_language,
    });
    return c.body(null, 204);
  })
  .get('/streams', async (c) => {
    const first = readFirst(c);
    const after = readAfter(c, KeyIdPosition);
    const where = ["s.status = 'live'"];
    const binds: (string | number)[] = [];
    const type = c.req.query('type') ?? 'all';
    if (type !== 'all' && type !== 'live') throw new HelixError(400, 'The parameter "type" was malformed');
    const filters: [string, string][] = [
      ['user_id', 'c.user_id'],
      ['user_login', 'c.name'],
      ['game_id', 'CAST(s.category_id AS TEXT)'],
      ['language', 's.language'],
    ];
    for (const [param, column] of filters) {
      const values = readList(c, param);
      if (values.length === 0) continue;
      where.push(inList(column));
      binds.push(JSON.stringify(values));
    }
    if (after !== null) {
      where.push('(s.viewer_count < ? OR (s.viewer_count = ? AND s.id < ?))');
      binds.push(after.key, after.key, after.id);
    }
    const { results } = await c.env.DB.prepare(
      `${STREAM_SELECT} WHERE ${where.join(' AND ')} ORDER BY s.viewer_count DESC, s.id DESC LIMIT ?`,
    )
      .bind(...binds, first + 1)
      .all();
    const rows = results.map((raw) => StreamRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({
      key: last.viewer_count,
      id: last.stream_id,
    }));
    return c.json({ data: page.map(describeStream), pagination });
  })
  // "Requires a user access token that includes the user:read:follows scope"; user_id "must match
  // the user ID in the access token". The live streams of the channels the user follows.
  .get('/streams/followed', async (c) => {
    requireScope(c, 'user:read:follows');
    const userId = requireSelf(c, 'user_id', readRequired(c, 'user_id'));
    const first = readFirst(c, 100);
    const after = readAfter(c, KeyIdPosition);
    const { results } = await c.env.DB.prepare(
      `${STREAM_SELECT} WHERE s.status = 'live' AND s.channel_id IN (SELECT channel_id FROM follows WHERE user_id = ?1)
         AND (?2 IS NULL OR s.viewer_count < ?2 OR (s.viewer_count = ?2 AND s.id < ?3))
       ORDER BY s.viewer_count DESC, s.id DESC LIMIT ?4`,
    )
      .bind(userId, after?.key ?? null, after?.id ?? '', first + 1)
      .all();
    const rows = results.map((raw) => StreamRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({
      key: last.viewer_count,
      id: last.stream_id,
    }));
    return c.json({ data: page.map(describeStream), pagination });
  })
  .get('/games/top', async (c) => {
    const first = readFirst(c);
    const after = readAfter(c, KeyIdPosition);
    const { results } = await c.env.DB.prepare(
      `SELECT * FROM (SELECT cat.id, cat.name, cat.box_art_url,
         (SELECT coalesce(sum(viewer_count), 0) FROM streams s WHERE s.category_id = cat.id AND s.status = 'live') AS viewers
       FROM categories cat WHERE cat.retired_at IS NULL) WHERE ?1 IS NULL OR viewers < ?1 OR (viewers = ?1 AND id > CAST(?2 AS INTEGER))
       ORDER BY viewers DESC, id ASC LIMIT ?3`,
    )
      .bind(after?.key ?? null, after?.id ?? '0', first + 1)
      .all();
    const rows = results.map((raw) => CategoryRow.extend({ viewers: z.number() }).parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({
      key: last.viewers,
      id: String(last.id),
    }));
    const origin = new URL(c.req.url).origin;
    return c.json({ data: page.map((row) => toGame(origin, row)), pagination });
  })
  .get('/games', async (c) => {
    const ids = readList(c, 'id');
    const names = readList(c, 'name');
    if (ids.length + names.length === 0)
      throw new HelixError(400, 'Missing required parameter "id" or "name"');
    const { results } = await c.env.DB.prepare(
      `SELECT id, name, box_art_url FROM categories WHERE ${inList('CAST(id AS TEXT)')} OR ${inList('name')} LIMIT 100`,
    )
      .bind(JSON.stringify(ids), JSON.stringify(names))
      .all();
    const origin = new URL(c.req.url).origin;
    return c.json({ data: results.map((raw) => toGame(origin, CategoryRow.parse(raw))) });
  })
  .get('/search/categories', async (c) => {
    const query = readRequired(c, 'query');
    const first = readFirst(c);
    const { results } = await c.env.DB.prepare(
      "SELECT id, name, box_art_url FROM categories WHERE name LIKE ? ESCAPE '\\' AND retired_at IS NULL ORDER BY name LIMIT ?",
    )
      .bind(`%${escapeLike(query)}%`, first)
      .all();
    const origin = new URL(c.req.url).origin;
    return c.json({ data: results.map((raw) => toGame(origin, CategoryRow.parse(raw))), pagination: {} });
  })
  .get('/search/channels', async (c) => {
    const query = readRequired(c, 'query');
    const first = readFirst(c);
    const liveOnly = c.req.query('live_only') === 'true';
    const { results } = await c.env.DB.prepare(
      `SELECT c.user_id, c.name, c.display_name, c.language, coalesce(s.category_id, c.category_id) AS category_id,
         cat.name AS category_name, coalesce(s.title, c.title) AS title, coalesce(s.tags, c.tags) AS tags,
         c.avatar_url, s.started_at, s.id IS NOT NULL AS is_live
       FROM channels c LEFT JOIN streams s ON s.channel_id = c.id AND s.status = 'live'
         LEFT JOIN categories cat ON cat.id = coalesce(s.category_id, c.category_id)
       WHERE (c.name LIKE ?1 ESCAPE '\\' OR c.display_name LIKE ?1 ESCAPE '\\') AND (?2 = 0 OR s.id IS NOT NULL)
       ORDER BY s.id IS NOT NULL DESC, c.name LIMIT ?3`,
    )
      .bind(`%${escapeLike(query)}%`, liveOnly ? 1 : 0, first)
      .all();
    const data = results.map((raw) => {
      const row = ChannelRow.omit({ user_id: true })
        .extend({
          user_id: z.string(),
          avatar_url: z.string().nullable(),
          started_at: z.number().nullable(),
          is_live: z.number(),
        })
        .parse(raw);
      return {
        broadcaster_language: row.language,
        broadcaster_login: row.name.toLowerCase(),
        display_name: row.display_name,
        game_id: row.category_id === null ? '' : String(row.category_id),
        game_name: row.category_name ?? '',
        id: row.user_id,
        is_live: row.is_live === 1,
        tags: row.tags,
        thumbnail_url: row.avatar_url ?? '',
        title: row.title,
        started_at: toRfc3339(row.started_at),
      };
    });
    return c.json({ data, pagination: {} });
  });

function escapeLike(text: string): string {
  return text.replaceAll(/[\\%_]/g, (ch) => `\\${ch}`);
}
