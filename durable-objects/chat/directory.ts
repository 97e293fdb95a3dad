// What chat reads from D1: channels, chatters' roles/subscriptions/follows, emotes, sessions.
import { findUserByToken } from '../shared/sessions.ts';
import type { ChatterProfile } from './badges.ts';
import type { EmoteDefinition } from './emotes.ts';
import type { ChannelInfo, ChatSession } from './types.ts';

interface ChannelRow {
  id: string;
  name: string;
  display_name: string;
  user_id: string;
  tier: string;
}

function toChannelInfo(row: ChannelRow): ChannelInfo {
  const tier = row.tier === 'partner' || row.tier === 'affiliate' ? row.tier : 'none';
  return { id: row.id, name: row.name, displayName: row.display_name, ownerId: row.user_id, tier };
}

const CHANNEL_COLUMNS = 'id, name, display_name, user_id, tier';

export async function findChannelById(db: D1Database, id: string): Promise<ChannelInfo | null> {
  const row = await db
    .prepare(`SELECT ${CHANNEL_COLUMNS} FROM channels WHERE id = ?`)
    .bind(id)
    .first<ChannelRow>();
  return row ? toChannelInfo(row) : null;
}

/** Channel names are case-insensitive (COLLATE NOCASE), as IRC's "#Name" and "#name" are one. */
export async function findChannelByName(db: D1Database, name: string): Promise<ChannelInfo | null> {
  const row = await db
    .prepare(`SELECT ${CHANNEL_COLUMNS} FROM channels WHERE name = ?`)
    .bind(name)
    .first<ChannelRow>();
  return row ? toChannelInfo(row) : null;
}

/** The chatter behind a session token (the same lookup as the API's bearer tokens). */
export async function findSessionByToken(db: D1Database, token: string): Promise<ChatSession | null> {
  const user = await findUserByToken(db, token);
  return user ? { userId: user.id, login: user.username } : null;
}

/** A user by id or, failing that, by login: REST paths carry ids, chat commands carry names. */
export async function findUser(db: D1Database, idOrLogin: string): Promise<ChatSession | null> {
  const row = await db
    .prepare('SELECT id, username FROM users WHERE id = ?1 OR username = ?1 ORDER BY id = ?1 DESC LIMIT 1')
    .bind(idOrLogin)
    .first<{ id: string; username: string }>();
  return row ? { userId: row.id, login: row.username } : null;
}

interface ProfileRow {
  id: string;
  username: string;
  display_name: string | null;
  own_tier: string | null;
  roles: string | null;
  sub_tier: number | null;
  sub_months: number | null;
  followed_at: number | null;
}

export async function loadChatterProfile(
  db: D1Database,
  channel: ChannelInfo,
  userId: string,
  now: number,
): Promise<ChatterProfile | null> {
  const row = await db
    .prepare(
      `SELECT u.id, u.username,
         own.display_name AS display_name, own.tier AS own_tier,
         (SELECT group_concat(role) FROM channel_roles r WHERE r.channel_id = ?1 AND r.user_id = u.id) AS roles,
         s.tier AS sub_tier, s.cumulative_months AS sub_months,
         f.created_at AS followed_at
       FROM users u
       LEFT JOIN channels own ON own.user_id = u.id
       LEFT JOIN subscriptions s ON s.user_id = u.id AND s.channel_id = ?1 AND s.expires_at > ?3
       LEFT JOIN follows f ON f.user_id = u.id AND f.channel_id = ?1
       WHERE u.id = ?2`,
    )
    .bind(channel.id, userId, now)
    .first<ProfileRow>();
  if (!row) return null;
  const roles = new Set((row.roles ?? '').split(','));
  const tier = row.sub_tier === 2000 || row.sub_tier === 3000 ? row.sub_tier : 1000;
  return {
    id: row.id,
    login: row.username.toLowerCase(),
    displayName: row.display_name ?? row.username,
    isBroadcaster: row.id === channel.ownerId,
    isModerator: roles.has('moderator'),
    isVip: roles.has('vip'),
    isPartner: row.own_tier === 'partner',
    subscription: row.sub_tier === null ? null : { tier, months: row.sub_months ?? 1 },
    followedAt: row.followed_at,
  };
}

/** Global emotes, then the channel's: a channel emote with a global emote's name wins. */
export async function loadEmotes(db: D1Database, channelId: string): Promise<Map<string, EmoteDefinition>> {
  const { results } = await db
    .prepare(
      `SELECT id, name, channel_id, subscriber_only FROM emotes
       WHERE channel_id IS NULL OR channel_id = ? ORDER BY channel_id IS NOT NULL`,
    )
    .bind(channelId)
    .all<{ id: string; name: string; channel_id: string | null; subscriber_only: number }>();
  const emotes = new Map<string, EmoteDefinition>();
  for (const row of results) {
    emotes.set(row.name, {
      id: row.id,
      name: row.name,
      channelId: row.channel_id,
      subscriberOnly: row.subscriber_only !== 0,
    });
  }
  return emotes;
}

/** The channel's live (or about-to-go-live) stream, which viewer counts are written against. */
export async function findCurrentStreamId(db: D1Database, channelId: string): Promise<string | null> {
  const row = await db
    .prepare(
      `SELECT id FROM streams WHERE channel_id = ? AND status = 'live' ORDER BY started_at DESC LIMIT 1`,
    )
    .bind(channelId)
    .first<{ id: string }>();
  return row?.id ?? null;
}

export async function writeChannelRole(
  db: D1Database,
  channelId: string,
  userId: string,
  role: 'moderator' | 'vip',
  grant: boolean,
  grantedBy: string,
  now: number,
): Promise<boolean> {
  const result = grant
    ? await db
        .prepare(
          `INSERT INTO channel_roles (channel_id, user_id, role, granted_by, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
        )
        .bind(channelId, userId, role, grantedBy, now)
        .run()
    : await db
        .prepare('DELETE FROM channel_roles WHERE channel_id = ? AND user_id = ? AND role = ?')
        .bind(channelId, userId, role)
        .run();
  return result.meta.changes > 0;
}
