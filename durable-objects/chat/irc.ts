// Twitch IRC over WebSocket: parsing client lines and rendering server lines with IRCv3 tags the
// way tmi.twitch.tv does (https://dev.twitch.tv/docs/chat/irc/), so unmodified Twitch clients
// (tmi.js, chatterino, bots) talk to our rooms.
import type { ChatErrorCode, ChatMessage, RoomState } from '../../protocol/chat.ts';
import type { FanoutEvent } from './types.ts';

export const IRC_HOST = 'tmi.twitch.tv';
/** "A message may not exceed 512 bytes" in RFC 1459; Twitch allows tags up to 8 KiB on top. */
export const MAX_IRC_LINE_BYTES = 16 * 1024;

export interface IrcMessage {
  tags: Map<string, string>;
  prefix: string | null;
  command: string;
  params: string[];
}

/** IRCv3 message-tags: "\:" is ";", "\s" is a space, "\\" is a backslash, "\r" and "\n" CR and LF. */
export function escapeTagValue(value: string): string {
  return value.replace(
    /[\\; \r\n]/g,
    (c) => ({ '\\': '\\\\', ';': '\\:', ' ': '\\s', '\r': '\\r', '\n': '\\n' })[c] ?? c,
  );
}

function unescapeTagValue(value: string): string {
  return value.replace(
    /\\(.?)/g,
    (_, c: string) => ({ ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' })[c] ?? c,
  );
}

/** Parses one line (without CR LF); null when it has no command. */
export function parseIrcLine(line: string): IrcMessage | null {
  let rest = line;
  const tags = new Map<string, string>();
  if (rest.startsWith('@')) {
    const end = rest.indexOf(' ');
    if (end < 0) return null;
    for (const pair of rest.slice(1, end).split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) tags.set(pair, '');
      else tags.set(pair.slice(0, eq), unescapeTagValue(pair.slice(eq + 1)));
    }
    rest = rest.slice(end + 1).trimStart();
  }
  let prefix: string | null = null;
  if (rest.startsWith(':')) {
    const end = rest.indexOf(' ');
    if (end < 0) return null;
    prefix = rest.slice(1, end);
    rest = rest.slice(end + 1).trimStart();
  }
  const params: string[] = [];
  while (rest.length > 0) {
    if (rest.startsWith(':')) {
      params.push(rest.slice(1));
      break;
    }
    const end = rest.indexOf(' ');
    if (end < 0) {
      params.push(rest);
      break;
    }
    params.push(rest.slice(0, end));
    rest = rest.slice(end + 1).trimStart();
  }
  const command = params.shift()?.toUpperCase();
  if (!command) return null;
  return { tags, prefix, command, params };
}

/** "#name", lower case, as Twitch writes channels. */
export function formatChannel(name: string): string {
  return `#${name.toLowerCase()}`;
}

function formatTags(tags: Record<string, string | number>): string {
  const parts = Object.entries(tags).map(([key, value]) => `${key}=${escapeTagValue(String(value))}`);
  return parts.length > 0 ? `@${parts.join(';')} ` : '';
}

function formatUserPrefix(login: string): string {
  return `${login}!${login}@${login}.${IRC_HOST}`;
}

/** The numerics Twitch sends after a successful NICK. tmi.js treats 376 as "connected". */
export function renderWelcome(nick: string): string[] {
  return [
    `:${IRC_HOST} 001 ${nick} :Welcome, GLHF!`,
    `:${IRC_HOST} 002 ${nick} :Your host is ${IRC_HOST}`,
    `:${IRC_HOST} 003 ${nick} :This server is rather new`,
    `:${IRC_HOST} 004 ${nick} :-`,
    `:${IRC_HOST} 375 ${nick} :-`,
    `:${IRC_HOST} 372 ${nick} :You are in a maze of twisty passages, all alike.`,
    `:${IRC_HOST} 376 ${nick} :>`,
  ];
}

function formatBadges(user: ChatMessage['user'] | null): { badges: string; badgeInfo: string } {
  if (!user) return { badges: '', badgeInfo: '' };
  const subscriber = user.badges.find((badge) => badge.id === 'subscriber');
  return {
    badges: user.badges.map((badge) => `${badge.id}/${badge.version}`).join(','),
    badgeInfo: subscriber ? `subscriber/${subscriber.version}` : '',
  };
}

/** The tags that describe a chatter in USERSTATE, PRIVMSG and USERNOTICE. */
function formatUserTags(user: ChatMessage['user'] | null): Record<string, string> {
  const { badges, badgeInfo } = formatBadges(user);
  const isMod = user?.badges.some((badge) => badge.id === 'moderator') ?? false;
  return {
    'badge-info': badgeInfo,
    badges,
    color: user?.color ?? '',
    'display-name': user?.display_name ?? '',
    mod: isMod ? '1' : '0',
    subscriber: user?.badges.some((badge) => badge.id === 'subscriber') ? '1' : '0',
    'user-type': isMod ? 'mod' : '',
  };
}

export function renderGlobalUserState(user: ChatMessage['user'] | null): string {
  return `${formatTags({ ...formatUserTags(user), 'emote-sets': '0', 'user-id': user?.id ?? '' })}:${IRC_HOST} GLOBALUSERSTATE`;
}

export function renderUserState(channelName: string, user: ChatMessage['user'] | null): string {
  return `${formatTags({ ...formatUserTags(user), 'emote-sets': '0' })}:${IRC_HOST} USERSTATE ${formatChannel(channelName)}`;
}

export function renderRoomState(channelName: string, roomId: string, state: RoomState): string {
  return `${formatTags({
    'emote-only': state.emote_only ? 1 : 0,
    'followers-only': state.followers_only_minutes,
    r9k: state.unique_chat ? 1 : 0,
    'room-id': roomId,
    slow: state.slow_seconds,
    'subs-only': state.subscribers_only ? 1 : 0,
  })}:${IRC_HOST} ROOMSTATE ${formatChannel(channelName)}`;
}

/** The JOIN echo, the names list (just the joiner: membership lists are not kept) and its end. */
export function renderJoin(nick: string, channelName: string): string[] {
  const channel = formatChannel(channelName);
  return [
    `:${formatUserPrefix(nick)} JOIN ${channel}`,
    `:${nick}.${IRC_HOST} 353 ${nick} = ${channel} :${nick}`,
    `:${nick}.${IRC_HOST} 366 ${nick} ${channel} :End of /NAMES list`,
  ];
}

export function renderPart(nick: string, channelName: string): string {
  return `:${formatUserPrefix(nick)} PART ${formatChannel(channelName)}`;
}

export function renderNotice(target: string, msgId: string, text: string): string {
  return `${formatTags({ 'msg-id': msgId })}:${IRC_HOST} NOTICE ${target} :${text}`;
}

/** Twitch counts emote positions in Unicode code points, JavaScript strings in UTF-16 units. */
function toCodePointIndex(content: string, utf16Index: number): number {
  return [...content.slice(0, utf16Index)].length;
}

/** "id:start-end,start-end/id2:start-end" */
export function formatEmotesTag(message: ChatMessage): string {
  return message.emotes
    .map((emote) => {
      const ranges = emote.positions.map(
        ([start, end]) =>
          `${toCodePointIndex(message.content, start)}-${toCodePointIndex(message.content, end)}`,
      );
      return `${emote.id}:${ranges.join(',')}`;
    })
    .join('/');
}

export function renderPrivmsg(channelName: string, roomId: string, message: ChatMessage): string {
  const tags = formatTags({
    ...formatUserTags(message.user),
    emotes: formatEmotesTag(message),
    'first-msg': 0,
    flags: '',
    id: message.id,
    'room-id': roomId,
    'tmi-sent-ts': Date.parse(message.timestamp),
    turbo: 0,
    'user-id': message.user.id,
    ...(message.highlighted ? { 'msg-id': 'highlighted-message' } : {}),
  });
  return `${tags}:${formatUserPrefix(message.user.name)} PRIVMSG ${formatChannel(channelName)} :${message.content}`;
}

/** Our refusal codes as the NOTICE msg-ids Twitch clients already understand. */
const MSG_ID_BY_ERROR: Record<ChatErrorCode, string> = {
  rate_limited: 'msg_ratelimit',
  banned: 'msg_banned',
  timed_out: 'msg_timedout',
  msg_too_long: 'msg_rejected',
  slow_mode: 'msg_slowmode',
  subs_only: 'msg_subsonly',
  emote_only: 'msg_emoteonly',
  followers_only: 'msg_followersonly',
  duplicate: 'msg_duplicate',
  banned_word: 'msg_rejected_mandatory',
  unauthorized: 'msg_anonymous',
  forbidden: 'no_permission',
  invalid_frame: 'msg_rejected',
  unknown_command: 'unrecognized_cmd',
};

export function mapErrorToMsgId(code: ChatErrorCode): string {
  return MSG_ID_BY_ERROR[code];
}

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
      return `${formatTags({ login: event.login, 'room-id': roomId, 'target-msg-id': event.messageId, 'tmi-sent-ts': now })}:${IRC_HOST} CLEARMSG ${channel} :${event.content}`;
    case 'clear_user':
      return `${formatTags({
        ...(event.durationSeconds === null ? {} : { 'ban-duration': event.durationSeconds }),
        'room-id': roomId,
        'target-user-id': event.userId,
        'tmi-sent-ts': now,
      })}:${IRC_HOST} CLEARCHAT ${channel} :${event.login}`;
    case 'clear_chat':
      return `${formatTags({ 'room-id': roomId, 'tmi-sent-ts': now })}:${IRC_HOST} CLEARCHAT ${channel}`;
    case 'room_state':
      return renderRoomState(channelName, roomId, event.state);
    case 'notice':
      return renderNotice(channel, event.code, event.message);
    case 'raid_out':
      // Twitch's legacy host notice names where the audience went.
      return `:${IRC_HOST} HOSTTARGET ${channel} :${event.to.name} ${event.viewers}`;
    case 'raid_in': {
      const login = event.from.name.toLowerCase();
      return `${formatTags({
        'badge-info': '',
        badges: '',
        color: '',
        'display-name': event.from.displayName,
        emotes: '',
        id: crypto.randomUUID(),
        login,
        mod: 0,
        'msg-id': 'raid',
        'msg-param-displayName': event.from.displayName,
        'msg-param-login': login,
        'msg-param-viewerCount': event.viewers,
        'room-id': roomId,
        subscriber: 0,
        'system-msg': `${event.viewers} raiders from ${event.from.displayName} have joined!`,
        'tmi-sent-ts': now,
        'user-type': '',
      })}:${IRC_HOST} USERNOTICE ${channel}`;
    }
    case 'viewer_count':
      return null;
  }
}
