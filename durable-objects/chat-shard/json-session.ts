// The JSON chat protocol on one socket (protocol/chat.ts): joining the socket's channel, and each
// frame the client sends, parsed into the ClientFrame union and handled by an exhaustive switch.
// Anonymous sockets read only: their chat_message frames are answered here, without an RPC.
import { ClientFrame, type ErrorFrame, type WelcomeFrame } from '../../protocol/chat.ts';
import type { SubmitResult } from '../chat/types.ts';
import type { ResubShareReply } from '../chat-room/resub-share.ts';
import { MAX_CREDENTIAL_ATTEMPTS } from './flood-control.ts';
import {
  CHAT_RATE_NOTICE,
  CLOSE_POLICY_VIOLATION,
  type ShardServices,
  type SocketHandle,
  spendCredentialAttempt,
} from './socket-state.ts';

function sendError(
  socket: SocketHandle,
  code: ErrorFrame['code'],
  message: string,
  retryAfterMs?: number,
): void {
  socket.sendJson(
    retryAfterMs === undefined
      ? { type: 'error', code, message }
      : { type: 'error', code, message, retry_after_ms: retryAfterMs },
  );
}

/** Joins a new JSON socket to its channel and greets it with welcome and history. */
export async function joinJsonSocket(
  socket: SocketHandle,
  services: ShardServices,
  channelId: string,
): Promise<void> {
  const { state } = socket;
  const joined = await services.room(channelId).join(state.shard, state.user, state.visitorId);
  if (!joined) {
    socket.close(CLOSE_POLICY_VIOLATION, 'unknown channel');
    return;
  }
  state.channels = [{ id: joined.channel.id, name: joined.channel.name }];
  socket.save();
  services.chatRate.learn(joined.channel.id, joined.user, Date.now());
  const welcome: WelcomeFrame = { type: 'welcome', user: joined.user, room_state: joined.roomState };
  socket.sendJson(welcome);
  // The room's validated frames, forwarded as text: equal to JSON.stringify of the history frame.
  socket.sendText(`{"type":"history","messages":${joined.historyJson}}`);
}

export async function handleJsonFrame(
  socket: SocketHandle,
  services: ShardServices,
  text: string,
): Promise<void> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    sendError(socket, 'invalid_frame', 'Frames are JSON objects.');
    return;
  }
  const parsed = ClientFrame.safeParse(json);
  if (!parsed.success) {
    sendError(socket, 'invalid_frame', 'Unknown or malformed frame.');
    return;
  }
  const frame = parsed.data;
  const { state } = socket;
  const channel = state.channels[0];
  switch (frame.type) {
    case 'ping':
      socket.sendJson({ type: 'pong' });
      return;
    case 'auth': {
      if (!spendCredentialAttempt(socket, MAX_CREDENTIAL_ATTEMPTS)) return;
      const found = await services.findSession(frame.token);
      if (!found) {
        sendError(socket, 'unauthorized', 'Invalid or expired token.');
        return;
      }
      const { session } = found;
      if (!(await services.signIn(socket, session.userId))) {
        sendError(socket, 'rate_limited', 'Too many chat connections for this user.');
        socket.close(CLOSE_POLICY_VIOLATION, 'too many connections for this user');
        return;
      }
      state.user = session;
      state.tokenHash = found.tokenHash;
      socket.save();
      if (channel) {
        const room = services.room(channel.id);
        const user = await room.describeUser(session.userId);
        services.chatRate.learn(channel.id, user, Date.now());
        const roomState = await room.getRoomState();
        if (roomState) socket.sendJson({ type: 'welcome', user, room_state: roomState });
      }
      return;
    }
    case 'chat_message': {
      if (!channel || frame.channel_id !== channel.id) {
        sendError(socket, 'invalid_frame', 'This socket is joined to another channel.');
        return;
      }
      // Anonymous sockets never reach the room: no RPC, no D1, whatever they send.
      if (!state.user) {
        sendError(socket, 'unauthorized', 'Sign in to chat.');
        return;
      }
      // Over the user's chat rate, the message stops here: the room never hears of it.
      switch (services.chatRate.take(channel.id, state.user.userId, socket.budget, Date.now())) {
        case 'send':
          break;
        case 'notify':
          sendError(
            socket,
            'rate_limited',
            CHAT_RATE_NOTICE,
            services.chatRate.waitMs(channel.id, state.user.userId, Date.now()),
          );
          return;
        case 'drop':
          return;
        case 'close':
          socket.close(CLOSE_POLICY_VIOLATION, 'chat flood');
          return;
      }
      const result = await services.room(channel.id).submit(state.user, frame.content);
      if (result.kind === 'accepted') services.chatRate.learn(channel.id, result.user, Date.now());
      answer(socket, result);
      return;
    }
    case 'share_resub': {
      if (!channel || frame.channel_id !== channel.id) {
        sendError(socket, 'invalid_frame', 'This socket is joined to another channel.');
        return;
      }
      if (!state.user) {
        sendError(socket, 'unauthorized', 'Sign in to chat.');
        return;
      }
      // A share is a chat line: it spends the sender's chat rate like a message.
      if (services.chatRate.take(channel.id, state.user.userId, socket.budget, Date.now()) !== 'send') {
        sendError(
          socket,
          'rate_limited',
          CHAT_RATE_NOTICE,
          services.chatRate.waitMs(channel.id, state.user.userId, Date.now()),
        );
        return;
      }
      const reply = await services
        .room(channel.id)
        .shareResub(state.user.userId, frame.message, frame.share_streak ?? true);
      answer(socket, describeResubShareReply(reply));
      return;
    }
  }
}

/** A resub share's outcome as the answer a chat socket gets (docs/payments.md, "Sharing a resub"). */
export function describeResubShareReply(reply: ResubShareReply): SubmitResult {
  switch (reply.kind) {
    case 'shared':
      return { kind: 'notice', code: 'resub_shared', message: 'Your resub was shared in chat.' };
    case 'banned':
      return { kind: 'error', code: 'banned', message: 'You are banned or timed out in this channel.' };
    case 'not-subscriber':
      return { kind: 'error', code: 'not_subscriber', message: 'You are not subscribed to this channel.' };
    case 'no-renewal':
      return { kind: 'error', code: 'not_subscriber', message: 'There is no renewal to share yet.' };
    case 'already-shared':
      return { kind: 'error', code: 'already_shared', message: 'You already shared this resub.' };
    case 'invalid':
      return { kind: 'error', code: 'invalid_message', message: reply.message };
    case 'not-found':
      return { kind: 'error', code: 'invalid_frame', message: 'Unknown channel.' };
  }
}

function answer(socket: SocketHandle, result: SubmitResult): void {
  switch (result.kind) {
    case 'accepted':
      // The message itself comes back in the next batch, like everyone else's.
      return;
    case 'notice':
      socket.sendJson({ type: 'notice', code: result.code, message: result.message });
      return;
    case 'error':
      sendError(socket, result.code, result.message, result.retryAfterMs);
      return;
  }
}
