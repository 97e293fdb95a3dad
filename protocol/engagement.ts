// Channel engagement on the wire (docs/engagement.md): channel points, custom rewards and their
// redemptions, polls and predictions. The views the API answers with and the chat frames carry
// (`poll`, `prediction`, `redemption` in chat.ts) are declared once here, with the input bounds the
// API enforces and the web forms show. zod/mini, like chat.ts: the web bundle imports it.
import * as z from 'zod/mini';

const Count = z.int().check(z.nonnegative());

// ---- bounds (Twitch's where Twitch has one) ----

/** Twitch: at most 50 custom rewards per channel. */
export const MAX_REWARDS = 50;
/** Twitch: a reward's title is at most 45 characters, its prompt at most 200. */
export const MAX_REWARD_TITLE_LENGTH = 45;
export const MAX_REWARD_PROMPT_LENGTH = 200;
/** What a viewer types for a reward that asks for input (Twitch: 200). */
export const MAX_REDEMPTION_INPUT_LENGTH = 200;
export const MAX_REWARD_COST = 1_000_000;
/** Twitch: a global cooldown of at most 7 days. */
export const MAX_REWARD_COOLDOWN_SECONDS = 604_800;
export const MAX_REWARD_REDEMPTIONS_PER_STREAM = 100_000;
/** Redemptions waiting for the broadcaster: past this the channel's queue refuses new ones (409). */
export const MAX_PENDING_REDEMPTIONS = 1000;

/** Twitch: a poll's title is at most 60 characters, 2–5 choices of at most 25, 15–1800 seconds. */
export const MAX_POLL_TITLE_LENGTH = 60;
export const MIN_POLL_CHOICES = 2;
export const MAX_POLL_CHOICES = 5;
export const MAX_CHOICE_TITLE_LENGTH = 25;
export const MIN_POLL_SECONDS = 15;
export const MAX_POLL_SECONDS = 1800;
/** Channel points per extra vote (Twitch: 1..1,000,000) and extra votes in one ballot. */
export const MAX_POINTS_PER_VOTE = 1_000_000;
export const MAX_EXTRA_VOTES = 1000;

/** Twitch: a prediction's title is at most 45 characters, 2–10 outcomes of at most 25, a 30–1800 s window. */
export const MAX_PREDICTION_TITLE_LENGTH = 45;
export const MIN_OUTCOMES = 2;
export const MAX_OUTCOMES = 10;
export const MAX_OUTCOME_TITLE_LENGTH = 25;
export const MIN_PREDICTION_WINDOW_SECONDS = 30;
export const MAX_PREDICTION_WINDOW_SECONDS = 1800;
/** Twitch: at most 250,000 points on one prediction per viewer. */
export const MAX_STAKE = 250_000;

/** A client's request id (idempotency key) for anything that moves points: a UUID or similar. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

// ---- how points are earned: the CHANNEL_POINTS table in wrangler.toml [vars] ----

/**
 * Twitch's earning rates: 10 points per 5 minutes watched, a 50-point bonus to claim every 15
 * minutes watched. Watching is the player's presence signal (chat-room/video-presence.ts), so a
 * chat bot that plays no video earns nothing.
 */
export const ChannelPointsConfig = z.object({
  watch_points: z.int().check(z.positive()),
  watch_interval_seconds: z.int().check(z.positive()),
  bonus_points: z.int().check(z.positive()),
  bonus_interval_seconds: z.int().check(z.positive()),
});
export type ChannelPointsConfig = z.infer<typeof ChannelPointsConfig>;
export const DEFAULT_CHANNEL_POINTS: ChannelPointsConfig = {
  watch_points: 10,
  watch_interval_seconds: 300,
  bonus_points: 50,
  bonus_interval_seconds: 900,
};

// ---- views (API answers and chat frames) ----

export const RewardView = z.object({
  id: z.string(),
  title: z.string(),
  cost: Count,
  /** The question a viewer answers when redeeming; null when the reward asks for nothing. */
  prompt: z.nullable(z.string()),
  enabled: z.boolean(),
  max_per_stream: z.nullable(Count),
  max_per_user_per_stream: z.nullable(Count),
  cooldown_seconds: Count,
  /** ISO 8601: when the global cooldown ends; null when the reward can be redeemed now. */
  cooldown_expires_at: z.nullable(z.string()),
});
export type RewardView = z.infer<typeof RewardView>;

export const RedemptionStatus = z.enum(['pending', 'fulfilled', 'canceled']);
export type RedemptionStatus = z.infer<typeof RedemptionStatus>;

export const RedemptionView = z.object({
  id: z.string(),
  reward: z.object({ id: z.string(), title: z.string(), cost: Count }),
  user: z.object({ id: z.string(), login: z.string() }),
  input: z.nullable(z.string()),
  status: RedemptionStatus,
  redeemed_at: z.string(),
});
export type RedemptionView = z.infer<typeof RedemptionView>;

export const PollStatus = z.enum(['active', 'ended']);
export const PollView = z.object({
  id: z.string(),
  title: z.string(),
  status: PollStatus,
  choices: z.array(z.object({ id: z.string(), title: z.string(), votes: Count })),
  /** Points per extra vote; null when extra votes are off. */
  points_per_vote: z.nullable(Count),
  started_at: z.string(),
  ends_at: z.string(),
  ended_at: z.nullable(z.string()),
});
export type PollView = z.infer<typeof PollView>;

export const PredictionStatus = z.enum(['active', 'locked', 'resolved', 'canceled']);
export type PredictionStatus = z.infer<typeof PredictionStatus>;
export const PredictionView = z.object({
  id: z.string(),
  title: z.string(),
  status: PredictionStatus,
  outcomes: z.array(z.object({ id: z.string(), title: z.string(), users: Count, points: Count })),
  winning_outcome_id: z.nullable(z.string()),
  created_at: z.string(),
  locks_at: z.string(),
  ended_at: z.nullable(z.string()),
});
export type PredictionView = z.infer<typeof PredictionView>;

/** What one viewer has in the channel: the watch page's panel. */
export const ViewerPointsView = z.object({
  balance: Count,
  bonus_claimable: z.boolean(),
  poll_choice_id: z.nullable(z.string()),
  prediction: z.nullable(z.object({ outcome_id: z.string(), points: Count })),
});
export type ViewerPointsView = z.infer<typeof ViewerPointsView>;

// ---- chat frames (ride in batches like every other frame, chat.ts) ----

/** A poll started, its results changed (at most once a second), or it ended (results frozen). */
export const PollFrame = z.object({ type: z.literal('poll'), poll: PollView });
/** A prediction started, its pot changed (at most once a second), locked, resolved or was canceled. */
export const PredictionFrame = z.object({ type: z.literal('prediction'), prediction: PredictionView });
/** A viewer redeemed a reward (shown in chat), or the broadcaster fulfilled or rejected it. */
export const RedemptionFrame = z.object({ type: z.literal('redemption'), redemption: RedemptionView });
export type EngagementFrame =
  | z.infer<typeof PollFrame>
  | z.infer<typeof PredictionFrame>
  | z.infer<typeof RedemptionFrame>;
