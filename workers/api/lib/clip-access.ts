// Who may retitle or delete a clip: the viewer who made it, the channel's owner, and the channel's
// moderators. A moderator who is banned or timed out in the channel has no moderator powers while
// the ban lasts (a ban suspends them, as on Twitch).
import { z } from 'zod';
import { forbidden, notFound } from '../../shared/errors.ts';

const ClipAccessRow = z.object({
  creator_id: z.string(),
  owner_id: z.string(),
  is_moderator: z.number(),
  is_banned: z.number(),
});

/** Throws 404 for an unknown clip and 403 for a user who may not manage it. */
export async function requireClipManager(db: D1Database, clipId: string, userId: string): Promise<void> {
  const found = await db
    .prepare(
      `SELECT cl.creator_id, ch.user_id AS owner_id,
              EXISTS (SELECT 1 FROM channel_roles r
                      WHERE r.channel_id = cl.channel_id AND r.user_id = ?2 AND r.role = 'moderator') AS is_moderator,
              EXISTS (SELECT 1 FROM bans b
                      WHERE b.channel_id = cl.channel_id AND b.user_id = ?2
                        AND (b.expires_at IS NULL OR b.expires_at > ?3)) AS is_banned
       FROM clips cl JOIN channels ch ON ch.id = cl.channel_id WHERE cl.id = ?1`,
    )
    .bind(clipId, userId, Date.now())
    .first();
  if (!found) throw notFound('Clip');
  const row = ClipAccessRow.parse(found);
  if (row.creator_id === userId || row.owner_id === userId) return;
  if (row.is_moderator === 1 && row.is_banned === 0) return;
  throw forbidden("Only the clip's creator, the channel owner or a moderator may do that");
}
