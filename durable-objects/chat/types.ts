// The shapes the chat Worker, the ChatRoom and its ChatShards pass to each other over RPC. They
// never leave the platform: what clients see is protocol/chat.ts (JSON) or durable-objects/chat/irc.ts.
import type { ChatErrorCode, ChatMessage, RoomState, SubNoticeFrame } from '../../protocol/chat.ts';
import type { EngagementFrame } from '../../protocol/engagement.ts';
import type { ChannelTier } from '../../protocol/ingest.ts';

/** Who is behind a socket: a signed-in user, or nobody (read-only). */
export interface ChatSession {
  userId: string;
  login: string;
}

/** The channel a room speaks for, loaded from D1 `channels`. */
export interface ChannelInfo {
  id: string;
  name: string;
  displayName: string;
  ownerId: string;
  tier: ChannelTier;
}

/** What a shard needs to greet a socket that joins a room. */
export interface JoinResult {
  channel: ChannelInfo;
  roomState: RoomState;
  /**
   * The last messages as the JSON text of an array of chat_message frames (protocol/chat.ts),
   * produced by the room from validated rows: the shard forwards it unread (storage.ts says why).
   */
  historyJson: string;
  /** The joining user as chat renders them (badges, colour); null when anonymous. */
  user: ChatMessage['user'] | null;
  /** Signed-in chatters in the room, for IRC's NAMES list (chat/irc-membership.ts). */
  members: string[];
}

/** One thing that happened in a room, fanned out in a batch to every shard holding its viewers. */
export type FanoutEvent =
  | {
      kind: 'message';
      message: ChatMessage;
      /** Broadcaster, moderator or highlighted: never dropped by sampling. */
      priority: boolean;
    }
  | { kind: 'delete'; messageId: string; login: string; content: string }
  | { kind: 'clear_user'; userId: string; login: string; durationSeconds: number | null }
  | { kind: 'clear_chat' }
  | { kind: 'room_state'; state: RoomState }
  | { kind: 'notice'; code: string; message: string }
  | { kind: 'raid_out'; to: { id: string; name: string }; viewers: number }
  | {
      kind: 'raid_in';
      /** The raiding channel; ownerId is its broadcaster's user id (IRC's user-id tag). */
      from: { id: string; name: string; displayName: string; ownerId: string };
      viewers: number;
    }
  | { kind: 'viewer_count'; count: number }
  /** A moderator's announcement (/announce, Helix POST /chat/announcements): USERNOTICE msg-id=announcement. */
  | { kind: 'announcement'; id: string; user: ChatMessage['user']; content: string; color: AnnouncementColor }
  /** A subscription announced in chat (chat/sub-notices.ts): USERNOTICE on IRC, a sub_notice frame in JSON. */
  | { kind: 'sub_notice'; notice: Omit<SubNoticeFrame, 'type'> }
  /** Another chatter joined or left: IRC sockets with twitch.tv/membership only (irc-membership.ts). */
  | { kind: 'membership'; userId: string; login: string; joined: boolean }
  /** A poll, prediction or redemption update (ChannelEngagement): a JSON frame; IRC has no such message. */
  | { kind: 'engagement'; frame: EngagementFrame };

export interface FanoutBatch {
  channel: ChannelInfo;
  /** The time this batch covers, which sets each viewer's sampling budget. */
  windowMs: number;
  /** The channel's sampling threshold per viewer (chat settings); the default when absent. */
  samplePerSecond?: number;
  events: FanoutEvent[];
}

/** One message or command as a shard hands it to the room (chat-shard/submit-batcher.ts). */
export interface SubmitRequest {
  session: ChatSession | null;
  content: string;
}

/** Messages in one submitBatch call: bounds the room's work per call and the call's size. */
export const MAX_SUBMIT_BATCH = 200;

/** The answer to a message or a command submitted by one socket, for that socket only. */
export type SubmitResult =
  | { kind: 'accepted'; messageId: string; user: ChatMessage['user'] }
  | { kind: 'notice'; code: string; message: string }
  | { kind: 'error'; code: ChatErrorCode; message: string; retryAfterMs?: number };

/** A moderation action, from a chat command or from REST: both go through ChatRoom.moderate. */
export type ModerationAction =
  | { kind: 'ban'; target: string; reason: string }
  | { kind: 'timeout'; target: string; seconds: number; reason: string }
  | { kind: 'unban'; target: string }
  | { kind: 'delete'; messageId: string }
  | { kind: 'settings'; patch: SettingsPatch }
  | { kind: 'clear' }
  | { kind: 'role'; role: 'moderator' | 'vip'; grant: boolean; target: string }
  | { kind: 'raid'; target: string }
  | { kind: 'announce'; message: string; color: AnnouncementColor };

/** Twitch's announcement colours (msg-param-color); PRIMARY is the channel's accent colour. */
export const ANNOUNCEMENT_COLORS = ['PRIMARY', 'BLUE', 'GREEN', 'ORANGE', 'PURPLE'] as const;
export type AnnouncementColor = (typeof ANNOUNCEMENT_COLORS)[number];
/** Twitch: "The announcement may contain a maximum of 500 characters." */
export const MAX_ANNOUNCEMENT_LENGTH = 500;

/** The settings only the broadcaster and moderators see: banned words and AutoMod (chat/automod.ts). */
export interface PrivateChatSettings {
  banned_words: string[];
  /** Hold caps, repeated characters and links for a moderator's approval. */
  automod: boolean;
  /** Domains (and their subdomains) AutoMod lets links point to. */
  automod_allowed_domains: string[];
  /** Automatic slow mode (chat/auto-slow.ts): the rate that turns it on (0 is off), its seconds. */
  auto_slow_messages_per_second: number;
  auto_slow_seconds: number;
  /** Read-only: slow mode is on now because of the automatic rule. */
  auto_slow_active: boolean;
  /** Messages per second each viewer reads before chat is sampled for them (chat/sampling.ts). */
  sample_messages_per_second: number;
}

export type SettingsPatch = Partial<RoomState> & Partial<PrivateChatSettings>;

export interface ChatSettings extends RoomState, PrivateChatSettings {}

/** A moderator's decision on a message AutoMod held. */
export type AutomodOutcome =
  | { kind: 'done'; code: 'automod_approved' | 'automod_denied'; message: string }
  | { kind: 'forbidden'; message: string }
  | { kind: 'not-found'; message: string };

/**
 * How a moderation action ended, in the room's terms: REST maps each kind to a status in one place
 * (workers/api/routes/moderation.ts), chat turns it into a notice or an error frame.
 * `rejected` is a well-formed request the channel's rules refuse (ban the broadcaster, raid itself).
 */
export type ModerationOutcome =
  | { kind: 'done'; code: string; message: string }
  | { kind: 'forbidden'; code: string; message: string }
  | { kind: 'not-found'; code: string; message: string }
  | { kind: 'rejected'; code: string; message: string }
  /** Allowed again after `retryAfterMs` (REST: 429 with Retry-After). */
  | { kind: 'rate-limited'; code: string; message: string; retryAfterMs: number };

/**
 * A subscription to announce (ChatRoom.announceSubscription), sent by the payments consumer once
 * the month it describes is committed. The room resolves the users as chat shows them.
 */
export type SubscriptionAnnouncement =
  | { kind: 'sub'; userId: string; tier: 1000 | 2000 | 3000; cumulativeMonths: number; streakMonths: number }
  | {
      kind: 'subgift';
      userId: string;
      recipientId: string;
      tier: 1000 | 2000 | 3000;
      recipientMonths: number;
    }
  | { kind: 'submysterygift'; userId: string; tier: 1000 | 2000 | 3000; count: number }
  /** A renewal the subscriber shared (chat-room/resub-share.ts); streakMonths null when not shared. */
  | {
      kind: 'resub';
      userId: string;
      tier: 1000 | 2000 | 3000;
      cumulativeMonths: number;
      streakMonths: number | null;
      message: string;
    };

/** How a raided room answered a raid (ChatRoom.receiveRaid). */
export type RaidReception = 'announced' | 'banned' | 'unknown-channel';

export interface BanRecord {
  user_id: string;
  login: string;
  kind: 'ban' | 'timeout';
  reason: string;
  moderator_id: string | null;
  created_at: number;
  expires_at: number | null;
}
