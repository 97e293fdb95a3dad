// Helix followers, chatters, chat settings, announcements, bans, moderators and VIPs (dev.twitch.tv/docs/api/reference).
// Every moderation decision is the channel's ChatRoom object's, through the same RPCs the /api/v1
// routes call (api/routes/moderation.ts), so Helix, the web app and chat commands obey one rule.
import { Hono } from 'hono';
import { z } from 'zod';
import { findAnnouncementColor } from '../../durable-objects/chat/commands.ts';
import {
  MAX_ANNOUNCEMENT_LENGTH,
  type ModerationAction,
  type ModerationOutcome,
} from '../../durable-objects/chat/types.ts';
import { HelixError, type HelixVariables, requireScope, requireSelf } from './auth.ts';
import { KeyIdPosition, paginate, readAfter, readFirst, readRequired, toRfc3339 } from './params.ts';

const FollowRow = z.object({ user_id: z.string(), username: z.string(), created_at: z.number() });
const FollowedRow = z.object({
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  created_at: z.number(),
});
const RoleRow = z.object({ user_id: z.string(), username: z.string() });
const NameRow = z.object({ id: z.string(), username: z.string(), display_name: z.string().nullable() });
/** A GET /chat/chatters cursor: the last chatter shown, in the room's (login, user id) order. */
const ChatterPosition = z.object({ login: z.string().max(100), id: z.string().max(100) });
/** Twitch: "The maximum number of items to return per page ... The maximum value is 1,000". */
const MAX_CHATTERS_PAGE = 1000;
const CountRow = z.object({ n: z.number() });

/** The channel of a broadcaster (user) id; 400 as Twitch answers an unknown broadcaster_id. */
async function findChannelId(db: D1Database, broadcasterId: string): Promise<string> {
  const row = await db.prepare('SELECT id FROM channels WHERE user_id = ?').bind(broadcasterId).first();
  if (row === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
  return z.object({ id: z.string() }).parse(row).id;
}

/** A moderation outcome as Helix statuses: refused actions are 400 or 403 as Twitch answers them. */
function unwrap(outcome: ModerationOutcome): void {
  switch (outcome.kind) {
    case 'done':
      return;
    case 'forbidden':
      throw new HelixError(403, outcome.message);
    case 'not-found':
      throw new HelixError(400, outcome.message);
    case 'rejected':
      throw new HelixError(400, outcome.message);
    case 'rate-limited':
      throw new HelixError(429, outcome.message);
  }
}

async function moderate(
  env: Env,
  channelId: string,
  actorId: string,
  action: ModerationAction,
): Promise<void> {
  unwrap(await env.CHAT_ROOM.getByName(channelId).moderate(channelId, actorId, action));
}

const BanBody = z.object({
  data: z.object({
    user_id: z.string().min(1).max(100),
    duration: z.number().int().min(1).max(1_209_600).optional(),
    reason: z.string().max(500).optional(),
  }),
});

/** Twitch: "message ... maximum of 500 characters"; color "blue, green, orange, purple, primary (default)". */
const AnnouncementBody = z.object({
  message: z.string().min(1).max(MAX_ANNOUNCEMENT_LENGTH),
  color: z.enum(['blue', 'green', 'orange', 'purple', 'primary']).optional(),
});

const ChatSettingsBody = z.object({
  emote_mode: z.boolean().optional(),
  follower_mode: z.boolean().optional(),
  follower_mode_duration: z.number().int().min(0).max(129_600).optional(),
  slow_mode: z.boolean().optional(),
  slow_mode_wait_time: z.number().int().min(3).max(120).optional(),
  subscriber_mode: z.boolean().optional(),
  unique_chat_mode: z.boolean().optional(),
});

export const helixChatModerationApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>()
  .get('/channels/followers', async (c) => {
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const first = readFirst(c);
    const after = readAfter(c, KeyIdPosition);
    const total = CountRow.parse(
      await c.env.DB.prepare('SELECT count(*) AS n FROM follows WHERE channel_id = ?')
        .bind(channelId)
        .first(),
    ).n;
    // Twitch: without moderator:read:followers from the broadcaster or a moderator, only the total.
    const token = c.get('token');
    const mayList =
      token.userId !== null &&
      c.get('token').scopes.includes('moderator:read:followers') &&
      (token.userId === broadcasterId ||
        (await c.env.CHAT_ROOM.getByName(channelId).canModerate(channelId, token.userId)));
    if (!mayList) return c.json({ total, data: [], pagination: {} });
    const userFilter = c.req.query('user_id');
    const { results } = await c.env.DB.prepare(
      `SELECT f.user_id, u.username, f.created_at FROM follows f JOIN users u ON u.id = f.user_id
       WHERE f.channel_id = ?1 AND (?2 IS NULL OR f.user_id = ?2)
         AND (?3 IS NULL OR f.created_at < ?3 OR (f.created_at = ?3 AND f.user_id < ?4))
       ORDER BY f.created_at DESC, f.user_id DESC LIMIT ?5`,
    )
      .bind(channelId, userFilter ?? null, after?.key ?? null, after?.id ?? '', first + 1)
      .all();
    const rows = results.map((raw) => FollowRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({
      key: last.created_at,
      id: last.user_id,
    }));
    const data = page.map((row) => ({
      user_id: row.user_id,
      user_login: row.username.toLowerCase(),
      user_name: row.username,
      followed_at: toRfc3339(row.created_at),
    }));
    return c.json({ total, data, pagination });
  })
  // Twitch: "Requires ... moderator:read:chatters"; moderator_id "must match the user ID in the
  // user access token" and be the broadcaster or one of its moderators.
  .get('/chat/chatters', async (c) => {
    requireScope(c, 'moderator:read:chatters');
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const moderatorId = requireSelf(c, 'moderator_id', readRequired(c, 'moderator_id'));
    const first = readFirst(c, 100, MAX_CHATTERS_PAGE);
    const after = readAfter(c, ChatterPosition);
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const room = c.env.CHAT_ROOM.getByName(channelId);
    if (moderatorId !== broadcasterId && !(await room.canModerate(channelId, moderatorId)))
      throw new HelixError(403, "The user in moderator_id is not one of the broadcaster's moderators");
    const page = await room.listChatters(channelId, after, first + 1);
    if (page === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
    const shown = page.members.slice(0, first);
    const names = await findDisplayNames(
      c.env.DB,
      shown.map((member) => member.userId),
    );
    const { pagination } = paginate(page.members, first, (last) => ({ login: last.login, id: last.userId }));
    return c.json({
      data: shown.map((member) => ({
        user_id: member.userId,
        user_login: member.login,
        user_name: names.get(member.userId) ?? member.login,
      })),
      pagination,
      total: page.total,
    });
  })
  .get('/channels/followed', async (c) => {
    requireScope(c, 'user:read:follows');
    const userId = requireSelf(c, 'user_id', readRequired(c, 'user_id'));
    const first = readFirst(c);
    const after = readAfter(c, KeyIdPosition);
    const total = CountRow.parse(
      await c.env.DB.prepare('SELECT count(*) AS n FROM follows WHERE user_id = ?').bind(userId).first(),
    ).n;
    const { results } = await c.env.DB.prepare(
      `SELECT ch.user_id, ch.name, ch.display_name, f.created_at FROM follows f JOIN channels ch ON ch.id = f.channel_id
       WHERE f.user_id = ?1 AND (?2 IS NULL OR ch.user_id = ?2)
         AND (?3 IS NULL OR f.created_at < ?3 OR (f.created_at = ?3 AND ch.user_id < ?4))
       ORDER BY f.created_at DESC, ch.user_id DESC LIMIT ?5`,
    )
      .bind(userId, c.req.query('broadcaster_id') ?? null, after?.key ?? null, after?.id ?? '', first + 1)
      .all();
    const rows = results.map((raw) => FollowedRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({
      key: last.created_at,
      id: last.user_id,
    }));
    const data = page.map((row) => ({
      broadcaster_id: row.user_id,
      broadcaster_login: row.name.toLowerCase(),
      broadcaster_name: row.display_name,
      followed_at: toRfc3339(row.created_at),
    }));
    return c.json({ total, data, pagination });
  })
  .get('/chat/settings', async (c) => {
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const settings = await c.env.CHAT_ROOM.getByName(channelId).getSettings(channelId);
    if (settings === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
    const followers = settings.followers_only_minutes;
    return c.json({
      data: [
        {
          broadcaster_id: broadcasterId,
          emote_mode: settings.emote_only,
          follower_mode: followers >= 0,
          follower_mode_duration: followers >= 0 ? followers : null,
          slow_mode: settings.slow_seconds > 0,
          slow_mode_wait_time: settings.slow_seconds > 0 ? settings.slow_seconds : null,
          subscriber_mode: settings.subscribers_only,
          unique_chat_mode: settings.unique_chat,
        },
      ],
    });
  })
  .patch('/chat/settings', async (c) => {
    requireScope(c, 'moderator:manage:chat_settings');
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const moderatorId = requireSelf(c, 'moderator_id', readRequired(c, 'moderator_id'));
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const parsed = ChatSettingsBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) throw new HelixError(400, 'The request body is malformed');
    const body = parsed.data;
    const patch: Extract<ModerationAction, { kind: 'settings' }>['patch'] = {};
    if (body.emote_mode !== undefined) patch.emote_only = body.emote_mode;
    if (body.subscriber_mode !== undefined) patch.subscribers_only = body.subscriber_mode;
    if (body.unique_chat_mode !== undefined) patch.unique_chat = body.unique_chat_mode;
    if (body.slow_mode !== undefined || body.slow_mode_wait_time !== undefined)
      patch.slow_seconds = body.slow_mode === false ? 0 : (body.slow_mode_wait_time ?? 30);
    if (body.follower_mode !== undefined || body.follower_mode_duration !== undefined)
      patch.followers_only_minutes = body.follower_mode === false ? -1 : (body.follower_mode_duration ?? 0);
    await moderate(c.env, channelId, moderatorId, { kind: 'settings', patch });
    const settings = await c.env.CHAT_ROOM.getByName(channelId).getSettings(channelId);
    if (settings === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
    return c.json({
      data: [
        {
          broadcaster_id: broadcasterId,
          moderator_id: moderatorId,
          emote_mode: settings.emote_only,
          follower_mode: settings.followers_only_minutes >= 0,
          follower_mode_duration:
            settings.followers_only_minutes >= 0 ? settings.followers_only_minutes : null,
          slow_mode: settings.slow_seconds > 0,
          slow_mode_wait_time: settings.slow_seconds > 0 ? settings.slow_seconds : null,
          subscriber_mode: settings.subscribers_only,
          unique_chat_mode: settings.unique_chat,
        },
      ],
    });
  })
  // The room announces it as /announce does (USERNOTICE msg-id=announcement on IRC); 204 as Twitch.
  .post('/chat/announcements', async (c) => {
    requireScope(c, 'moderator:manage:announcements');
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const moderatorId = requireSelf(c, 'moderator_id', readRequired(c, 'moderator_id'));
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const parsed = AnnouncementBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) throw new HelixError(400, 'The request body is malformed');
    const color = findAnnouncementColor((parsed.data.color ?? 'primary').toUpperCase());
    await moderate(c.env, channelId, moderatorId, { kind: 'announce', message: parsed.data.message, color });
    return c.body(null, 204);
  })
  .post('/moderation/bans', async (c) => {
    requireScope(c, 'moderator:manage:banned_users');
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const moderatorId = requireSelf(c, 'moderator_id', readRequired(c, 'moderator_id'));
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const parsed = BanBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) throw new HelixError(400, 'The request body is malformed');
    const { user_id: target, duration, reason = '' } = parsed.data.data;
    const action: ModerationAction =
      duration === undefined
        ? { kind: 'ban', target, reason }
        : { kind: 'timeout', target, seconds: duration, reason };
    const now = Date.now();
    await moderate(c.env, channelId, moderatorId, action);
    return c.json({
      data: [
        {
          broadcaster_id: broadcasterId,
          moderator_id: moderatorId,
          user_id: target,
          created_at: toRfc3339(now),
          end_time: duration === undefined ? null : toRfc3339(now + duration * 1000),
        },
      ],
    });
  })
  .delete('/moderation/bans', async (c) => {
    requireScope(c, 'moderator:manage:banned_users');
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const moderatorId = requireSelf(c, 'moderator_id', readRequired(c, 'moderator_id'));
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    await moderate(c.env, channelId, moderatorId, { kind: 'unban', target: readRequired(c, 'user_id') });
    return c.body(null, 204);
  })
  .get('/moderation/moderators', async (c) => {
    requireScope(c, 'moderation:read', 'channel:manage:moderators');
    return c.json(
      await listRole(c.env, requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id')), 'moderator'),
    );
  })
  .get('/channels/vips', async (c) => {
    requireScope(c, 'channel:read:vips', 'channel:manage:vips');
    return c.json(
      await listRole(c.env, requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id')), 'vip'),
    );
  });

/** Display names of at most 1,000 users, in one query (one bound JSON array, under D1's bind limit). */
async function findDisplayNames(db: D1Database, userIds: string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const { results } = await db
    .prepare(
      `SELECT u.id, u.username, c.display_name FROM users u LEFT JOIN channels c ON c.user_id = u.id
       WHERE u.id IN (SELECT value FROM json_each(?))`,
    )
    .bind(JSON.stringify(userIds))
    .all();
  return new Map(
    results.map((raw) => {
      const row = NameRow.parse(raw);
      return [row.id, row.display_name ?? row.username];
    }),
  );
}

/** A channel's moderators or VIPs, for its broadcaster (at most 100; Twitch pages them). */
async function listRole(env: Env, broadcasterId: string, role: 'moderator' | 'vip') {
  const channelId = await findChannelId(env.DB, broadcasterId);
  const { results } = await env.DB.prepare(
    `SELECT r.user_id, u.username FROM channel_roles r JOIN users u ON u.id = r.user_id
     WHERE r.channel_id = ? AND r.role = ? ORDER BY r.created_at, u.username LIMIT 100`,
  )
    .bind(channelId, role)
    .all();
  const data = results.map((raw) => {
    const row = RoleRow.parse(raw);
    return { user_id: row.user_id, user_login: row.username.toLowerCase(), user_name: row.username };
  });
  return { data, pagination: {} };
}
