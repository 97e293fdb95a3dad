// Who is behind one socket of a shard, kept in the socket's attachment so a shard woken from
// hibernation still knows it (zod-parsed on the way back), and the upgrade the chat Worker hands
// over. Also the narrow interfaces the two protocol sessions (json-session.ts, irc-session.ts) work
// through, so neither needs the shard object itself.
import { z } from 'zod';
import type { ChatMessage, RoomState, ServerFrame } from '../../protocol/chat.ts';
import type { SocketSession } from '../chat/directory.ts';
import { TWITCH_CAPABILITIES } from '../chat/irc.ts';
import type { ChannelInfo, ChatSession, JoinResult, SubmitResult } from '../chat/types.ts';
import type { ResubShareReply } from '../chat-room/resub-share.ts';
import type { ChatMessageRate, SocketBudget } from './flood-control.ts';

/** The upgrade handed over by the chat Worker, which has already authenticated the token. */
export const UpgradeHeaders = z.object({
  'x-chat-shard': z.string().min(1),
  'x-chat-protocol': z.enum(['json', 'irc']),
  'x-chat-channel-id': z.string().optional(),
  'x-chat-user-id': z.string().optional(),
  'x-chat-user-login': z.string().optional(),
  /** SHA-256 of the token the Worker authenticated (never the token): re-checked every sweep. */
  'x-chat-token-hash': z.string().optional(),
  'x-chat-subprotocol': z.string().optional(),
  /** The seat the Worker took for the socket (seats.ts). */
  'x-chat-lease-key': z.string().optional(),
  'x-chat-lease-id': z.string().optional(),
});

const JoinedChannel = z.object({ id: z.string(), name: z.string() });
const Lease = z.object({ key: z.string(), id: z.string(), renewedAt: z.number() });
export type Lease = z.infer<typeof Lease>;

export const SocketAttachment = z.object({
  shard: z.string(),
  protocol: z.enum(['json', 'irc']),
  user: z.object({ userId: z.string(), login: z.string() }).nullable(),
  /**
   * The hash of the token `user` signed in with (never the token): the shard's sweep closes the
   * socket once no unexpired session has it (log-out-everywhere, password change, expiry).
   */
  tokenHash: z.string().nullable().default(null),
  /** Counts an anonymous viewer once in the unique-viewer sketch. */
  visitorId: z.string(),
  channels: z.array(JoinedChannel),
  /** IRC: the nick after a successful NICK; null before registration. */
  nick: z.string().nullable(),
  /** IRC: set when PASS carried a token that resolves to nobody. */
  authFailed: z.boolean(),
  /** Token lookups this socket caused (flood-control.ts). */
  credentialAttempts: z.number().int().default(0),
  /** The socket's seat (seats.ts): swapped on sign-in, released on close. */
  lease: Lease.nullable().default(null),
  /** IRC: capabilities acknowledged by CAP REQ (irc-session.ts). */
  caps: z.array(z.enum(TWITCH_CAPABILITIES)).max(TWITCH_CAPABILITIES.length).default([]),
  /** IRC: the token may send (chat:edit); a token with chat:read only reads. */
  canSend: z.boolean().default(true),
});
export type SocketAttachment = z.infer<typeof SocketAttachment>;

/** What a session may ask of the room of one channel (a subset of ChatRoom's RPC). */
export interface RoomClient {
  join(shard: string, session: ChatSession | null, visitorId: string): Promise<JoinResult | null>;
  /** `userId` when the socket was signed in: the room relays its PART (twitch.tv/membership). */
  leave(shard: string, userId: string | null): Promise<void>;
  submit(session: ChatSession | null, content: string): Promise<SubmitResult>;
  describeUser(userId: string): Promise<ChatMessage['user'] | null>;
  getRoomState(): Promise<RoomState | null>;
  shareResub(userId: string, message: string, shareStreak: boolean): Promise<ResubShareReply>;
}

/** One socket as a session sees it. */
export interface SocketHandle {
  readonly state: SocketAttachment;
  readonly budget: SocketBudget;
  /** Persists `state` in the socket's attachment. */
  save(): void;
  isOpen(): boolean;
  sendJson(frame: ServerFrame): void;
  /** Sends text already serialized as a server frame. */
  sendText(text: string): void;
  sendIrc(lines: readonly string[]): void;
  close(code: number, reason: string): void;
}

/** What a session may use of the shard and the platform. */
export interface ShardServices {
  room(channelId: string): RoomClient;
  findSession(token: string): Promise<SocketSession | null>;
  /** IRC's `PASS oauth:`: an OAuth user access token (chat/irc-auth.ts), never a session token. */
  findIrcLogin(token: string): Promise<SocketSession | null>;
  findChannelByName(name: string): Promise<ChannelInfo | null>;
  /**
   * The socket signed in as `userId`: its anonymous seat is given back and a seat of the user's
   * taken (seats.ts). False when the user holds every seat already; the session closes the socket.
   */
  signIn(socket: SocketHandle, userId: string): Promise<boolean>;
  ensureReportAlarm(): Promise<void>;
  /** The per-user chat rate, taken before a message costs the room anything (flood-control.ts). */
  readonly chatRate: ChatMessageRate;
}

/** Twitch's msg_ratelimit text: the message was dropped at the shard. */
export const CHAT_RATE_NOTICE = 'Your message was not sent because you are sending messages too quickly.';

export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_INTERNAL_ERROR = 1011;

/**
 * Counts one token lookup; false (and the socket closed with 1008) past MAX_CREDENTIAL_ATTEMPTS,
 * so a socket cannot turn itself into a password-guessing or D1-load engine.
 */
export function spendCredentialAttempt(socket: SocketHandle, max: number): boolean {
  if (socket.state.credentialAttempts >= max) {
    socket.close(CLOSE_POLICY_VIOLATION, 'too many credential attempts');
    return false;
  }
  socket.state.credentialAttempts++;
  socket.save();
  return true;
}
