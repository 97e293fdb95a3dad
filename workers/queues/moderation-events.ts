// moderation-events: the durable mirror of the ChatRoom's bans and timeouts (the room is the authority).
import type { EventHandlers } from './consume.ts';

export const moderationEventHandlers: EventHandlers = {
  'moderation.ban': async (event, env) => [
    env.DB.prepare(
      `INSERT INTO bans (channel_id, user_id, kind, reason, moderator_id, created_at, expires_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
       ON CONFLICT (channel_id, user_id) DO UPDATE SET kind = ?3, reason = ?4, moderator_id = ?5,
         created_at = ?6, expires_at = ?7`,
    ).bind(
      event.channel_id,
      event.user_id,
      event.expires_at === null ? 'ban' : 'timeout',
      event.reason,
      event.moderator_id,
      event.occurred_at,
      event.expires_at,
    ),
  ],
  'moderation.unban': async (event, env) => [
    env.DB.prepare('DELETE FROM bans WHERE channel_id = ? AND user_id = ?').bind(
      event.channel_id,
      event.user_id,
    ),
  ],
};
