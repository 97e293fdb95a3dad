// Twitch IRC on one socket (https://dev.twitch.tv/docs/chat/irc/): registration (PASS, NICK),
// capability negotiation (IRCv3 CAP LS/REQ/LIST/END, chat/irc-capabilities.ts), JOIN/PART of
// channels by name with NAMES and others' membership, PRIVMSG into a room, PING, RECONNECT when the
// shard gives its sockets up, 421 for anything else. Every line the client
// sends is bounded before it costs anything (flood-control.ts): a JOIN list takes join tokens
// before any lookup, a PASS is a counted credential attempt, and only registered, signed-in
// sockets reach a room with PRIVMSG. Every line sent back is built by chat/irc.ts.
import {
  formatChannel,
  mapErrorToMsgId,
  parseIrcLine,
  renderGlobalUserState,
  renderJoin,
  renderLoginFailed,
  renderNotice,
  renderPart,
  renderPong,
  renderReconnect,
  renderRoomState,
  renderUnknownCommand,
  renderUserState,
  renderWelcome,
} from '../chat/irc.ts';
import { negotiateCapabilities } from '../chat/irc-capabilities.ts';
import { MAX_CREDENTIAL_ATTEMPTS } from './flood-control.ts';
import {
  CHAT_RATE_NOTICE,
  CLOSE_POLICY_VIOLATION,
  type ShardServices,
  type SocketHandle,
  spendCredentialAttempt,
} from './socket-state.ts';

/** How many channels one IRC connection may join (Twitch allows a few hundred; we need fewer). */
export const MAX_IRC_CHANNELS = 100;
const ANONYMOUS_NICK = /^justinfan\d{1,20}$/;
const CLOSE_SERVICE_RESTART = 1012;

/** Handles one line; returns false once the socket is closed (the rest of the frame is dropped). */
export async function handleIrcLine(
  socket: SocketHandle,
  services: ShardServices,
  line: string,
): Promise<boolean> {
  const message = parseIrcLine(line);
  if (!message) return true;
  const { command, params } = message;
  const { state } = socket;
  switch (command) {
    case 'CAP': {
      const reply = negotiateCapabilities(state.caps, params);
      if (reply.caps !== state.caps) {
        state.caps = reply.caps;
        socket.save();
      }
      socket.sendIrc(reply.lines);
      return true;
    }
    case 'PASS': {
      const pass = params[0] ?? '';
      // tmi.js sends "PASS SCHMOOPIIE" for anonymous logins; only "oauth:" passes carry a token,
      // and only before registration: afterwards Twitch ignores PASS, and so do we (no lookup).
      if (state.nick !== null || !pass.toLowerCase().startsWith('oauth:')) return true;
      if (!spendCredentialAttempt(socket, MAX_CREDENTIAL_ATTEMPTS)) return false;
      const found = await services.findIrcLogin(pass.slice('oauth:'.length));
      state.user = found?.session ?? null;
      state.tokenHash = found?.tokenHash ?? null;
      state.canSend = found?.canSend ?? false;
      state.authFailed = found === null;
      socket.save();
      return true;
    }
    case 'NICK':
      return registerNick(socket, services, (params[0] ?? '').toLowerCase());
    case 'PING':
      socket.sendIrc([renderPong(params[0] ?? 'tmi.twitch.tv')]);
      return true;
    case 'PONG':
      return true;
    case 'QUIT':
      socket.close(1000, 'quit');
      return false;
    case 'JOIN':
      if (state.nick !== null) await joinChannels(socket, services, params[0] ?? '');
      return true;
    case 'PART':
      for (const name of (params[0] ?? '').split(',').slice(0, MAX_IRC_CHANNELS))
        await partChannel(socket, services, name.slice(1).toLowerCase());
      return true;
    case 'PRIVMSG':
      await sendPrivmsg(socket, services, (params[0] ?? '').slice(1).toLowerCase(), params[1] ?? '');
      return true;
    default:
      socket.sendIrc([renderUnknownCommand(state.nick ?? '*', command)]);
      return true;
  }
}

async function registerNick(socket: SocketHandle, services: ShardServices, nick: string): Promise<boolean> {
  const { state } = socket;
  if (state.nick !== null) return true;
  const anonymous = ANONYMOUS_NICK.test(nick);
  const user = state.user;
  // Twitch refuses a NICK that is not the token's login, and a non-justinfan NICK without a token.
  if (state.authFailed || (!user && !anonymous) || (user && user.login.toLowerCase() !== nick)) {
    socket.sendIrc([renderLoginFailed()]);
    socket.close(1000, 'login authentication failed');
    return false;
  }
  // A signed-in socket counts against its user's seats, no longer its address's anonymous ones.
  if (user && !anonymous && !(await services.signIn(socket, user.userId))) {
    socket.sendIrc([renderNotice('*', 'msg_ratelimit', 'Too many chat connections for this user.')]);
    socket.close(CLOSE_POLICY_VIOLATION, 'too many connections for this user');
    return false;
  }
  state.nick = nick;
  if (anonymous) {
    state.user = null;
    state.tokenHash = null;
  }
  socket.save();
  const lines = renderWelcome(nick);
  if (user && !anonymous) {
    lines.push(
      renderGlobalUserState({ id: user.userId, name: nick, display_name: user.login, color: '', badges: [] }),
    );
  }
  socket.sendIrc(lines);
  return true;
}

/**
 * "JOIN #a,#b,...": each target takes a join token before its lookup; targets past the budget are
 * refused with one NOTICE, unread, so a 16 KiB JOIN list costs at most the budget in lookups.
 */
async function joinChannels(socket: SocketHandle, services: ShardServices, list: string): Promise<void> {
  let refused = 0;
  for (const target of list.split(',')) {
    if (!target.startsWith('#') || target.length < 2) continue;
    const name = target.slice(1).toLowerCase();
    if (socket.state.channels.some((c) => c.name === name)) continue;
    if (socket.state.channels.length >= MAX_IRC_CHANNELS) {
      socket.sendIrc([
        renderNotice(formatChannel(name), 'msg_join_limit', 'You have joined too many channels.'),
      ]);
      return;
    }
    if (!socket.budget.joins.take(1, Date.now())) {
      refused++;
      continue;
    }
    await joinChannel(socket, services, name);
  }
  if (refused > 0) {
    socket.sendIrc([
      renderNotice(
        '*',
        'msg_ratelimit',
        `Too many JOINs: ${refused} channels were not joined. Try again later.`,
      ),
    ]);
  }
}

async function joinChannel(socket: SocketHandle, services: ShardServices, name: string): Promise<void> {
  const { state } = socket;
  // The channel is looked up before its room is touched: an unknown name never creates an object.
  const channel = await services.findChannelByName(name);
  const joined = channel
    ? await services.room(channel.id).join(state.shard, state.user, state.visitorId)
    : null;
  if (!channel || !joined) {
    socket.sendIrc([
      renderNotice(
        formatChannel(name),
        'msg_channel_suspended',
        'This channel does not exist or has been suspended.',
      ),
    ]);
    return;
  }
  state.channels.push({ id: channel.id, name: channel.name.toLowerCase() });
  socket.save();
  services.chatRate.learn(channel.id, joined.user, Date.now());
  const nick = state.nick ?? name;
  const members = state.caps.includes('twitch.tv/membership') ? joined.members : [];
  socket.sendIrc([
    ...renderJoin(nick, channel.name, members),
    renderUserState(channel.name, joined.user),
    renderRoomState(channel.name, channel.id, joined.roomState),
  ]);
  await services.ensureReportAlarm();
}

async function partChannel(socket: SocketHandle, services: ShardServices, name: string): Promise<void> {
  const { state } = socket;
  const channel = state.channels.find((c) => c.name === name);
  if (!channel) return;
  state.channels = state.channels.filter((c) => c !== channel);
  socket.save();
  socket.sendIrc([renderPart(state.nick ?? name, channel.name)]);
  await services.room(channel.id).leave(state.shard, state.user?.userId ?? null);
}

async function sendPrivmsg(
  socket: SocketHandle,
  services: ShardServices,
  name: string,
  text: string,
): Promise<void> {
  const { state } = socket;
  const channel = state.channels.find((c) => c.name === name);
  const target = formatChannel(name);
  if (!channel) {
    socket.sendIrc([renderNotice(target, 'msg_room_not_found', 'You are not in that channel.')]);
    return;
  }
  if (!state.user) return; // Twitch drops anonymous (justinfan) PRIVMSGs silently.
  if (!state.canSend) {
    // An OAuth token without chat:edit reads chat only (https://dev.twitch.tv/docs/authentication/scopes/#chat-and-pubsub-scopes).
    socket.sendIrc([renderNotice(target, 'no_permission', CHAT_EDIT_REQUIRED)]);
    return;
  }
  // Over the user's chat rate, the message stops here: the room never hears of it.
  switch (services.chatRate.take(channel.id, state.user.userId, socket.budget, Date.now())) {
    case 'send':
      break;
    case 'notify':
      socket.sendIrc([renderNotice(target, 'msg_ratelimit', CHAT_RATE_NOTICE)]);
      return;
    case 'drop':
      return;
    case 'close':
      socket.close(CLOSE_POLICY_VIOLATION, 'chat flood');
      return;
  }
  // "/me" arrives as a CTCP ACTION; chat stores the text.
  const result = await services.room(channel.id).submit(state.user, unwrapCtcpAction(text));
  switch (result.kind) {
    case 'accepted':
      services.chatRate.learn(channel.id, result.user, Date.now());
      // Twitch answers a PRIVMSG with USERSTATE and does not echo the message back.
      socket.sendIrc([renderUserState(channel.name, result.user)]);
      return;
    case 'notice':
      socket.sendIrc([renderNotice(target, result.code, result.message)]);
      return;
    case 'error':
      socket.sendIrc([renderNotice(target, mapErrorToMsgId(result.code), result.message)]);
      return;
  }
}

const CHAT_EDIT_REQUIRED = 'This token can read chat only: sending needs the chat:edit scope.';

/**
 * The shard gives up its sockets: an IRC client gets Twitch's RECONNECT and reconnects at once;
 * a JSON client is closed with 1012 (RFC 6455 §7.4.1 "service restart") and retries.
 */
export function moveSocket(socket: SocketHandle): void {
  if (socket.state.protocol === 'irc') socket.sendIrc([renderReconnect()]);
  socket.close(CLOSE_SERVICE_RESTART, 'reconnect');
}

/** CTCP wraps "/me text" as \x01ACTION text\x01. */
const CTCP_DELIMITER = String.fromCharCode(1);
function unwrapCtcpAction(text: string): string {
  const prefix = `${CTCP_DELIMITER}ACTION `;
  return text.startsWith(prefix) && text.endsWith(CTCP_DELIMITER) ? text.slice(prefix.length, -1) : text;
}
