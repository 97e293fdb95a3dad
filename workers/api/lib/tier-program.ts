// The affiliate/partner program: a channel's audience tier (protocol/ingest.ts ChannelTier) follows
// what it achieved over the last 30 days, and the tier decides the transcode ladder of its next
// stream (docs/architecture.md, "Channel tiers"). The thresholds are Twitch's published ones for
// Affiliate (50 followers, 500 minutes on 7 distinct days, 3 average viewers) and its Path to
// Partner achievement (25 hours on 12 distinct days, 75 average viewers). Average viewers are the
// time-weighted mean of the 10 s viewer counts (streams.viewer_seconds / broadcast seconds).
//
// Tiers only go up by themselves: a quiet month does not take a partner's ladder away in the middle
// of a schedule. An operator's override (channels.tier_override) wins in both directions.
import type { ChannelTier } from '../../../protocol/ingest.ts';

export const PROGRAM_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;

export interface TierThresholds {
  followers: number;
  broadcastMinutes: number;
  broadcastDays: number;
  averageViewers: number;
}

export const TIER_THRESHOLDS: Record<'affiliate' | 'partner', TierThresholds> = {
  affiliate: { followers: 50, broadcastMinutes: 500, broadcastDays: 7, averageViewers: 3 },
  partner: { followers: 50, broadcastMinutes: 25 * 60, broadcastDays: 12, averageViewers: 75 },
};

/** Channels evaluated per cron run: each costs two D1 reads and maybe one write. */
export const TIER_EVALUATIONS_PER_RUN = 200;

const TIER_RANK: Record<ChannelTier, number> = { none: 0, affiliate: 1, partner: 2 };

export interface TierStanding {
  followers: number;
  broadcast_minutes: number;
  broadcast_days: number;
  average_viewers: number;
}

export interface TierEvaluation {
  /** The tier the channel has now (after this evaluation when applied). */
  tier: ChannelTier;
  /** The tier its figures reach on their own, before the override and the never-down rule. */
  earned: ChannelTier;
  override: ChannelTier | null;
  standing: TierStanding;
}

interface ChannelRow {
  id: string;
  tier: ChannelTier;
  tier_override: ChannelTier | null;
  follower_count: number;
}

function reaches(standing: TierStanding, t: TierThresholds): boolean {
  return (
    standing.followers >= t.followers &&
    standing.broadcast_minutes >= t.broadcastMinutes &&
    standing.broadcast_days >= t.broadcastDays &&
    standing.average_viewers >= t.averageViewers
  );
}

export function earnedTier(standing: TierStanding): ChannelTier {
  if (reaches(standing, TIER_THRESHOLDS.partner)) return 'partner';
  if (reaches(standing, TIER_THRESHOLDS.affiliate)) return 'affiliate';
  return 'none';
}

/** The channel's figures over the program window (ended streams and the one live now). */
export async function readStanding(db: D1Database, channel: ChannelRow, now: number): Promise<TierStanding> {
  const row = await db
    .prepare(
      `SELECT coalesce(sum(seconds), 0) AS seconds, coalesce(sum(viewer_seconds), 0) AS viewer_seconds,
              count(DISTINCT day) AS days
       FROM (SELECT max(0, (coalesce(ended_at, ?2) - started_at) / 1000) AS seconds, viewer_seconds,
                    started_at / 86400000 AS day
             FROM streams
             WHERE channel_id = ?1 AND started_at IS NOT NULL AND started_at >= ?3 AND status != 'pending')`,
    )
    .bind(channel.id, now, now - PROGRAM_WINDOW_MS)
    .first<{ seconds: number; viewer_seconds: number; days: number }>();
  const seconds = row?.seconds ?? 0;
  return {
    followers: channel.follower_count,
    broadcast_minutes: Math.floor(seconds / 60),
    broadcast_days: row?.days ?? 0,
    average_viewers: seconds > 0 ? Math.round(((row?.viewer_seconds ?? 0) / seconds) * 10) / 10 : 0,
  };
}

export function decideTier(
  current: ChannelTier,
  earned: ChannelTier,
  override: ChannelTier | null,
): ChannelTier {
  if (override !== null) return override;
  return TIER_RANK[earned] > TIER_RANK[current] ? earned : current;
}

async function findChannelRow(db: D1Database, channelId: string): Promise<ChannelRow | null> {
  return db
    .prepare('SELECT id, tier, tier_override, follower_count FROM channels WHERE id = ?')
    .bind(channelId)
    .first<ChannelRow>();
}

/** Where the channel stands, and the tier an evaluation would give it (nothing written). */
export async function describeChannelTier(
  db: D1Database,
  channelId: string,
  now: number,
): Promise<TierEvaluation | null> {
  const channel = await findChannelRow(db, channelId);
  if (!channel) return null;
  const standing = await readStanding(db, channel, now);
  const earned = earnedTier(standing);
  return {
    tier: decideTier(channel.tier, earned, channel.tier_override),
    earned,
    override: channel.tier_override,
    standing,
  };
}

/** Evaluates one channel and writes its tier. Null for an unknown channel. */
export async function evaluateChannelTier(
  db: D1Database,
  channelId: string,
  now: number,
): Promise<TierEvaluation | null> {
  const evaluation = await describeChannelTier(db, channelId, now);
  if (!evaluation) return null;
  const { tier } = evaluation;
  await db
    .prepare('UPDATE channels SET tier = ?, tier_evaluated_at = ? WHERE id = ?')
    .bind(tier, now, channelId)
    .run();
  return evaluation;
}

/** Sets or clears (null) the operator's override and applies it at once. */
export async function setTierOverride(
  db: D1Database,
  channelId: string,
  override: ChannelTier | null,
  now: number,
): Promise<TierEvaluation | null> {
  const updated = await db
    .prepare('UPDATE channels SET tier_override = ? WHERE id = ?')
    .bind(override, channelId)
    .run();
  if (updated.meta.changes === 0) return null;
  return evaluateChannelTier(db, channelId, now);
}

/** Streams that ended longer ago than this are not looked at again by the sweep. */
const SWEEP_LOOKBACK_MS = 24 * 60 * 60 * 1000;

/**
 * The cron sweep: channels with a stream that ended (in the last day, by idx_streams_ended) since
 * their last evaluation, oldest evaluation first, TIER_EVALUATIONS_PER_RUN at a time (the rest wait
 * for the next run, 10 minutes later).
 */
export async function evaluateTiers(db: D1Database, now: number): Promise<number> {
  const { results } = await db
    .prepare(
      `SELECT c.id FROM streams s JOIN channels c ON c.id = s.channel_id
       WHERE s.ended_at > ?1 AND s.ended_at > c.tier_evaluated_at
       GROUP BY c.id ORDER BY min(c.tier_evaluated_at) ASC LIMIT ?2`,
    )
    .bind(now - SWEEP_LOOKBACK_MS, TIER_EVALUATIONS_PER_RUN)
    .all<{ id: string }>();
  for (const { id } of results) await evaluateChannelTier(db, id, now);
  return results.length;
}
