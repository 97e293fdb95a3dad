// POST /channels/{id}/presence: the player's "I am watching" signal, sent every
// PRESENCE_HEARTBEAT_MS while a live video plays (web/src/lib/presence.ts; an embed can do the
// same). The channel's ChatRoom counts it (durable-objects/chat-room/video-presence.ts), and its
// 10 s sweep publishes the count. Work per request is bounded before the room is reached: a fixed
// body shape (a random viewer id of at most 64 characters), a per-network request rate, and one
// D1 read that also refuses a channel that is not live, so a random id never creates a room. The
// room bounds what the requests can do to the count (per network, per room). A counted signed-in
// viewer's signal also pays channel points for the time watched (channel-engagement/points-earning.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { log } from '../../../common/log.ts';
import { PRESENCE_HEARTBEAT_MS } from '../../../durable-objects/chat-room/video-presence.ts';
import { optionalUser } from '../../shared/auth.ts';
import { conflict, notFound, rateLimited, unavailable } from '../../shared/errors.ts';
import { enforceRateLimit, type RateLimit } from '../../shared/rate-limit.ts';
import { createApiRouter, describeErrors, jsonBody, jsonContent, readClientNetwork } from '../lib/router.ts';

/**
 * Presence requests one client network may send per minute, across channels: a household of five
 * players heartbeating every 20 s sends 15; the rest is room for a few channels open at once.
 */
export const PRESENCE_RATE: RateLimit = { name: 'presence-network', limit: 120, windowMs: 60_000 };

const PresenceBody = z
  .object({
    /** A random id the player keeps for its tab (anonymous viewers are told apart by it). */
    viewer_id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{16,64}$/)
      .openapi({ example: 'k3J9vX2mQ7pL0aZs' }),
  })
  .strict()
  .openapi('PresenceSignal');

const PresenceAnswer = z
  .object({ heartbeat_ms: z.number().int().openapi({ example: PRESENCE_HEARTBEAT_MS }) })
  .openapi('PresenceAnswer');

const LiveChannelRow = z.object({
  id: z.string(),
  live: z.number().nullable(),
  category_id: z.number().int().nullable(),
});
/** A viewer's watch of a category counts again only this long after the last one (category_views). */
export const CATEGORY_WATCH_INTERVAL_MS = 60 * 60 * 1000;

/**
 * "Categories watched" for the recommendations: one row per (user, category), its count bumped at
 * most once per CATEGORY_WATCH_INTERVAL_MS. The heartbeat arrives every 20 s, but the upsert's WHERE
 * leaves the row alone inside the interval, so a viewer costs one primary-key read per heartbeat and
 * a write at most once an hour per category; the rows per user are bounded by the categories.
 */
export async function recordCategoryWatch(
  db: D1Database,
  userId: string,
  categoryId: number,
  now: number,
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO category_views (user_id, category_id, watches, watched_at) VALUES (?1, ?2, 1, ?3)
       ON CONFLICT (user_id, category_id) DO UPDATE SET watches = watches + 1, watched_at = excluded.watched_at
       WHERE category_views.watched_at <= excluded.watched_at - ?4`,
    )
    .bind(userId, categoryId, now, CATEGORY_WATCH_INTERVAL_MS)
    .run();
}

export const presenceApp = createApiRouter().openapi(
  createRoute({
    method: 'post',
    path: '/channels/{id}/presence',
    tags: ['channels'],
    summary: 'Signal that a player is watching the live stream (counts the viewer)',
    middleware: [optionalUser] as const,
    request: {
      params: z.object({ id: z.string().min(1).max(100) }),
      body: jsonBody(PresenceBody),
    },
    responses: {
      200: jsonContent(PresenceAnswer, 'Counted; signal again within heartbeat_ms'),
      ...describeErrors(400, 404, 409, 429),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { viewer_id } = c.req.valid('json');
    const network = readClientNetwork(c);
    await enforceRateLimit(c.env, PRESENCE_RATE, network, 'Too many presence signals from this network');
    const found = await c.env.DB.prepare(
      `SELECT c.id, l.live, l.category_id
       FROM channels c
       LEFT JOIN (SELECT 1 AS live, s.category_id FROM streams s WHERE s.channel_id = ?1 AND s.status = 'live' LIMIT 1) l
       WHERE c.id = ?1`,
    )
      .bind(id)
      .first();
    if (!found) throw notFound('Channel');
    const channel = LiveChannelRow.parse(found);
    if (channel.live === null) throw conflict('The channel is not live');
    const user = c.var.user;
    const outcome = await c.env.CHAT_ROOM.getByName(id).recordPresence(
      id,
      user ? { kind: 'user', userId: user.id } : { kind: 'anonymous', network, viewerId: viewer_id },
    );
    if (outcome === null) throw notFound('Channel');
    switch (outcome.kind) {
      case 'counted':
        // A counted signed-in viewer earns channel points for the time watched (docs/engagement.md).
        // A failure there is logged, never the count's failure: the next signal pays what is due.
        if (user) {
          await c.env.CHANNEL_ENGAGEMENT.getByName(id)
            .recordWatch(id, user.id)
            .catch((error: unknown) => log.error('points_accrual_failed', { channel_id: id, error }));
        }
        if (user && channel.category_id !== null)
          await recordCategoryWatch(c.env.DB, user.id, channel.category_id, Date.now());
        return c.json({ heartbeat_ms: PRESENCE_HEARTBEAT_MS }, 200);
      case 'network-full':
        // The household's seats are taken; one frees up when a player stops signalling.
        throw rateLimited(
          PRESENCE_HEARTBEAT_MS / 1000,
          'This network already counts as many viewers as it may',
        );
      case 'room-full':
        throw unavailable('The channel counts as many viewers as it can', PRESENCE_HEARTBEAT_MS / 1000);
    }
  },
);
