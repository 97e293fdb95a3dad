// What the engagement routes share (routes/engagement.ts, routes/channel-rewards.ts): the channel
// lookup and the permission checks before the ChannelEngagement object is reached, the one place
// its refusals become statuses, the per-user rate limit on everything that moves points, and the
// OpenAPI schemas of its views (protocol/engagement.ts has the zod/mini originals).
import { z } from '@hono/zod-openapi';
import type { ChannelEngagement } from '../../../durable-objects/channel-engagement/channel-engagement.ts';
import type { EngagementOutcome } from '../../../durable-objects/channel-engagement/types.ts';
import { REQUEST_ID_PATTERN } from '../../../protocol/engagement.ts';
import { ApiError, conflict, forbidden, notFound, rateLimited, unprocessable } from '../../shared/errors.ts';
import { enforceRateLimit, type RateLimit } from '../../shared/rate-limit.ts';

/**
 * Votes, stakes, redemptions and claims one user may send per minute, across channels: a viewer
 * clicking fast sends a few; a script hammering the ledger is stopped before the object.
 */
export const ENGAGEMENT_RATE: RateLimit = { name: 'engagement-user', limit: 60, windowMs: 60_000 };
/** Polls, predictions and rewards one moderator may create or change per minute. */
export const ENGAGEMENT_ADMIN_RATE: RateLimit = { name: 'engagement-admin', limit: 30, windowMs: 60_000 };

const ChannelRow = z.object({ id: z.string(), user_id: z.string() });

export interface EngagementChannel {
  id: string;
  ownerId: string;
  stub: DurableObjectStub<ChannelEngagement>;
}

/** The channel (404 when unknown: a random id never creates an object) and its engagement object. */
export async function getEngagement(env: Env, channelId: string): Promise<EngagementChannel> {
  const row = await env.DB.prepare('SELECT id, user_id FROM channels WHERE id = ?').bind(channelId).first();
  if (!row) throw notFound('Channel');
  const channel = ChannelRow.parse(row);
  return { id: channel.id, ownerId: channel.user_id, stub: env.CHANNEL_ENGAGEMENT.getByName(channel.id) };
}

/** The broadcaster or one of the channel's moderators (not banned), else 403. */
export async function requireModerator(env: Env, channel: EngagementChannel, userId: string): Promise<void> {
  if (userId === channel.ownerId) return;
  const room = env.CHAT_ROOM.getByName(channel.id);
  if (!(await room.canModerate(channel.id, userId)))
    throw forbidden('Only the broadcaster and moderators may do that');
}

export function requireOwner(channel: EngagementChannel, userId: string): void {
  if (userId !== channel.ownerId) throw forbidden('Only the broadcaster may manage rewards');
}

export async function limitEngagement(env: Env, rule: RateLimit, userId: string): Promise<void> {
  await enforceRateLimit(env, rule, userId, 'Too many channel-points actions; slow down');
}

/** The one place an engagement refusal becomes an HTTP error. */
export function unwrapOutcome<T>(outcome: EngagementOutcome<T>): { value: T; duplicate: boolean } {
  switch (outcome.kind) {
    case 'ok':
      return { value: outcome.value, duplicate: outcome.duplicate };
    case 'not-found':
      throw notFound(outcome.what);
    case 'conflict':
      throw conflict(outcome.message);
    case 'invalid':
      throw unprocessable(outcome.message);
    case 'insufficient':
      throw new ApiError(422, 'insufficient_points', outcome.message);
    case 'cooldown':
      throw rateLimited(outcome.retryAfterMs / 1000, outcome.message);
  }
}

export const RequestId = z.string().regex(REQUEST_ID_PATTERN).openapi({
  description: 'Your idempotency key: the same id again has no second effect',
  example: 'b7f3c1d2e4a5',
});

export const RewardSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    cost: z.number().int(),
    prompt: z.string().nullable(),
    enabled: z.boolean(),
    max_per_stream: z.number().int().nullable(),
    max_per_user_per_stream: z.number().int().nullable(),
    cooldown_seconds: z.number().int(),
    cooldown_expires_at: z.string().nullable(),
  })
  .openapi('CustomReward');

export const RedemptionSchema = z
  .object({
    id: z.string(),
    reward: z.object({ id: z.string(), title: z.string(), cost: z.number().int() }),
    user: z.object({ id: z.string(), login: z.string() }),
    input: z.string().nullable(),
    status: z.enum(['pending', 'fulfilled', 'canceled']),
    redeemed_at: z.string(),
  })
  .openapi('Redemption');

export const PollSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    status: z.enum(['active', 'ended']),
    choices: z.array(z.object({ id: z.string(), title: z.string(), votes: z.number().int() })),
    points_per_vote: z.number().int().nullable(),
    started_at: z.string(),
    ends_at: z.string(),
    ended_at: z.string().nullable(),
  })
  .openapi('Poll');

export const PredictionSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    status: z.enum(['active', 'locked', 'resolved', 'canceled']),
    outcomes: z.array(
      z.object({ id: z.string(), title: z.string(), users: z.number().int(), points: z.number().int() }),
    ),
    winning_outcome_id: z.string().nullable(),
    created_at: z.string(),
    locks_at: z.string(),
    ended_at: z.string().nullable(),
  })
  .openapi('Prediction');

export const ViewerPointsSchema = z
  .object({
    balance: z.number().int(),
    bonus_claimable: z.boolean(),
    poll_choice_id: z.string().nullable(),
    prediction: z.object({ outcome_id: z.string(), points: z.number().int() }).nullable(),
  })
  .openapi('ViewerPoints');
