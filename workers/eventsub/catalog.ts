// The EventSub subscription types this platform delivers, each with Twitch's version, condition
// fields and authorization (https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/):
// which scope the authorizing user's token must carry and which condition field must be that user.
// A type is here only when a platform event feeds it (workers/eventsub/notifications.ts); the
// others Twitch has are refused like unknown ones (docs/twitch-compat.md).
import { z } from 'zod';
import type { TwitchScope } from '../oauth/tokens.ts';

const UserId = z.string().min(1).max(200);

export interface SubscriptionTypeSpec {
  version: string;
  /** The condition object, exactly: unknown fields are refused as Twitch refuses them. */
  condition: z.ZodType<Record<string, string>>;
  /**
   * The condition fields that may name the channel the events come from; a valid condition holds
   * exactly one (channel.raid names the raiding or the raided channel).
   */
  channelFields: readonly string[];
  /** Scopes the authorizing user must have granted (any one of them); none for public events. */
  scopes: TwitchScope[];
  /** The condition field that must be the authorizing user (the token's user, or the grant's). */
  authorizingField: string | null;
  /** Whether a moderator of the channel may authorize (as channel.follow v2's moderator_user_id). */
  moderatorMayAuthorize: boolean;
}

const broadcasterOnly = z.strictObject({ broadcaster_user_id: UserId });
const broadcasterAndModerator = z.strictObject({ broadcaster_user_id: UserId, moderator_user_id: UserId });
const broadcasterAndUser = z.strictObject({ broadcaster_user_id: UserId, user_id: UserId });

function publicType(version: string): SubscriptionTypeSpec {
  return {
    version,
    condition: broadcasterOnly,
    channelFields: ['broadcaster_user_id'],
    scopes: [],
    authorizingField: null,
    moderatorMayAuthorize: false,
  };
}

/** "Exactly one of from_broadcaster_user_id or to_broadcaster_user_id" (channel.raid). */
const raidCondition = z.union([
  z.strictObject({ from_broadcaster_user_id: UserId }),
  z.strictObject({ to_broadcaster_user_id: UserId }),
]);

/** Role types: the broadcaster's token, with one of the scopes that reads the role's list. */
function roleType(scopes: TwitchScope[]): SubscriptionTypeSpec {
  return {
    version: '1',
    condition: broadcasterOnly,
    channelFields: ['broadcaster_user_id'],
    scopes,
    authorizingField: 'broadcaster_user_id',
    moderatorMayAuthorize: false,
  };
}

/** Money types: the broadcaster's token with the scope that reads the channel's subscriptions or bits. */
function broadcasterScoped(scopes: TwitchScope[]): SubscriptionTypeSpec {
  return roleType(scopes);
}

/** Chat types: "requires user:read:chat from the chatting user" (user_id in the condition). */
function chatType(): SubscriptionTypeSpec {
  return {
    version: '1',
    condition: broadcasterAndUser,
    channelFields: ['broadcaster_user_id'],
    scopes: ['user:read:chat'],
    authorizingField: 'user_id',
    moderatorMayAuthorize: false,
  };
}

export const SUBSCRIPTION_TYPES = {
  'stream.online': publicType('1'),
  'stream.offline': publicType('1'),
  'channel.update': publicType('2'),
  // "Requires moderator:read:followers ... from the broadcaster or a moderator of the channel."
  'channel.follow': {
    version: '2',
    condition: broadcasterAndModerator,
    channelFields: ['broadcaster_user_id'],
    scopes: ['moderator:read:followers'],
    authorizingField: 'moderator_user_id',
    moderatorMayAuthorize: true,
  },
  // "Requires channel:moderate" from the broadcaster.
  'channel.ban': {
    version: '1',
    condition: broadcasterOnly,
    channelFields: ['broadcaster_user_id'],
    scopes: ['channel:moderate'],
    authorizingField: 'broadcaster_user_id',
    moderatorMayAuthorize: false,
  },
  'channel.unban': {
    version: '1',
    condition: broadcasterOnly,
    channelFields: ['broadcaster_user_id'],
    scopes: ['channel:moderate'],
    authorizingField: 'broadcaster_user_id',
    moderatorMayAuthorize: false,
  },
  // No authorization: raids are public (Twitch: "No authorization required").
  'channel.raid': {
    version: '1',
    condition: raidCondition,
    channelFields: ['from_broadcaster_user_id', 'to_broadcaster_user_id'],
    scopes: [],
    authorizingField: null,
    moderatorMayAuthorize: false,
  },
  // "Must have moderation:read scope" (channel:manage:moderators also reads the list here).
  'channel.moderator.add': roleType(['moderation:read', 'channel:manage:moderators']),
  'channel.moderator.remove': roleType(['moderation:read', 'channel:manage:moderators']),
  // "Must have channel:read:vips or channel:manage:vips scope".
  'channel.vip.add': roleType(['channel:read:vips', 'channel:manage:vips']),
  'channel.vip.remove': roleType(['channel:read:vips', 'channel:manage:vips']),
  'channel.chat.message': chatType(),
  'channel.chat.message_delete': chatType(),
  'channel.chat.clear': chatType(),
  'channel.chat.clear_user_messages': chatType(),
  'channel.chat.notification': chatType(),
  // "Requires channel:read:subscriptions" from the broadcaster (docs/payments.md feeds them).
  'channel.subscribe': broadcasterScoped(['channel:read:subscriptions']),
  'channel.subscription.end': broadcasterScoped(['channel:read:subscriptions']),
  'channel.subscription.gift': broadcasterScoped(['channel:read:subscriptions']),
  'channel.subscription.message': broadcasterScoped(['channel:read:subscriptions']),
  // "Requires bits:read" from the broadcaster.
  'channel.cheer': broadcasterScoped(['bits:read']),
} satisfies Record<string, SubscriptionTypeSpec>;

export type SubscriptionType = keyof typeof SUBSCRIPTION_TYPES;

export function isSubscriptionType(type: string): type is SubscriptionType {
  return Object.hasOwn(SUBSCRIPTION_TYPES, type);
}

export function findTypeSpec(type: SubscriptionType): SubscriptionTypeSpec {
  return SUBSCRIPTION_TYPES[type];
}

/** The channel field a parsed condition of `spec` holds, and its value. */
export function findChannelField(
  spec: SubscriptionTypeSpec,
  condition: Record<string, string>,
): { field: string; broadcasterId: string } {
  for (const field of spec.channelFields) {
    const broadcasterId = condition[field];
    if (broadcasterId !== undefined) return { field, broadcasterId };
  }
  throw new Error('a parsed condition names no channel');
}
