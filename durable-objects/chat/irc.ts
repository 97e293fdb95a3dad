// Twitch IRC over WebSocket: parsing client lines and rendering server lines with IRCv3 tags the
// way tmi.twitch.tv does (https://dev.twitch.tv/docs/chat/irc/), so unmodified Twitch clients
// (tmi.js, chatterino, bots) talk to our rooms.
import type { ChatErrorCode, ChatMessage, RoomState } from '../../protocol/chat.ts';

export const IRC_HOST = 'tmi.twitch.tv';
/** "A message may not exceed 512 bytes" in RFC 1459; Twitch allows tags up to 8 KiB on top. */
export const MAX_IRC_LINE_BYTES = 16 * 1024;

export interface IrcMessage {
  tags: Map<string, string>;
  prefix: string | null;
  command: string;
  params: string[];
}

/**
 * IRCv3 message-tags, "Escaping values": ";" is "\:", a space "\s", "\" is "\\", CR "\r", LF "\n".
 * NUL has no escape ("the NUL character is not allowed" in a message, RFC 1459 §2.3.1): dropped.
 */
export function escapeTagValue(value: string): string {
  return value.replace(
    /[\\; \r\n\0]/g,
    (c) => ({ '\\': '\\\\', ';': '\\:', ' ': '\\s', '\r': '\\r', '\n': '\\n', '\0': '' })[c] ?? '',
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

/** One line to send; every field may hold user data and is made safe by formatIrcLine. */
export interface IrcLine {
  tags?: Record<string, string | number>;
  prefix?: string;
  command: string;
  /** Middle parameters: no spaces, never starting with ":". */
  params?: readonly string[];
  /** The last parameter, after " :": may hold spaces. */
  trailing?: string;
}

const LINE_BREAKS = /[\r\n\0]/g;
const TAG_KEY_UNSAFE = /[^A-Za-z0-9\-/.+]/g;

/**
 * Serializes one IRC line without CR LF. Whatever the caller passed, the result holds no CR, LF or
 * NUL (RFC 1459 §2.3.1: "CR-LF" ends a message, NUL is not allowed in one) and has exactly the
 * parameters given: tag values are escaped (IRCv3 message-tags), middle parameters lose spaces and
 * line breaks, the trailing parameter has line breaks turned into spaces. This is the one place
 * lines are built, so no renderer can forget a case (docs/security.md, "chat line injection").
 */
export function formatIrcLine(line: IrcLine): string {
  let out = '';
  const tags = Object.entries(line.tags ?? {});
  if (tags.length > 0) {
    const parts = tags.map(
      ([key, value]) => `${key.replace(TAG_KEY_UNSAFE, '')}=${escapeTagValue(String(value))}`,
    );
    out += `@${parts.join(';')} `;
  }
  if (line.prefix !== undefined) out += `:${line.prefix.replace(LINE_BREAKS, '').replace(/ /g, '')} `;
  out += line.command.replace(/[^A-Za-z0-9]/g, '') || '*';
  for (const param of line.params ?? []) {
    const safe = param.replace(LINE_BREAKS, '').replace(/ /g, '').replace(/^:+/, '');
    out += ` ${safe || '*'}`;
  }
  if (line.trailing !== undefined) out += ` :${line.trailing.replace(LINE_BREAKS, ' ')}`;
  return out;
}

/** "#name", lower case, as Twitch writes channels. */
export function formatChannel(name: string): string {
  return `#${name.toLowerCase()}`;
}

function formatUserPrefix(login: string): string {
  return `${login}!${login}@${login}.${IRC_HOST}`;
}

/** The numerics Twitch sends after a successful NICK. tmi.js treats 376 as "connected". */
export function renderWelcome(nick: string): string[] {
  const numeric = (command: string, trailing: string) =>
    formatIrcLine({ prefix: IRC_HOST, command, params: [nick], trailing });
  return [
    numeric('001', 'Welcome, GLHF!'),
    numeric('002', `Your host is ${IRC_HOST}`),
    numeric('003', 'This server is rather new'),
    numeric('004', '-'),
    numeric('375', '-'),
    numeric('372', 'You are in a maze of twisty passages, all alike.'),
    numeric('376', '>'),
  ];
}

/** The capabilities tmi.twitch.tv offers (https://dev.twitch.tv/docs/chat/irc/#requesting-twitch-capabilities). */
export const TWITCH_CAPABILITIES = ['twitch.tv/tags', 'twitch.tv/commands', 'twitch.tv/membership'] as const;
export type TwitchCapability = (typeof TWITCH_CAPABILITIES)[number];

/** "CAP * ACK :caps" or "CAP * NAK :caps", echoing the request as the client wrote it. */
export function renderCapReply(verdict: 'ACK' | 'NAK', capabilities: string): string {
  return formatIrcLine({ prefix: IRC_HOST, command: 'CAP', params: ['*', verdict], trailing: capabilities });
}

export function renderCapAck(capabilities: string): string {
  return renderCapReply('ACK', capabilities);
}

export function renderCapList(): string {
  return formatIrcLine({
    prefix: IRC_HOST,
    command: 'CAP',
    params: ['*', 'LS'],
    trailing: TWITCH_CAPABILITIES.join(' '),
  });
}

/** "CAP * LIST": what this connection has enabled. */
export function renderCapEnabled(capabilities: readonly string[]): string {
  return formatIrcLine({
    prefix: IRC_HOST,
    command: 'CAP',
    params: ['*', 'LIST'],
    trailing: capabilities.join(' '),
  });
}

/**
 * Twitch's notice before it drops a connection for maintenance: clients reconnect at once
 * (https://dev.twitch.tv/docs/chat/irc/#reconnect-message).
 */
export function renderReconnect(): string {
  return formatIrcLine({ prefix: IRC_HOST, command: 'RECONNECT' });
}

/** tmi.js expects the prefix-less PONG Twitch sends. */
export function renderPong(token: string): string {
  return formatIrcLine({ command: 'PONG', trailing: token });
}

export function renderUnknownCommand(nick: string, command: string): string {
  return formatIrcLine({
    prefix: IRC_HOST,
    command: '421',
    params: [nick, command],
    trailing: 'Unknown command',
  });
}

export function renderLoginFailed(): string {
  return formatIrcLine({
    prefix: IRC_HOST,
    command: 'NOTICE',
    params: ['*'],
    trailing: 'Login authentication failed',
  });
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
export function formatUserTags(user: ChatMessage['user'] | null): Record<string, string> {
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
  return formatIrcLine({
    tags: { ...formatUserTags(user), 'emote-sets': '0', 'user-id': user?.id ?? '' },
    prefix: IRC_HOST,
    command: 'GLOBALUSERSTATE',
  });
}

export function renderUserState(channelName: string, user: ChatMessage['user'] | null): string {
  return formatIrcLine({
    tags: { ...formatUserTags(user), 'emote-sets': '0' },
    prefix: IRC_HOST,
    command: 'USERSTATE',
    params: [formatChannel(channelName)],
  });
}

export function renderRoomState(channelName: string, roomId: string, state: RoomState): string {
  return formatIrcLine({
    tags: {
      'emote-only': state.emote_only ? 1 : 0,
      'followers-only': state.followers_only_minutes,
      r9k: state.unique_chat ? 1 : 0,
      'room-id': roomId,
      slow: state.slow_seconds,
      'subs-only': state.subscribers_only ? 1 : 0,
    },
    prefix: IRC_HOST,
    command: 'ROOMSTATE',
    params: [formatChannel(channelName)],
  });
}

/**
 * The JOIN echo, the names list and its end. Without twitch.tv/membership Twitch lists only the
 * joiner; with it, the signed-in chatters the room knows (irc-membership.ts), several 353 lines
 * when they do not fit one (RFC 2812 §5.1 RPL_NAMREPLY; each line stays near RFC 1459's 512 bytes).
 */
export function renderJoin(nick: string, channelName: string, members: readonly string[] = []): string[] {
  const channel = formatChannel(channelName);
  const names = [nick, ...members.filter((m) => m !== nick)];
  const chunks: string[][] = [[]];
  let length = 0;
  for (const name of names) {
    const current = chunks[chunks.length - 1] ?? [];
    if (length + name.length + 1 > NAMES_LINE_CHARS && current.length > 0) {
      chunks.push([name]);
      length = name.length + 1;
    } else {
      current.push(name);
      length += name.length + 1;
    }
  }
  return [
    formatIrcLine({ prefix: formatUserPrefix(nick), command: 'JOIN', params: [channel] }),
    ...chunks.map((chunk) =>
      formatIrcLine({
        prefix: `${nick}.${IRC_HOST}`,
        command: '353',
        params: [nick, '=', channel],
        trailing: chunk.join(' '),
      }),
    ),
    formatIrcLine({
      prefix: `${nick}.${IRC_HOST}`,
      command: '366',
      params: [nick, channel],
      trailing: 'End of /NAMES list',
    }),
  ];
}

/** Names per 353 line: the rest of the line (prefix, nick, channel) fits in RFC 1459's 512 bytes. */
const NAMES_LINE_CHARS = 300;

/** Another chatter's JOIN or PART, as twitch.tv/membership relays it. */
export function renderMembership(login: string, channelName: string, joined: boolean): string {
  return formatIrcLine({
    prefix: formatUserPrefix(login),
    command: joined ? 'JOIN' : 'PART',
    params: [formatChannel(channelName)],
  });
}

export function renderPart(nick: string, channelName: string): string {
  return formatIrcLine({
    prefix: formatUserPrefix(nick),
    command: 'PART',
    params: [formatChannel(channelName)],
  });
}

export function renderNotice(target: string, msgId: string, text: string): string {
  return formatIrcLine({
    tags: { 'msg-id': msgId },
    prefix: IRC_HOST,
    command: 'NOTICE',
    params: [target],
    trailing: text,
  });
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
  return formatIrcLine({
    tags: {
      ...formatUserTags(message.user),
      // Twitch's PRIVMSG tag for a cheer: the bits it carried.
      ...(message.bits ? { bits: message.bits } : {}),
      emotes: formatEmotesTag(message),
      'first-msg': 0,
      flags: '',
      id: message.id,
      'room-id': roomId,
      'tmi-sent-ts': Date.parse(message.timestamp),
      turbo: 0,
      'user-id': message.user.id,
      // Twitch's msg-id=highlighted-message is the channel-points "highlight my message"; a cheer is
      // highlighted here (never sampled away) but Twitch marks it with its bits tag alone.
      ...(message.highlighted && !message.bits ? { 'msg-id': 'highlighted-message' } : {}),
    },
    prefix: formatUserPrefix(message.user.name),
    command: 'PRIVMSG',
    params: [formatChannel(channelName)],
    trailing: message.content,
  });
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
  invalid_message: 'msg_rejected',
  unknown_command: 'unrecognized_cmd',
  insufficient_bits: 'msg_rejected',
  not_subscriber: 'msg_rejected',
  already_shared: 'msg_rejected',
};

export function mapErrorToMsgId(code: ChatErrorCode): string {
  return MSG_ID_BY_ERROR[code];
}
