// Subscription notices as Twitch IRC USERNOTICE lines (https://dev.twitch.tv/docs/chat/irc/#usernotice-tags):
// msg-id sub, resub, subgift and submysterygift with their msg-param-* tags. Kept apart from the
// other USERNOTICE kinds (raid, announcement in irc-fanout.ts) so each is rendered in one place.
// Built with formatIrcLine, so no user data can carry a line break to a client.
import { formatChannel, formatIrcLine, formatUserTags, IRC_HOST } from './irc.ts';
import type { SubNotice } from './sub-notices.ts';

export function renderSubNotice(notice: SubNotice, channelName: string, roomId: string, now: number): string {
  const plan = {
    'msg-param-sub-plan': String(notice.tier),
    'msg-param-sub-plan-name': `Channel Subscription (${channelName.toLowerCase()})`,
  };
  let params: Record<string, string | number>;
  switch (notice.msg_id) {
    case 'sub':
    case 'resub': {
      // "msg-param-streak-months: ... This is zero (0) if msg-param-should-share-streak is 0."
      // A first month has no streak to share; a shared resub has one unless the sharer hid it.
      const shareStreak = notice.msg_id === 'resub' && notice.streak_months !== undefined;
      params = {
        'msg-param-cumulative-months': notice.cumulative_months ?? 1,
        // Twitch: "Deprecated, always 0".
        'msg-param-months': 0,
        'msg-param-multimonth-duration': 1,
        'msg-param-multimonth-tenure': 0,
        'msg-param-should-share-streak': shareStreak ? 1 : 0,
        'msg-param-streak-months': shareStreak ? (notice.streak_months ?? 0) : 0,
        ...plan,
        'msg-param-was-gifted': 'false',
      };
      break;
    }
    case 'subgift':
      params = {
        'msg-param-gift-months': 1,
        'msg-param-months': notice.cumulative_months ?? 1,
        'msg-param-recipient-display-name': notice.recipient?.display_name ?? '',
        'msg-param-recipient-id': notice.recipient?.id ?? '',
        'msg-param-recipient-user-name': notice.recipient?.name.toLowerCase() ?? '',
        ...plan,
      };
      break;
    case 'submysterygift':
      params = { 'msg-param-mass-gift-count': notice.gift_count ?? 0, ...plan };
      break;
  }
  const login = notice.user.name.toLowerCase();
  return formatIrcLine({
    tags: {
      ...formatUserTags(notice.user),
      emotes: '',
      flags: '',
      id: crypto.randomUUID(),
      login,
      'msg-id': notice.msg_id,
      ...params,
      'room-id': roomId,
      'system-msg': notice.system_message,
      'tmi-sent-ts': now,
      'user-id': notice.user.id,
    },
    prefix: IRC_HOST,
    command: 'USERNOTICE',
    // A shared resub carries the subscriber's message as the trailing parameter, as on Twitch.
    params: [formatChannel(channelName)],
    ...(notice.message ? { trailing: notice.message } : {}),
  });
}
