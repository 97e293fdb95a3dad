// Room events as Twitch IRC lines (CLEARMSG, CLEARCHAT, ROOMSTATE, HOSTTARGET, USERNOTICE raid and
// announcement,
// others' JOIN/PART for twitch.tv/membership...),
// rendered once per batch for every IRC socket of a shard (batch-payloads.ts). Built with
// formatIrcLine, so no event can carry a line break to a client.
import {
  formatChannel,
  formatIrcLine,
  formatUserTags,
  IRC_HOST,
  renderMembership,
  renderNotice,
  renderPrivmsg,
  renderRoomState,
} from './irc.ts';
import { renderSubNotice } from './irc-sub-notices.ts';
import type { FanoutEvent } from './types.ts';

/** Renders a fanned-out room event for IRC sockets; null when IRC has no counterpart. */
export function renderFanoutEvent(
  event: FanoutEvent,
  channelName: string,
  roomId: string,
  now: number,
): string | null {
  const channel = formatChannel(channelName);
  switch (event.kind) {
    case 'message':
      return renderPrivmsg(channelName, roomId, event.message);
    case 'delete':
      return formatIrcLine({
        tags: { login: event.login, 'room-id': roomId, 'target-msg-id': event.messageId, 'tmi-sent-ts': now },
        prefix: IRC_HOST,
        command: 'CLEARMSG',
        params: [channel],
        trailing: event.content,
      });
    case 'clear_user':
      return formatIrcLine({
        tags: {
          ...(event.durationSeconds === null ? {} : { 'ban-duration': event.durationSeconds }),
          'room-id': roomId,
          'target-user-id': event.userId,
          'tmi-sent-ts': now,
        },
        prefix: IRC_HOST,
        command: 'CLEARCHAT',
        params: [channel],
        trailing: event.login,
      });
    case 'clear_chat':
      return formatIrcLine({
        tags: { 'room-id': roomId, 'tmi-sent-ts': now },
        prefix: IRC_HOST,
        command: 'CLEARCHAT',
        params: [channel],
      });
    case 'room_state':
      return renderRoomState(channelName, roomId, event.state);
    case 'notice':
      return renderNotice(channel, event.code, event.message);
    case 'raid_out':
      // Twitch's legacy host notice names where the audience went.
      return formatIrcLine({
        prefix: IRC_HOST,
        command: 'HOSTTARGET',
        params: [channel],
        trailing: `${event.to.name} ${event.viewers}`,
      });
    case 'raid_in': {
      const login = event.from.name.toLowerCase();
      return formatIrcLine({
        tags: {
          'badge-info': '',
          badges: '',
          color: '',
          'display-name': event.from.displayName,
          emotes: '',
          flags: '',
          id: crypto.randomUUID(),
          login,
          mod: 0,
          'msg-id': 'raid',
          'msg-param-displayName': event.from.displayName,
          'msg-param-login': login,
          // Twitch sends the raider's avatar; there is no avatar URL to give here.
          'msg-param-profileImageURL': '',
          'msg-param-viewerCount': event.viewers,
          'room-id': roomId,
          subscriber: 0,
          'system-msg': `${event.viewers} raiders from ${event.from.displayName} have joined!`,
          'tmi-sent-ts': now,
          turbo: 0,
          'user-id': event.from.ownerId,
          'user-type': '',
        },
        prefix: IRC_HOST,
        command: 'USERNOTICE',
        params: [channel],
      });
    }
    case 'announcement': {
      // https://dev.twitch.tv/docs/chat/irc/#usernotice-tags: msg-id=announcement with
      // msg-param-color, the announcer's own tags, and the text as the trailing parameter.
      const login = event.user.name.toLowerCase();
      return formatIrcLine({
        tags: {
          ...formatUserTags(event.user),
          emotes: '',
          flags: '',
          id: event.id,
          login,
          'msg-id': 'announcement',
          'msg-param-color': event.color,
          'room-id': roomId,
          'system-msg': '',
          'tmi-sent-ts': now,
          'user-id': event.user.id,
        },
        prefix: IRC_HOST,
        command: 'USERNOTICE',
        params: [channel],
        trailing: event.content,
      });
    }
    case 'sub_notice':
      return renderSubNotice(event.notice, channelName, roomId, now);
    case 'viewer_count':
    // Polls, predictions and redemptions are JSON frames only: Twitch's IRC carries none of them.
    case 'engagement':
      return null;
    case 'membership':
      return renderMembership(event.login, channelName, event.joined);
  }
}
