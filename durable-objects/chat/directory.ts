// What chat reads from D1: channels, chatters' roles/subscriptions/follows, emotes, sessions.
// Rows are zod-parsed, never cast (conventions: one way to read stored data).
import * as z from 'zod/mini';
import { findUserByTokenHash, hashToken } from '../shared/sessions.ts';
import { type ChatterProfile, formatDisplayName } from './badges.ts';
import type { EmoteDefinition } from './emotes.ts';
import type { ChannelInfo, ChatSession } from './types.ts';

const ChannelRow = z.object({
  id: z.string(),
  name: z.string(),
  display_name: z.string(),
  user_id: z.string(),
  tier: z.string(),
});
type ChannelRow = z.infer<typeof ChannelRow>;
const UserRow = z.object({ id: z.string(), username: z.string() });
const StreamRow = z.object({ id: z.string() });
const EmoteRow = z.object({
  id: z.string(),
  name: z.string(),
  channel_id: z.nullable(z.string()),
  subscriber_only: z.number(),
});
const ProfileRow = z.object({
  id: z.string(),
  username: z.string(),
  display_name: z.nullable(z.string()),
  own_tier: z.nullable(z.string()),
  roles: z.nullable(z.string()),
  sub_tier: z.nullable(z.number()),
  sub_months: z.nullable(z.number()),
  followed_at: z.nullable(z.number()),
});

/** A row or null, parsed. */
function parseRow<T>(schema: z.ZodMiniType<T>, row: unknown): T | null {
  return row === null ? null : schema.parse(row);
}

function toChannelInfo(row: ChannelRow): ChannelInfo {
  const tier = row.tier === 'partner' || row.tier === 'affiliate' ? row.tier : 'none';
  return {
    id: row.id,
    name: row.name,
    // Raid notices show it: the same impersonation rule as chatters' names (badges.ts).
    displayName: formatDisplayName(row.display_name, row.name),
    ownerId: row.user_id,
    tier,
  };
}

const CHANNEL_COLUMNS = 'id, name, display_name, user_id, tier';

export async function findChannelById(db: D1Database, id: string): Promise<ChannelInfo | null> {
  const row = await db.prepare(`SELECT ${CHANNEL_COLUMNS} FROM channels WHERE id = ?`).bind(id).first();
  const parsed = parseRow(ChannelRow, row);
  return parsed ? toChannelInfo(parsed) : null;
}

/** Whether the channel has a live stream now (streams.status, schema.sql). */
export async function isChannelLive(db: D1Database, channelId: string): Promise<boolean> {
  const row = await db
    .prepare("SELECT 1 AS live FROM streams WHERE channel_id = ? AND status = 'live' LIMIT 1")
    .bind(channelId)
    .first();
  return row !== null;
}

/** Channel names are case-insensitive (COLLATE NOCASE), as IRC's "#Name" and "#name" are one. */
export async function findChannelByName(db: D1Database, name: string): Promise<ChannelInfo | null> {
  const row = await db.prepare(`SELECT ${CHANNEL_COLUMNS} FROM channels WHERE name = ?`).bind(name).first();
  const parsed = parseRow(ChannelRow, row);
  return parsed ? toChannelInfo(parsed) : null;
}

/** A session token as a chat socket keeps it: who it is, and its hash (never the token). */
export interface SocketSession {
  session: ChatSession;
  /** SHA-256 of the token (sessions.token_hash): the shard re-checks it every sweep. */
  tokenHash: string;
  /** IRC: the token may send messages (an OAuth token with chat:edit); false reads only. */
  canSend: boolean;
}

/** The chatter behind a session token (the same lookup as the API's bearer tokens). */
export async function findSessionByToken(db: D1Database, token: string): Promise<SocketSession | null> {
  if (token.length === 0 || token.length > 200) return null;
  const tokenHash = await hashToken(token);
  const user = await findUserByTokenHash(db, tokenHash);
  return user ? { session: { userId: user.id, login: user.username }, tokenHash, canSend: true } : null;
}

/** A user by id or, failing that, by login: REST paths carry ids, chat commands carry names. */
export async function findUser(db: D1Database, idOrLogin: string): Promise<ChatSession | null> {
  const row = await db
    .prepare('SELECT id, username FROM users WHERE id = ?1 OR username = ?1 ORDER BY id = ?1 DESC LIMIT 1')
    .bind(idOrLogin)
    .first();
  const parsed = parseRow(UserRow, row);
  return parsed ? { userId: parsed.id, login: parsed.username } : null;
}

export async function loadChatterProfile(
  db: D1Database,
  channel: ChannelInfo,
  userId: string,
  now: number,
): Promise<ChatterProfile | null> {
  const raw = await db
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
    .first();
  const row = parseRow(ProfileRow, raw);
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
    .all();
  const emotes = new Map<string, EmoteDefinition>();
  for (const row of results.map((result) => EmoteRow.parse(result))) {
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
    .first();
  return parseRow(StreamRow, row)?.id ?? null;
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
