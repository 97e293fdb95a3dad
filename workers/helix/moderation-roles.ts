// Helix banned users, adding and removing moderators and VIPs, and deleting chat messages
// (dev.twitch.tv/docs/api/reference: Get Banned Users, Add/Remove Channel Moderator, Add/Remove
// Channel VIP, Delete Chat Messages). Each decision is the channel's ChatRoom's, through the same
// ChatRoom.moderate the chat commands (/mod, /vip, /delete, /clear) and /api/v1 call.
import { Hono } from 'hono';
import { z } from 'zod';
import type { ModerationAction } from '../../durable-objects/chat/types.ts';
import { HelixError, type HelixVariables, requireScope, requireSelf } from './auth.ts';
import { paginate, readAfter, readFirst, readList, readRequired, toRfc3339 } from './params.ts';

const UserRow = z.object({ id: z.string(), username: z.string(), display_name: z.string().nullable() });
const BanPosition = z.object({ id: z.string().max(100) });

async function findChannelId(db: D1Database, broadcasterId: string): Promise<string> {
  const row = await db.prepare('SELECT id FROM channels WHERE user_id = ?').bind(broadcasterId).first();
  if (row === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
  return z.object({ id: z.string() }).parse(row).id;
}

async function findUsers(db: D1Database, ids: string[]) {
  if (ids.length === 0) return new Map<string, z.infer<typeof UserRow>>();
  const { results } = await db
    .prepare(
      `SELECT u.id, u.username, c.display_name FROM users u LEFT JOIN channels c ON c.user_id = u.id
       WHERE u.id IN (SELECT value FROM json_each(?))`,
    )
    .bind(JSON.stringify(ids))
    .all();
  return new Map(results.map((raw) => UserRow.parse(raw)).map((row) => [row.id, row]));
}

/** A ChatRoom.moderate outcome as Twitch's statuses. */
async function moderate(env: Env, channelId: string, actorId: string, action: ModerationAction) {
  const outcome = await env.CHAT_ROOM.getByName(channelId).moderate(channelId, actorId, action);
  switch (outcome.kind) {
    case 'done':
      return;
    case 'forbidden':
      throw new HelixError(403, outcome.message);
    case 'not-found':
    case 'rejected':
      throw new HelixError(400, outcome.message);
    case 'rate-limited':
      throw new HelixError(429, outcome.message);
  }
}

/** POST/DELETE of a role by the broadcaster; `user_id` names the user by id. */
async function changeRole(
  env: Env,
  broadcasterId: string,
  userId: string,
  role: 'moderator' | 'vip',
  grant: boolean,
): Promise<void> {
  const channelId = await findChannelId(env.DB, broadcasterId);
  const user = (await findUsers(env.DB, [userId])).get(userId);
  if (!user) throw new HelixError(400, 'The ID in user_id was not found');
  // The room treats granting a role held (or taking one not held) as done; Twitch refuses it:
  // 400 for moderators, 422 for VIPs.
  const held = await env.DB.prepare(
    'SELECT 1 FROM channel_roles WHERE channel_id = ? AND user_id = ? AND role = ?',
  )
    .bind(channelId, userId, role)
    .first();
  if (grant === (held !== null)) {
    const name = role === 'moderator' ? 'a moderator' : 'a VIP';
    throw new HelixError(
      role === 'moderator' ? 400 : 422,
      `The user in the user_id query parameter is ${grant ? 'already' : 'not'} ${name}`,
    );
  }
  await moderate(env, channelId, broadcasterId, { kind: 'role', role, grant, target: user.username });
}

export const helixModerationRolesApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>()
  // "Requires ... moderation:read or moderator:manage:banned_users"; broadcaster_id "must match the
  // user ID in the access token". Bans and timeouts in effect, as the room keeps them.
  .get('/moderation/banned', async (c) => {
    requireScope(c, 'moderation:read', 'moderator:manage:banned_users');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const userIds = new Set(readList(c, 'user_id'));
    const first = readFirst(c);
    const after = readAfter(c, BanPosition);
    const bans = await c.env.CHAT_ROOM.getByName(channelId).listBans(channelId);
    if (bans === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
    const rows = bans
      .filter((ban) => userIds.size === 0 || userIds.has(ban.user_id))
      .sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0))
      .filter((ban) => after === null || ban.user_id > after.id)
      .slice(0, first + 1);
    const { page, pagination } = paginate(rows, first, (last) => ({ id: last.user_id }));
    const users = await findUsers(
      c.env.DB,
      page.flatMap((ban) => (ban.moderator_id === null ? [ban.user_id] : [ban.user_id, ban.moderator_id])),
    );
    const data = page.map((ban) => {
      const user = users.get(ban.user_id);
      const moderator = ban.moderator_id === null ? undefined : users.get(ban.moderator_id);
      return {
        user_id: ban.user_id,
        user_login: ban.login.toLowerCase(),
        user_name: user?.display_name ?? user?.username ?? ban.login,
        expires_at: ban.expires_at === null ? '' : toRfc3339(ban.expires_at),
        created_at: toRfc3339(ban.created_at),
        reason: ban.reason,
        moderator_id: ban.moderator_id ?? '',
        moderator_login: moderator?.username.toLowerCase() ?? '',
        moderator_name: moderator?.display_name ?? moderator?.username ?? '',
      };
    });
    return c.json({ data, pagination });
  })
  // "Requires ... channel:manage:moderators"; 204 on success, 400 when the user is already one.
  .post('/moderation/moderators', async (c) => {
    requireScope(c, 'channel:manage:moderators');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    await changeRole(c.env, broadcasterId, readRequired(c, 'user_id'), 'moderator', true);
    return c.body(null, 204);
  })
  .delete('/moderation/moderators', async (c) => {
    requireScope(c, 'channel:manage:moderators');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    await changeRole(c.env, broadcasterId, readRequired(c, 'user_id'), 'moderator', false);
    return c.body(null, 204);
  })
  // "Requires ... channel:manage:vips".
  .post('/channels/vips', async (c) => {
    requireScope(c, 'channel:manage:vips');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    await changeRole(c.env, broadcasterId, readRequired(c, 'user_id'), 'vip', true);
    return c.body(null, 204);
  })
  .delete('/channels/vips', async (c) => {
    requireScope(c, 'channel:manage:vips');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    await changeRole(c.env, broadcasterId, readRequired(c, 'user_id'), 'vip', false);
    return c.body(null, 204);
  })
  // "Requires ... moderator:manage:chat_messages"; without message_id every message is removed
  // (the room's /clear), with it one message (/delete).
  .delete('/moderation/chat', async (c) => {
    requireScope(c, 'moderator:manage:chat_messages');
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const moderatorId = requireSelf(c, 'moderator_id', readRequired(c, 'moderator_id'));
    const channelId = await findChannelId(c.env.DB, broadcasterId);
    const messageId = c.req.query('message_id');
    if (messageId !== undefined && (messageId === '' || messageId.length > 100))
      throw new HelixError(400, 'The parameter "message_id" was malformed');
    await moderate(
      c.env,
      channelId,
      moderatorId,
      messageId === undefined ? { kind: 'clear' } : { kind: 'delete', messageId },
    );
    return c.body(null, 204);
  });
