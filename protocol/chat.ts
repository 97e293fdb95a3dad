// The JSON chat protocol spoken on `ws(s)://HOST/ws/{channel_id}`: every frame a client may send
// and every frame the server sends, as zod schemas (parse at the boundary, never cast) and the
// types inferred from them. Twitch-style IRC (durable-objects/chat/irc.ts) carries the same
// messages and rules in another syntax.
//
// Written with zod/mini (functions instead of chained methods) so the web app can import these
// schemas without pulling all of zod into its first bundle; the Worker and Durable Objects use the
// same schemas (`.safeParse` works the same).
import * as z from 'zod/mini';
import { PollFrame, PredictionFrame, RedemptionFrame } from './engagement.ts';

const Count = z.int().check(z.nonnegative());

/** Messages longer than this are refused with `msg_too_long` (Twitch's limit). */
export const MAX_MESSAGE_LENGTH = 500;
/** How many accepted messages a socket receives as `history` when it joins. */
export const HISTORY_LENGTH = 100;
/** Twitch's default when "/timeout" comes without a number (and the web app's timeout button). */
export const DEFAULT_TIMEOUT_SECONDS = 600;
/** Twitch caps timeouts at two weeks. */
export const MAX_TIMEOUT_SECONDS = 1_209_600;
export const MAX_SLOW_SECONDS = 120;
/** Followers-only mode accepts follow ages up to three months. */
export const MAX_FOLLOWERS_MINUTES = 129_600;

// ---- client → server ----

/** Text starting with "/" is a chat command (`/ban name`, `/slow 30`, ...), not a message. */
export const ClientChatMessageFrame = z.object({
  type: z.literal('chat_message'),
  channel_id: z.string().check(z.minLength(1)),
  content: z.string(),
});

/** The first frame of a socket that did not authenticate on the upgrade (the `bearer.<token>` subprotocol). */
export const ClientAuthFrame = z.object({ type: z.literal('auth'), token: z.string().check(z.minLength(1)) });

export const ClientPingFrame = z.object({ type: z.literal('ping') });

/**
 * Shares the sender's latest renewal in chat, once (docs/payments.md, "Sharing a resub"): the
 * room sends a resub notice with `message`; `share_streak` false hides the streak.
 */
export const ClientShareResubFrame = z.object({
  type: z.literal('share_resub'),
  channel_id: z.string().check(z.minLength(1)),
  message: z.string().check(z.maxLength(2000)),
  share_streak: z.optional(z.boolean()),
});

export const ClientFrame = z.discriminatedUnion('type', [
  ClientChatMessageFrame,
  ClientAuthFrame,
  ClientPingFrame,
  ClientShareResubFrame,
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

// ---- shared parts ----

/**
 * Badges as Twitch names them: `broadcaster/1`, `moderator/1`, `vip/1`, `subscriber/<months>`
 * (version is the subscription month count, tier in `subscriber_tier` of the user), `partner/1`.
 */
export const Badge = z.object({ id: z.string(), version: z.string() });
export type Badge = z.infer<typeof Badge>;

export const ChatUser = z.object({
  id: z.string(),
  name: z.string(),
  display_name: z.string(),
  /** `#RRGGBB`, stable per user (a hash of the user id into a palette). */
  color: z.string(),
  badges: z.array(Badge),
});
export type ChatUser = z.infer<typeof ChatUser>;

/** An emote occurrence: `positions` are inclusive [start, end] UTF-16 code unit offsets in content. */
export const EmoteRef = z.object({
  id: z.string(),
  name: z.string(),
  positions: z.array(z.tuple([Count, Count])),
  /** `/api/v1/emotes/{id}/image` */
  url: z.string(),
});
export type EmoteRef = z.infer<typeof EmoteRef>;

export const RoomState = z.object({
  /** Minimum seconds between two messages of one user; 0 is off. */
  slow_seconds: Count,
  subscribers_only: z.boolean(),
  emote_only: z.boolean(),
  /** Minimum follow age in minutes to chat; -1 is off, 0 is "any follower". */
  followers_only_minutes: z.int().check(z.gte(-1)),
  /** R9K: a message repeating a recent one (by anyone) is refused. */
  unique_chat: z.boolean(),
});
export type RoomState = z.infer<typeof RoomState>;

export const ChatErrorCode = z.enum([
  'rate_limited',
  'banned',
  'timed_out',
  'msg_too_long',
  'slow_mode',
  'subs_only',
  'emote_only',
  'followers_only',
  'duplicate',
  'banned_word',
  'unauthorized',
  'forbidden',
  'invalid_frame',
  /** Content with control characters (CR, LF, NUL, ...): never relayed, on any protocol. */
  'invalid_message',
  'unknown_command',
  /** A cheer for more bits than the sender has (docs/payments.md): the message is not sent. */
  'insufficient_bits',
  /** A resub share from someone without an active, renewed subscription, or one already shared. */
  'not_subscriber',
  'already_shared',
]);
export type ChatErrorCode = z.infer<typeof ChatErrorCode>;

// ---- server → client ----

export const ChatMessageFrame = z.object({
  type: z.literal('chat_message'),
  id: z.string(),
  channel_id: z.string(),
  user: ChatUser,
  content: z.string(),
  emotes: z.array(EmoteRef),
  /** ISO 8601 */
  timestamp: z.string(),
  /** Highlighted messages always get through sampling. */
  highlighted: z.optional(z.boolean()),
  /** Bits cheered with this message (`Cheer100` tokens), debited before it was sent (docs/payments.md). */
  bits: z.optional(z.int().check(z.gte(1))),
});
export type ChatMessage = z.infer<typeof ChatMessageFrame>;

export const HistoryFrame = z.object({ type: z.literal('history'), messages: z.array(ChatMessageFrame) });
export const DeleteMessageFrame = z.object({ type: z.literal('delete_message'), id: z.string() });
/** A ban (duration null) or timeout: clients remove that user's messages. */
export const ClearUserFrame = z.object({
  type: z.literal('clear_user'),
  user_id: z.string(),
  duration_seconds: z.nullable(z.int().check(z.positive())),
});
export const ClearChatFrame = z.object({ type: z.literal('clear_chat') });
export const RoomStateFrame = z.extend(RoomState, { type: z.literal('room_state') });
/** Informational: mode changes, moderation confirmations, raids arriving. */
export const NoticeFrame = z.object({ type: z.literal('notice'), code: z.string(), message: z.string() });
export const ErrorFrame = z.object({
  type: z.literal('error'),
  code: ChatErrorCode,
  message: z.string(),
  retry_after_ms: z.optional(Count),
});
export const RaidFrame = z.object({
  type: z.literal('raid'),
  from_channel: z.string(),
  to_channel: z.object({ id: z.string(), name: z.string() }),
  viewers: Count,
});
export const ViewerCountFrame = z.object({
  type: z.literal('viewer_count'),
  count: Count,
});
export const WelcomeFrame = z.object({
  type: z.literal('welcome'),
  /** null for an anonymous (read-only) socket. */
  user: z.nullable(ChatUser),
  room_state: RoomState,
});
export const PongFrame = z.object({ type: z.literal('pong') });
/**
 * A subscription the room announces (Twitch's USERNOTICE msg-id sub, resub, subgift and
 * submysterygift; docs/payments.md): `user` is the subscriber or the gifter, `recipient` the
 * gifted viewer. `system_message` is Twitch's system-msg text.
 */
export const SubNoticeFrame = z.object({
  type: z.literal('sub_notice'),
  msg_id: z.enum(['sub', 'resub', 'subgift', 'submysterygift']),
  user: ChatUser,
  system_message: z.string(),
  tier: z.union([z.literal(1000), z.literal(2000), z.literal(3000)]),
  cumulative_months: z.optional(Count),
  streak_months: z.optional(Count),
  recipient: z.optional(z.object({ id: z.string(), name: z.string(), display_name: z.string() })),
  gift_count: z.optional(Count),
  /** A shared resub's message (Twitch's USERNOTICE trailing text); absent when none was typed. */
  message: z.optional(z.string()),
});

const BATCHABLE_FRAMES = [
  ChatMessageFrame,
  HistoryFrame,
  DeleteMessageFrame,
  ClearUserFrame,
  ClearChatFrame,
  RoomStateFrame,
  NoticeFrame,
  ErrorFrame,
  RaidFrame,
  ViewerCountFrame,
  WelcomeFrame,
  PongFrame,
  SubNoticeFrame,
  // Channel engagement (engagement.ts, docs/engagement.md).
  PollFrame,
  PredictionFrame,
  RedemptionFrame,
] as const;

/** Every frame kind except `batch` itself: what may ride inside a batch. */
export const BatchableFrame = z.discriminatedUnion('type', [...BATCHABLE_FRAMES]);
export type BatchableFrame = z.infer<typeof BatchableFrame>;

/**
 * What the room fanned out in one ~100 ms window, in order, as one WebSocket message. Seed:
 * "Message batching: Batch messages per 100ms window → 1 batch per 100ms." One frame per batch
 * instead of one per message is what keeps a shard's send rate at ~10 frames/s per socket however
 * busy the chat. Clients apply `frames` in order, as if each had arrived alone. Replies to one
 * socket (welcome, history, pong, errors, notices answering a command) still come as single frames.
 * Batches do not nest.
 */
export const BatchFrame = z.object({ type: z.literal('batch'), frames: z.array(BatchableFrame) });
export type BatchFrame = z.infer<typeof BatchFrame>;

export const ServerFrame = z.discriminatedUnion('type', [...BATCHABLE_FRAMES, BatchFrame]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type RoomStateFrame = z.infer<typeof RoomStateFrame>;
export type RaidFrame = z.infer<typeof RaidFrame>;
export type WelcomeFrame = z.infer<typeof WelcomeFrame>;
export type SubNoticeFrame = z.infer<typeof SubNoticeFrame>;
