// The platform events carried by the Queues (stream-events, viewer-events, clip-requests,
// moderation-events). Producers build them with createEvent; consumers parse them with the
// PlatformEvent union and switch on `type`. Pure zod, no I/O: the Worker, the Durable Objects and
// the Node transcoder all import this file.
import { z } from 'zod';
import { TraceId } from '../common/trace.ts';

const Id = z.string().min(1).max(200);

/** The envelope every event shares: consumers dedupe on `id`. */
const Envelope = {
  id: z.uuid(),
  /** Epoch milliseconds when the producer observed the fact. */
  occurred_at: z.number().int().nonnegative(),
  /**
   * The trace id of the publish the event came from (stream.started, stream.ended), so the
   * consumer's lines join that publish's story (docs/operations.md). Absent elsewhere; a malformed
   * one is dropped, never the event with it.
   */
  trace_id: TraceId.optional().catch(undefined),
};

export const StreamStartedEvent = z.object({
  ...Envelope,
  type: z.literal('stream.started'),
  stream_id: Id,
  channel_id: Id,
});

export const StreamEndedEvent = z.object({
  ...Envelope,
  type: z.literal('stream.ended'),
  stream_id: Id,
  channel_id: Id,
  duration_seconds: z.number().nonnegative(),
});

export const StreamUpdatedEvent = z.object({
  ...Envelope,
  type: z.literal('stream.updated'),
  stream_id: Id,
  channel_id: Id,
});

/**
 * One share of a stream's Web Push "went live" fan-out: the subscriptions of followers after
 * (after_user_id, after_subscription_id) in that order (workers/notifications/push-fanout.ts).
 */
export const NotificationPushEvent = z.object({
  ...Envelope,
  type: z.literal('notification.push'),
  stream_id: Id,
  channel_id: Id,
  after_user_id: z.string().max(200),
  after_subscription_id: z.string().max(200),
});

export const ChannelFollowedEvent = z.object({
  ...Envelope,
  type: z.literal('channel.followed'),
  channel_id: Id,
  user_id: Id,
});

export const ChannelUnfollowedEvent = z.object({
  ...Envelope,
  type: z.literal('channel.unfollowed'),
  channel_id: Id,
  user_id: Id,
});

export const ViewerCountEvent = z.object({
  ...Envelope,
  type: z.literal('viewer.count'),
  channel_id: Id,
  stream_id: Id.nullable(),
  viewers: z.number().int().nonnegative(),
  unique_viewers: z.number().int().nonnegative(),
});

/** A ban when expires_at is null, a timeout otherwise. */
export const ModerationBanEvent = z.object({
  ...Envelope,
  type: z.literal('moderation.ban'),
  channel_id: Id,
  user_id: Id,
  moderator_id: Id.nullable(),
  reason: z.string().max(500),
  expires_at: z.number().int().nullable(),
});

export const ModerationUnbanEvent = z.object({
  ...Envelope,
  type: z.literal('moderation.unban'),
  channel_id: Id,
  user_id: Id,
});

/** One archived chat message. Loose, so the VOD engineer can add fields (emotes, badges) without a break. */
export const ArchivedChatMessage = z.looseObject({
  id: Id,
  user_id: Id,
  user_name: z.string(),
  content: z.string(),
  /** Epoch milliseconds. */
  sent_at: z.number().int(),
});
export type ArchivedChatMessage = z.infer<typeof ArchivedChatMessage>;

/** A batch of accepted chat messages for the archive (VOD chat replay). */
export const ChatMessagesEvent = z.object({
  ...Envelope,
  type: z.literal('chat.messages'),
  channel_id: Id,
  stream_id: Id.nullable(),
  messages: z.array(ArchivedChatMessage),
});

export const ChatMessageDeletedEvent = z.object({
  ...Envelope,
  type: z.literal('chat.message_deleted'),
  channel_id: Id,
  message_id: Id,
});

/** A moderator cleared the whole chat (/clear): EventSub's channel.chat.clear. */
export const ChatClearedEvent = z.object({
  ...Envelope,
  type: z.literal('chat.cleared'),
  channel_id: Id,
  moderator_id: Id.nullable(),
});

/** A moderator or VIP role was granted or taken away: EventSub's channel.moderator.* and channel.vip.*. */
export const ChannelRoleChangedEvent = z.object({
  ...Envelope,
  type: z.literal('channel.role_changed'),
  channel_id: Id,
  user_id: Id,
  role: z.enum(['moderator', 'vip']),
  granted: z.boolean(),
  moderator_id: Id.nullable(),
});

/** A moderator's announcement in channel_id's chat: EventSub's channel.chat.notification. */
export const ChatAnnouncedEvent = z.object({
  ...Envelope,
  type: z.literal('chat.announced'),
  channel_id: Id,
  user_id: Id,
  message_id: Id,
  content: z.string().max(500),
  color: z.enum(['PRIMARY', 'BLUE', 'GREEN', 'ORANGE', 'PURPLE']),
});

/** channel_id raided to_channel_id, sending `viewers` on: EventSub's channel.raid. */
export const ChannelRaidedEvent = z.object({
  ...Envelope,
  type: z.literal('channel.raided'),
  channel_id: Id,
  to_channel_id: Id,
  viewers: z.number().int().nonnegative(),
});

export const ClipRequestedEvent = z.object({
  ...Envelope,
  type: z.literal('clip.requested'),
  clip_id: Id,
});

const Tier = z.union([z.literal(1000), z.literal(2000), z.literal(3000)]);

/**
 * A new subscriber: a subscription's first paid month, or a gift month (gifter_id set). Renewals
 * are not this event (Twitch's channel.subscribe: "does not include resubscribes"). Written to the
 * EventSub outbox with the month (workers/eventsub/outbox.ts).
 */
export const SubscriptionStartedEvent = z.object({
  ...Envelope,
  type: z.literal('subscription.started'),
  channel_id: Id,
  user_id: Id,
  tier: Tier,
  gifter_id: Id.nullable(),
});

/** A subscription's access ended (the provider ended it, or a refund took its month back). */
export const SubscriptionEndedEvent = z.object({
  ...Envelope,
  type: z.literal('subscription.ended'),
  channel_id: Id,
  user_id: Id,
  tier: Tier,
  is_gift: z.boolean(),
});

/** user_id gifted `total` subscriptions (one named viewer, or a community gift's assigned slots). */
export const SubscriptionGiftedEvent = z.object({
  ...Envelope,
  type: z.literal('subscription.gifted'),
  channel_id: Id,
  user_id: Id,
  tier: Tier,
  total: z.number().int().positive(),
  /** A community gift (random viewers), not a gift to a named viewer. */
  community: z.boolean().default(false),
});

/** A subscriber shared a renewal's resub message in chat (docs/payments.md, "Sharing a resub"). */
export const SubscriptionMessageSharedEvent = z.object({
  ...Envelope,
  type: z.literal('subscription.message_shared'),
  channel_id: Id,
  user_id: Id,
  tier: Tier,
  message: z.string().max(500),
  cumulative_months: z.number().int().positive(),
  /** Null when the subscriber chose not to share the streak (Twitch's streak_months null). */
  streak_months: z.number().int().positive().nullable(),
});

/** A cheer debited and sent in chat (durable-objects/chat-room/cheer-spend.ts). */
export const BitsCheeredEvent = z.object({
  ...Envelope,
  type: z.literal('bits.cheered'),
  channel_id: Id,
  user_id: Id,
  message_id: Id,
  bits: z.number().int().positive(),
  message: z.string().max(2000),
});

export const PlatformEvent = z.discriminatedUnion('type', [
  StreamStartedEvent,
  StreamEndedEvent,
  StreamUpdatedEvent,
  NotificationPushEvent,
  ChannelFollowedEvent,
  ChannelUnfollowedEvent,
  ViewerCountEvent,
  ModerationBanEvent,
  ModerationUnbanEvent,
  ChatMessagesEvent,
  ChatMessageDeletedEvent,
  ChatClearedEvent,
  ChannelRoleChangedEvent,
  ChannelRaidedEvent,
  ChatAnnouncedEvent,
  ClipRequestedEvent,
  SubscriptionStartedEvent,
  SubscriptionEndedEvent,
  SubscriptionGiftedEvent,
  SubscriptionMessageSharedEvent,
  BitsCheeredEvent,
]);
export type PlatformEvent = z.infer<typeof PlatformEvent>;
export type PlatformEventType = PlatformEvent['type'];

/** The event of one type, e.g. `EventOf<'stream.started'>`. */
export type EventOf<T extends PlatformEventType> = Extract<PlatformEvent, { type: T }>;
/** What a producer supplies: everything but the envelope. */
export type EventPayload<T extends PlatformEventType> = Omit<EventOf<T>, 'id' | 'type' | 'occurred_at'>;

/** Narrows an event to one type. */
export function isEventOf<T extends PlatformEventType>(event: PlatformEvent, type: T): event is EventOf<T> {
  return event.type === type;
}

/** Wraps a payload in the envelope (fresh id, now) and checks it against the schema. */
export function createEvent<T extends PlatformEventType>(
  type: T,
  payload: EventPayload<T>,
  occurredAt: number = Date.now(),
  /** A deterministic id makes a repeated send of the same fact one event to the consumers. */
  id: string = crypto.randomUUID(),
): EventOf<T> {
  // Parsing (not trusting the payload) keeps producers honest: a bad event fails where it is built.
  const event = PlatformEvent.parse({ ...payload, id, type, occurred_at: occurredAt });
  if (!isEventOf(event, type)) throw new Error(`event type mismatch: ${event.type} != ${type}`);
  return event;
}
