// Subscriptions announced in chat (docs/payments.md, "Subscriptions in chat"): the payments
// consumer tells the room once a first month or a gift is committed, the subscriber shares a
// renewal (chat-room/resub-share.ts), and the room fans out one notice that
// IRC renders as Twitch's USERNOTICE (irc-sub-notices.ts) and JSON sends as a sub_notice frame.
// The wording is Twitch's system-msg, so bots that match on it keep working.
import type { ChatUser, SubNoticeFrame } from '../../protocol/chat.ts';
import type { SubscriptionAnnouncement } from './types.ts';

export type SubNotice = Omit<SubNoticeFrame, 'type'>;

/** "Tier 1" for 1000: how Twitch names a plan in system messages. */
export function describeTier(tier: 1000 | 2000 | 3000): string {
  return `Tier ${tier / 1000}`;
}

/**
 * The notice for an announcement, with the users as chat shows them (badges already counting the
 * new month). `recipient` is required for a subgift and ignored otherwise.
 */
export function describeSubNotice(
  announcement: SubscriptionAnnouncement,
  user: ChatUser,
  recipient: ChatUser | null,
  channelDisplayName: string,
): SubNotice | null {
  const tier = announcement.tier;
  switch (announcement.kind) {
    case 'sub':
      // A renewal is not announced by itself: as on Twitch, the subscriber shares it (kind
      // 'resub' below, chat-room/resub-share.ts), once, with a message of their own.
      if (announcement.cumulativeMonths > 1) return null;
      return {
        msg_id: 'sub',
        user,
        tier,
        cumulative_months: 1,
        streak_months: 1,
        system_message: `${user.display_name} subscribed at ${describeTier(tier)}.`,
      };
    case 'subgift':
      if (!recipient) return null;
      return {
        msg_id: 'subgift',
        user,
        tier,
        cumulative_months: announcement.recipientMonths,
        recipient: { id: recipient.id, name: recipient.name, display_name: recipient.display_name },
        system_message: `${user.display_name} gifted a ${describeTier(tier)} sub to ${recipient.display_name}!`,
      };
    case 'resub': {
      const months = announcement.cumulativeMonths;
      const streak = announcement.streakMonths;
      return {
        msg_id: 'resub',
        user,
        tier,
        cumulative_months: months,
        ...(streak === null ? {} : { streak_months: streak }),
        ...(announcement.message === '' ? {} : { message: announcement.message }),
        system_message:
          `${user.display_name} subscribed at ${describeTier(tier)}. They've subscribed for ${months} months` +
          (streak !== null && streak > 1 ? `, currently on a ${streak} month streak!` : '!'),
      };
    }
    case 'submysterygift':
      return {
        msg_id: 'submysterygift',
        user,
        tier,
        gift_count: announcement.count,
        system_message: `${user.display_name} is gifting ${announcement.count} ${describeTier(tier)} Subs to ${channelDisplayName}'s community!`,
      };
  }
}
