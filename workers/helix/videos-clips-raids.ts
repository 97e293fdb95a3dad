// Helix videos (past broadcasts), clips (get, create) and raids (dev.twitch.tv/docs/api/reference). A VOD
// is deleted by the same routine the dashboard's delete uses (workers/vod/retention.ts); a raid is
// the ChatRoom's, as the /raid command and POST /api/v1/channels/{id}/raids are.
import { Hono } from 'hono';
import { z } from 'zod';
import { requestClip } from '../api/routes/clips.ts';
import { deleteVod } from '../vod/retention.ts';
import { HelixError, type HelixVariables, requireScope, requireSelf, requireTokenUser } from './auth.ts';
import {
  KeyIdPosition,
  paginate,
  readAfter,
  readFirst,
  readList,
  readRequired,
  toRfc3339,
} from './params.ts';

/** Objects one Helix VOD delete may purge before answering; the retention sweep finishes the rest. */
const VOD_DELETE_BUDGET = 500;

/** A Helix clip covers the last 30 seconds before the request, as Twitch's does. */
const CLIP_SECONDS = 30;

const VideoRow = z.object({
  id: z.string(),
  stream_id: z.string(),
  channel_id: z.string(),
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  title: z.string(),
  duration_seconds: z.number(),
  thumbnail_url: z.string().nullable(),
  view_count: z.number(),
  created_at: z.number(),
  language: z.string(),
});
const VIDEO_SELECT = `SELECT v.id, v.stream_id, v.channel_id, ch.user_id, ch.name, ch.display_name, v.title, v.duration_seconds,
    v.thumbnail_url, v.view_count, v.created_at, s.language
  FROM vods v JOIN channels ch ON ch.id = v.channel_id JOIN streams s ON s.id = v.stream_id`;

/** Twitch's duration format: "1h2m3s". */
function formatDuration(seconds: number): string {
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

const ClipRow = z.object({
  id: z.string(),
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  creator_id: z.string(),
  creator_name: z.string(),
  vod_id: z.string().nullable(),
  title: z.string(),
  view_count: z.number(),
  created_at: z.number(),
  duration_seconds: z.number(),
  offset_seconds: z.number(),
  category_id: z.number().nullable(),
  language: z.string(),
});

export const helixVideosClipsRaidsApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>()
  .get('/videos', async (c) => {
    const ids = readList(c, 'id');
    const userId = c.req.query('user_id');
    const gameId = c.req.query('game_id');
    if ([ids.length > 0, userId !== undefined, gameId !== undefined].filter(Boolean).length !== 1)
      throw new HelixError(400, 'Exactly one of id, user_id or game_id is required');
    const first = readFirst(c);
    const after = readAfter(c, KeyIdPosition);
    const where = ["v.status = 'ready'"];
    const binds: (string | number)[] = [];
    if (ids.length > 0) {
      where.push('v.id IN (SELECT value FROM json_each(?))');
      binds.push(JSON.stringify(ids));
    } else if (userId !== undefined) {
      where.push('ch.user_id = ?');
      binds.push(userId);
    } else {
      where.push('CAST(s.category_id AS TEXT) = ?');
      binds.push(gameId ?? '');
    }
    if (after !== null) {
      where.push('(v.created_at < ? OR (v.created_at = ? AND v.id < ?))');
      binds.push(after.key, after.key, after.id);
    }
    const { results } = await c.env.DB.prepare(
      `${VIDEO_SELECT} WHERE ${where.join(' AND ')} ORDER BY v.created_at DESC, v.id DESC LIMIT ?`,
    )
      .bind(...binds, first + 1)
      .all();
    const rows = results.map((raw) => VideoRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({ key: last.created_at, id: last.id }));
    const origin = new URL(c.req.url).origin;
    const data = page.map((row) => ({
      id: row.id,
      stream_id: row.stream_id,
      user_id: row.user_id,
      user_login: row.name.toLowerCase(),
      user_name: row.display_name,
      title: row.title,
      description: '',
      created_at: toRfc3339(row.created_at),
      published_at: toRfc3339(row.created_at),
      url: `${origin}/videos/${row.id}`,
      thumbnail_url: row.thumbnail_url ?? '',
      viewable: 'public',
      view_count: row.view_count,
      language: row.language,
      type: 'archive',
      duration: formatDuration(row.duration_seconds),
      muted_segments: null,
    }));
    return c.json({ data, pagination });
  })
  .delete('/videos', async (c) => {
    requireScope(c, 'channel:manage:videos');
    const userId = requireTokenUser(c);
    const ids = readList(c, 'id');
    if (ids.length === 0) throw new HelixError(400, 'Missing required parameter "id"');
    if (ids.length > 5) throw new HelixError(400, 'The maximum number of id values is 5');
    const { results } = await c.env.DB.prepare(
      `SELECT v.id, v.stream_id, v.channel_id, ch.user_id FROM vods v JOIN channels ch ON ch.id = v.channel_id
       WHERE v.id IN (SELECT value FROM json_each(?)) AND v.status = 'ready'`,
    )
      .bind(JSON.stringify(ids))
      .all();
    const vods = results.map((raw) =>
      z
        .object({ id: z.string(), stream_id: z.string(), channel_id: z.string(), user_id: z.string() })
        .parse(raw),
    );
    // Twitch: "If the user doesn't have permission to delete one of the videos in the list, none of the videos are deleted."
    if (vods.some((vod) => vod.user_id !== userId))
      throw new HelixError(401, 'You may delete only your own videos');
    for (const vod of vods) await deleteVod(c.env, vod, VOD_DELETE_BUDGET);
    return c.json({ data: vods.map((vod) => vod.id) });
  })
  .get('/clips', async (c) => {
    const ids = readList(c, 'id');
    const broadcasterId = c.req.query('broadcaster_id');
    if (ids.length > 0 === (broadcasterId !== undefined))
      throw new HelixError(400, 'Exactly one of id or broadcaster_id is required');
    const first = readFirst(c);
    const after = readAfter(c, KeyIdPosition);
    const where = ["cl.status = 'ready'"];
    const binds: (string | number)[] = [];
    if (ids.length > 0) {
      where.push('cl.id IN (SELECT value FROM json_each(?))');
      binds.push(JSON.stringify(ids));
    } else {
      where.push('ch.user_id = ?');
      binds.push(broadcasterId ?? '');
    }
    if (after !== null) {
      where.push('(cl.view_count < ? OR (cl.view_count = ? AND cl.id < ?))');
      binds.push(after.key, after.key, after.id);
    }
    const { results } = await c.env.DB.prepare(
      `SELECT cl.id, ch.user_id, ch.name, ch.display_name, cl.creator_id, u.username AS creator_name, cl.vod_id, cl.title,
         cl.view_count, cl.created_at, cl.duration_seconds, cl.offset_seconds, s.category_id, s.language
       FROM clips cl JOIN channels ch ON ch.id = cl.channel_id JOIN users u ON u.id = cl.creator_id
         JOIN streams s ON s.id = cl.stream_id
       WHERE ${where.join(' AND ')} ORDER BY cl.view_count DESC, cl.id DESC LIMIT ?`,
    )
      .bind(...binds, first + 1)
      .all();
    const rows = results.map((raw) => ClipRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({ key: last.view_count, id: last.id }));
    const origin = new URL(c.req.url).origin;
    const data = page.map((row) => ({
      id: row.id,
      url: `${origin}/clip/${row.id}`,
      embed_url: `${origin}/clip/${row.id}`,
      broadcaster_id: row.user_id,
      broadcaster_name: row.display_name,
      creator_id: row.creator_id,
      creator_name: row.creator_name,
      video_id: row.vod_id ?? '',
      game_id: row.category_id === null ? '' : String(row.category_id),
      language: row.language,
      title: row.title,
      view_count: row.view_count,
      created_at: toRfc3339(row.created_at),
      thumbnail_url: '',
      duration: row.duration_seconds,
      vod_offset: row.vod_id === null ? null : Math.round(row.offset_seconds),
      is_featured: false,
    }));
    return c.json({ data, pagination });
  })
  // Twitch clips the last 30 seconds of the broadcaster's live stream; so does this, through the
  // dashboard's own clip request (limits, the channel's switch, bans: api/routes/clips.ts).
  .post('/clips', async (c) => {
    requireScope(c, 'clips:edit');
    const userId = requireTokenUser(c);
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const row = await c.env.DB.prepare(
      `SELECT s.id, s.title FROM streams s JOIN channels ch ON ch.id = s.channel_id
       WHERE ch.user_id = ? AND s.status = 'live' ORDER BY s.started_at DESC LIMIT 1`,
    )
      .bind(broadcasterId)
      .first();
    if (row === null) throw new HelixError(404, 'The broadcaster is not live');
    const stream = z.object({ id: z.string(), title: z.string() }).parse(row);
    const created = await requestClip(c, userId, {
      stream_id: stream.id,
      title: stream.title.trim() === '' ? 'Clip' : stream.title.slice(0, 140),
      duration_seconds: CLIP_SECONDS,
      offset_seconds: -CLIP_SECONDS,
    });
    return c.json({ data: [{ id: created.clip_id, edit_url: created.url }] }, 202);
  })
  .post('/raids', async (c) => {
    requireScope(c, 'channel:manage:raids');
    const fromId = requireSelf(c, 'from_broadcaster_id', readRequired(c, 'from_broadcaster_id'));
    const toId = readRequired(c, 'to_broadcaster_id');
    const rows = await c.env.DB.prepare('SELECT id, user_id, name FROM channels WHERE user_id IN (?, ?)')
      .bind(fromId, toId)
      .all();
    const channels = rows.results.map((raw) =>
      z.object({ id: z.string(), user_id: z.string(), name: z.string() }).parse(raw),
    );
    const from = channels.find((row) => row.user_id === fromId);
    const to = channels.find((row) => row.user_id === toId);
    if (from === undefined || to === undefined)
      throw new HelixError(400, 'The ID in to_broadcaster_id is not valid');
    if (from.id === to.id) throw new HelixError(400, 'The broadcaster may not raid themselves');
    const outcome = await c.env.CHAT_ROOM.getByName(from.id).moderate(from.id, fromId, {
      kind: 'raid',
      target: to.name,
    });
    switch (outcome.kind) {
      case 'done':
        return c.json({ data: [{ created_at: toRfc3339(Date.now()), is_mature: false }] });
      case 'rate-limited':
        throw new HelixError(429, outcome.message);
      case 'forbidden':
        throw new HelixError(403, outcome.message);
      default:
        throw new HelixError(400, outcome.message);
    }
  })
  // Twitch holds a raid pending for up to 90 s, and DELETE /raids cancels it. Here a raid happens
  // when it is asked for (ChatRoom.moderate announces it in the target's chat at once): there is
  // never a pending raid, so after Twitch's own checks the answer is always Twitch's 404 "The
  // broadcaster doesn't have a pending raid to cancel", which clients already handle.
  .delete('/raids', async (c) => {
    requireScope(c, 'channel:manage:raids');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    const channel = await c.env.DB.prepare('SELECT 1 AS one FROM channels WHERE user_id = ?')
      .bind(broadcasterId)
      .first();
    if (channel === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
    throw new HelixError(404, "The broadcaster doesn't have a pending raid to cancel");
  });
