// Platform events (protocol/events.ts, from the Queues) as EventSub event objects, in the field
// names of https://dev.twitch.tv/docs/eventsub/eventsub-reference/. Twitch's "broadcaster_user_id"
// is the channel owner's user id, as in Helix (workers/helix/). What an event lacks is looked up in
// D1 once per event; fields the platform has no value for are null or empty and listed in
// docs/twitch-compat.md.
import { z } from 'zod';
import type { PlatformEvent } from '../../protocol/events.ts';
import type { SubscriptionType } from './catalog.ts';

/** One EventSub event of `type` from the channel owned by `broadcasterId`, and what makes it unique. */
export interface EventSubEvent {
  type: SubscriptionType;
  broadcasterId: string;
  /** Distinguishes the items of one platform event (a chat batch carries many messages). */
  itemKey: string;
  /**
   * The condition field a subscription must name `broadcasterId` in, where a type has several
   * (channel.raid: the raiding side's subscriptions name from_broadcaster_user_id, the raided
   * side's to_broadcaster_user_id); null where the type has one.
   */
  conditionField: string | null;
  event: Record<string, unknown>;
}

const ChannelRow = z.object({ user_id: z.string(), login: z.string(), display_name: z.string() });
const UserRow = z.object({ id: z.string(), login: z.string(), display_name: z.string().nullable() });
const StreamRow = z.object({
  title: z.string(),
  language: z.string(),
  category_id: z.number().nullable(),
  category_name: z.string().nullable(),
  started_at: z.number().nullable(),
});

async function findBroadcaster(db: D1Database, channelId: string) {
  const row = await db
    .prepare(
      'SELECT c.user_id, u.username AS login, c.display_name FROM channels c JOIN users u ON u.id = c.user_id WHERE c.id = ?',
    )
    .bind(channelId)
    .first();
  if (row === null) return null;
  const parsed = ChannelRow.parse(row);
  return {
    id: parsed.user_id,
    fields: {
      broadcaster_user_id: parsed.user_id,
      broadcaster_user_login: parsed.login.toLowerCase(),
      broadcaster_user_name: parsed.display_name,
    },
  };
}

async function findUser(db: D1Database, userId: string | null) {
  if (userId === null) return null;
  const row = await db
    .prepare(
      'SELECT u.id, u.username AS login, c.display_name FROM users u LEFT JOIN channels c ON c.user_id = u.id WHERE u.id = ?',
    )
    .bind(userId)
    .first();
  if (row === null) return null;
  const parsed = UserRow.parse(row);
  return { id: parsed.id, login: parsed.login.toLowerCase(), name: parsed.display_name ?? parsed.login };
}

/** `prefix_user_id`, `_login`, `_name` for one user (null fields when unknown). */
function userFields(
  prefix: string,
  user: { id: string; login: string; name: string } | null,
  id: string | null,
) {
  return {
    [`${prefix}_id`]: user?.id ?? id,
    [`${prefix}_login`]: user?.login ?? null,
    [`${prefix}_name`]: user?.name ?? null,
  };
}

/** `broadcaster_user_*` fields as `<prefix>broadcaster_user_*` (channel.raid's from_/to_). */
function renamePrefix(fields: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [`${prefix}${key}`, value]));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Messages of one chat batch that one event may carry as channel.chat.message notifications. */
export const MAX_CHAT_MESSAGES_PER_EVENT = 500;

/** The EventSub events a platform event produces; [] for events EventSub has no type for. */
export async function buildEventSubEvents(db: D1Database, event: PlatformEvent): Promise<EventSubEvent[]> {
  if (!('channel_id' in event)) return [];
  switch (event.type) {
    case 'stream.started':
    case 'stream.ended':
    case 'stream.updated':
    case 'channel.followed':
    case 'moderation.ban':
    case 'moderation.unban':
    case 'chat.messages':
    case 'chat.message_deleted':
    case 'chat.cleared':
    case 'channel.role_changed':
    case 'channel.raided':
    case 'chat.announced':
    case 'subscription.started':
    case 'subscription.ended':
    case 'subscription.gifted':
    case 'subscription.message_shared':
    case 'bits.cheered':
      break;
    default:
      return [];
  }
  const broadcaster = await findBroadcaster(db, event.channel_id);
  if (!broadcaster) return [];
  const one = (type: SubscriptionType, fields: Record<string, unknown>, itemKey = ''): EventSubEvent[] => [
    { type, broadcasterId: broadcaster.id, itemKey, conditionField: null, event: fields },
  ];
  switch (event.type) {
    case 'stream.started':
      return one('stream.online', {
        id: event.stream_id,
        ...broadcaster.fields,
        type: 'live',
        started_at: iso(event.occurred_at),
      });
    case 'stream.ended':
      return one('stream.offline', { ...broadcaster.fields });
    case 'stream.updated': {
      const row = await db
        .prepare(
          `SELECT s.title, s.language, s.category_id, g.name AS category_name, s.started_at
           FROM streams s LEFT JOIN categories g ON g.id = s.category_id WHERE s.id = ?`,
        )
        .bind(event.stream_id)
        .first();
      const stream = row === null ? null : StreamRow.parse(row);
      return one('channel.update', {
        ...broadcaster.fields,
        title: stream?.title ?? '',
        language: stream?.language ?? 'en',
        category_id: stream?.category_id === null || !stream ? '' : String(stream.category_id),
        category_name: stream?.category_name ?? '',
        content_classification_labels: [],
      });
    }
    case 'channel.followed': {
      const user = await findUser(db, event.user_id);
      return one('channel.follow', {
        ...userFields('user', user, event.user_id),
        ...broadcaster.fields,
        followed_at: iso(event.occurred_at),
      });
    }
    case 'moderation.ban': {
      const [user, moderator] = await Promise.all([
        findUser(db, event.user_id),
        findUser(db, event.moderator_id),
      ]);
      return [
        ...one('channel.ban', {
          ...userFields('user', user, event.user_id),
          ...broadcaster.fields,
          ...userFields('moderator_user', moderator, event.moderator_id),
          reason: event.reason,
          banned_at: iso(event.occurred_at),
          ends_at: event.expires_at === null ? null : iso(event.expires_at),
          is_permanent: event.expires_at === null,
        }),
        // A ban or timeout removes the user's messages from chat (the room's clear_user), which
        // Twitch reports as channel.chat.clear_user_messages.
        ...one(
          'channel.chat.clear_user_messages',
          { ...broadcaster.fields, ...userFields('target_user', user, event.user_id) },
          'clear_user_messages',
        ),
      ];
    }
    case 'moderation.unban': {
      const user = await findUser(db, event.user_id);
      // The platform's unban event does not name the moderator (docs/twitch-compat.md).
      return one('channel.unban', {
        ...userFields('user', user, event.user_id),
        ...broadcaster.fields,
        ...userFields('moderator_user', null, null),
      });
    }
    case 'chat.messages':
      return event.messages.slice(0, MAX_CHAT_MESSAGES_PER_EVENT).map((message) => ({
        type: 'channel.chat.message',
        broadcasterId: broadcaster.id,
        itemKey: message.id,
        conditionField: null,
        event: {
          ...broadcaster.fields,
          chatter_user_id: message.user_id,
          chatter_user_login: message.user_name.toLowerCase(),
          chatter_user_name: message.user_name,
          message_id: message.id,
          message: {
            text: message.content,
            fragments: [{ type: 'text', text: message.content, cheermote: null, emote: null, mention: null }],
          },
          color: '',
          badges: [],
          message_type: 'text',
          cheer: null,
          reply: null,
          channel_points_custom_reward_id: null,
        },
      }));
    case 'chat.message_deleted':
      // The deletion event names the message only; the target user is not known here.
      return one('channel.chat.message_delete', {
        ...broadcaster.fields,
        ...userFields('target_user', null, null),
        message_id: event.message_id,
      });
    case 'chat.cleared':
      return one('channel.chat.clear', { ...broadcaster.fields });
    case 'channel.role_changed': {
      const user = await findUser(db, event.user_id);
      const type =
        event.role === 'moderator'
          ? event.granted
            ? 'channel.moderator.add'
            : 'channel.moderator.remove'
          : event.granted
            ? 'channel.vip.add'
            : 'channel.vip.remove';
      return one(type, { ...broadcaster.fields, ...userFields('user', user, event.user_id) });
    }
    case 'channel.raided': {
      const to = await findBroadcaster(db, event.to_channel_id);
      if (!to) return [];
      const fields = {
        ...renamePrefix(broadcaster.fields, 'from_'),
        ...renamePrefix(to.fields, 'to_'),
        viewers: event.viewers,
      };
      // One raid, two audiences: subscriptions to raids out of the raiding channel and into the
      // raided one. Each subscription names one side, so it gets one of these items. The raided
      // chat's notice is its channel.chat.notification (notice_type raid).
      const raider = {
        id: broadcaster.id,
        login: broadcaster.fields.broadcaster_user_login,
        name: broadcaster.fields.broadcaster_user_name,
      };
      return [
        {
          type: 'channel.chat.notification',
          broadcasterId: to.id,
          itemKey: 'notification',
          conditionField: null,
          event: buildChatNotification(to.fields, raider, {
            message_id: event.id,
            system_message: `${event.viewers} raiders from ${raider.name} have joined!`,
            text: '',
            notice_type: 'raid',
            raid: {
              user_id: raider.id,
              user_login: raider.login,
              user_name: raider.name,
              viewer_count: event.viewers,
              profile_image_url: '',
            },
          }),
        },
        {
          type: 'channel.raid',
          broadcasterId: broadcaster.id,
          itemKey: 'from',
          conditionField: 'from_broadcaster_user_id',
          event: fields,
        },
        {
          type: 'channel.raid',
          broadcasterId: to.id,
          itemKey: 'to',
          conditionField: 'to_broadcaster_user_id',
          event: fields,
        },
      ];
    }
    case 'chat.announced': {
      const user = await findUser(db, event.user_id);
      const chatter = { id: event.user_id, login: user?.login ?? '', name: user?.name ?? '' };
      return one(
        'channel.chat.notification',
        buildChatNotification(broadcaster.fields, chatter, {
          message_id: event.message_id,
          system_message: '',
          text: event.content,
          notice_type: 'announcement',
          announcement: { color: event.color },
        }),
      );
    }
    case 'subscription.started': {
      const [user, gifter] = await Promise.all([findUser(db, event.user_id), findUser(db, event.gifter_id)]);
      const tier = String(event.tier);
      const subscriber = describeChatter(user, event.user_id);
      // The chat's notice: a new subscriber's `sub`, or the gifter's `sub_gift` naming the recipient.
      const notification =
        event.gifter_id === null
          ? buildChatNotification(broadcaster.fields, subscriber, {
              message_id: event.id,
              system_message: `${subscriber.name} subscribed at Tier ${event.tier / 1000}.`,
              text: '',
              notice_type: 'sub',
              sub: { sub_tier: tier, is_prime: false, duration_months: 1 },
            })
          : buildChatNotification(broadcaster.fields, describeChatter(gifter, event.gifter_id), {
              message_id: event.id,
              system_message: `${gifter?.name ?? ''} gifted a Tier ${event.tier / 1000} sub to ${subscriber.name}!`,
              text: '',
              notice_type: 'sub_gift',
              sub_gift: {
                duration_months: 1,
                cumulative_total: null,
                recipient_user_id: subscriber.id,
                recipient_user_name: subscriber.name,
                recipient_user_login: subscriber.login,
                sub_tier: tier,
                community_gift_id: null,
              },
            });
      return [
        ...one('channel.subscribe', {
          ...userFields('user', user, event.user_id),
          ...broadcaster.fields,
          tier,
          is_gift: event.gifter_id !== null,
        }),
        ...one('channel.chat.notification', notification, 'notification'),
      ];
    }
    case 'subscription.ended': {
      const user = await findUser(db, event.user_id);
      return one('channel.subscription.end', {
        ...userFields('user', user, event.user_id),
        ...broadcaster.fields,
        tier: String(event.tier),
        is_gift: event.is_gift,
      });
    }
    case 'subscription.gifted': {
      const user = await findUser(db, event.user_id);
      // cumulative_total: "null if anonymous or not shared by the user"; nobody shares it here.
      const gift = one('channel.subscription.gift', {
        ...userFields('user', user, event.user_id),
        ...broadcaster.fields,
        total: event.total,
        tier: String(event.tier),
        cumulative_total: null,
        is_anonymous: false,
      });
      if (!event.community) return gift;
      const gifter = describeChatter(user, event.user_id);
      return [
        ...gift,
        ...one(
          'channel.chat.notification',
          buildChatNotification(broadcaster.fields, gifter, {
            message_id: event.id,
            system_message: `${gifter.name} is gifting ${event.total} Tier ${event.tier / 1000} Subs to ${broadcaster.fields.broadcaster_user_name}'s community!`,
            text: '',
            notice_type: 'community_sub_gift',
            community_sub_gift: {
              id: event.id,
              total: event.total,
              sub_tier: String(event.tier),
              cumulative_total: null,
            },
          }),
          'notification',
        ),
      ];
    }
    case 'subscription.message_shared': {
      const user = await findUser(db, event.user_id);
      const subscriber = describeChatter(user, event.user_id);
      const notification = buildChatNotification(broadcaster.fields, subscriber, {
        message_id: event.id,
        system_message:
          `${subscriber.name} subscribed at Tier ${event.tier / 1000}. They've subscribed for ${event.cumulative_months} months` +
          (event.streak_months !== null && event.streak_months > 1
            ? `, currently on a ${event.streak_months} month streak!`
            : '!'),
        text: event.message,
        notice_type: 'resub',
        resub: {
          cumulative_months: event.cumulative_months,
          duration_months: 1,
          streak_months: event.streak_months,
          sub_tier: String(event.tier),
          is_prime: false,
          is_gift: false,
          gifter_is_anonymous: null,
          gifter_user_id: null,
          gifter_user_name: null,
          gifter_user_login: null,
        },
      });
      return [
        ...one('channel.chat.notification', notification, 'notification'),
        ...one('channel.subscription.message', {
          ...userFields('user', user, event.user_id),
          ...broadcaster.fields,
          tier: String(event.tier),
          message: { text: event.message, emotes: [] },
          cumulative_months: event.cumulative_months,
          streak_months: event.streak_months,
          duration_months: 1,
        }),
      ];
    }
    case 'bits.cheered': {
      const user = await findUser(db, event.user_id);
      return one(
        'channel.cheer',
        {
          is_anonymous: false,
          ...userFields('user', user, event.user_id),
          ...broadcaster.fields,
          message: event.message,
          bits: event.bits,
        },
        event.message_id,
      );
    }
    default:
      return [];
  }
}

/** A chatter as a notice names it (the subscriber or the gifter). */
function describeChatter(user: { id: string; login: string; name: string } | null, id: string | null) {
  return { id: user?.id ?? id ?? '', login: user?.login ?? '', name: user?.name ?? '' };
}

/** The notice types this platform sends; the others (gift_paid_upgrade, charity, ...) have no source. */
type NoticeDetails =
  | { notice_type: 'announcement'; announcement: { color: string } }
  | { notice_type: 'sub'; sub: { sub_tier: string; is_prime: boolean; duration_months: number } }
  | {
      notice_type: 'resub';
      resub: {
        cumulative_months: number;
        duration_months: number;
        streak_months: number | null;
        sub_tier: string;
        is_prime: boolean;
        is_gift: boolean;
        gifter_is_anonymous: null;
        gifter_user_id: null;
        gifter_user_name: null;
        gifter_user_login: null;
      };
    }
  | {
      notice_type: 'sub_gift';
      sub_gift: {
        duration_months: number;
        cumulative_total: null;
        recipient_user_id: string;
        recipient_user_name: string;
        recipient_user_login: string;
        sub_tier: string;
        community_gift_id: null;
      };
    }
  | {
      notice_type: 'community_sub_gift';
      community_sub_gift: { id: string; total: number; sub_tier: string; cumulative_total: null };
    }
  | {
      notice_type: 'raid';
      raid: {
        user_id: string;
        user_login: string;
        user_name: string;
        viewer_count: number;
        profile_image_url: string;
      };
    };

/**
 * channel.chat.notification's event: every notice type's object is present, null but the one of
 * `notice_type` (https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#channelchatnotification).
 */
function buildChatNotification(
  broadcasterFields: Record<string, string>,
  chatter: { id: string; login: string; name: string },
  details: { message_id: string; system_message: string; text: string } & NoticeDetails,
): Record<string, unknown> {
  const { message_id, system_message, text, ...notice } = details;
  return {
    ...broadcasterFields,
    chatter_user_id: chatter.id,
    chatter_user_login: chatter.login,
    chatter_user_name: chatter.name,
    chatter_is_anonymous: false,
    color: '',
    badges: [],
    system_message,
    message_id,
    message: {
      text,
      fragments: text === '' ? [] : [{ type: 'text', text, cheermote: null, emote: null, mention: null }],
    },
    sub: null,
    resub: null,
    sub_gift: null,
    community_sub_gift: null,
    gift_paid_upgrade: null,
    prime_paid_upgrade: null,
    pay_it_forward: null,
    raid: null,
    unraid: null,
    announcement: null,
    bits_badge_tier: null,
    charity_donation: null,
    ...notice,
  };
}
