// moderation-events: the durable mirror of the ChatRoom's bans and timeouts (the room is the authority).
// Retries can deliver a ban and its unban in either order, so each event applies only if it is
// newer than the last one applied to the same (channel, user), recorded in ban_versions. The bans
// table itself keeps its meaning (a row is an active ban or timeout) for the code that reads it.
import type { EventHandlers } from './consume.ts';

/**
 * SQL true when no event later than ?3 was applied to (channel ?1, user ?2). Equal times apply: the
 * same event redelivered rewrites the same row, and two events in one millisecond have no order
 * to keep.
 */
const NOT_SUPERSEDED = `coalesce((SELECT occurred_at FROM ban_versions WHERE channel_id = ?1 AND user_id = ?2), -1) <= ?3`;

function prepareVersion(db: D1Database, channelId: string, userId: string, occurredAt: number) {
  return db
    .prepare(
      `INSERT INTO ban_versions (channel_id, user_id, occurred_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (channel_id, user_id) DO UPDATE SET occurred_at = max(occurred_at, excluded.occurred_at)`,
    )
    .bind(channelId, userId, occurredAt);
}

export const moderationEventHandlers: EventHandlers = {
  // The version is written after the effect in the same batch, so the effect's guard still sees
  // the previous version.
  'moderation.ban': async (event, env) => [
    env.DB.prepare(
      `INSERT INTO bans (channel_id, user_id, kind, reason, moderator_id, created_at, expires_at)
       SELECT ?1, ?2, ?4, ?5, ?6, ?3, ?7 WHERE ${NOT_SUPERSEDED}
       ON CONFLICT (channel_id, user_id) DO UPDATE SET kind = ?4, reason = ?5, moderator_id = ?6,
         created_at = ?3, expires_at = ?7`,
    ).bind(
      event.channel_id,
      event.user_id,
      event.occurred_at,
      event.expires_at === null ? 'ban' : 'timeout',
      event.reason,
      event.moderator_id,
      event.expires_at,
    ),
    prepareVersion(env.DB, event.channel_id, event.user_id, event.occurred_at),
  ],
  'moderation.unban': async (event, env) => [
    env.DB.prepare(`DELETE FROM bans WHERE channel_id = ?1 AND user_id = ?2 AND ${NOT_SUPERSEDED}`).bind(
      event.channel_id,
      event.user_id,
      event.occurred_at,
    ),
    prepareVersion(env.DB, event.channel_id, event.user_id, event.occurred_at),
  ],
};
