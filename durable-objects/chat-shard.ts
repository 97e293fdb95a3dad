// A chat shard holds viewer sockets with the hibernation API and nothing else of consequence: the
// ChatRoom decides, the shard speaks the wire protocols. Per-socket state lives in the socket's
// attachment, so a shard evicted while idle wakes with every socket and who is behind it.
//
// Naming: `${channelId}:${n}` shards hold JSON sockets of one channel (the room fills them up to
// SOCKETS_PER_SHARD). IRC connections may JOIN many channels, so they go to a small pool of
// `irc:${n}` shards and each socket's attachment lists the channels it joined; a room fans out to
// every shard that holds one of its viewers, whichever kind. A shard per IRC connection would cost
// one RPC per connection per batch; pooling keeps that to one per shard, like the JSON side.
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import {
  type BatchableFrame,
  ChatMessageFrame,
  ClientFrame,
  type ErrorFrame,
  HISTORY_LENGTH,
  type ServerFrame,
  type WelcomeFrame,
} from '../protocol/chat.ts';
import { BatchPayloads } from './chat/batch-payloads.ts';
import { findChannelByName, findSessionByToken } from './chat/directory.ts';
import {
  formatChannel,
  IRC_HOST,
  MAX_IRC_LINE_BYTES,
  mapErrorToMsgId,
  parseIrcLine,
  renderFanoutEvent,
  renderGlobalUserState,
  renderJoin,
  renderNotice,
  renderPart,
  renderRoomState,
  renderUserState,
  renderWelcome,
} from './chat/irc.ts';
import type { FanoutBatch, FanoutEvent, SubmitResult } from './chat/types.ts';

/** Flood control: more frames than this in one second closes the socket (1008, policy violation). */
export const MAX_FRAMES_PER_SECOND = 20;
const FLOOD_BURST = 2 * MAX_FRAMES_PER_SECOND;
/** JSON frames are small objects; anything bigger is abuse. IRC lines are capped in irc.ts. */
export const MAX_JSON_FRAME_BYTES = 2 * 1024;
/** Seed: "Each WS server reports per-stream count every 10 seconds." */
const REPORT_INTERVAL_MS = 10_000;
const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_INTERNAL_ERROR = 1011;
/** How many channels one IRC connection may join (Twitch allows a few hundred; we need fewer). */
const MAX_IRC_CHANNELS = 100;

/** The upgrade handed over by the chat Worker, which has already authenticated the token. */
const UpgradeHeaders = z.object({
  'x-chat-shard': z.string().min(1),
  'x-chat-protocol': z.enum(['json', 'irc']),
  'x-chat-channel-id': z.string().optional(),
  'x-chat-user-id': z.string().optional(),
  'x-chat-user-login': z.string().optional(),
  'x-chat-subprotocol': z.string().optional(),
});

const JoinedChannel = z.object({ id: z.string(), name: z.string() });
const SocketAttachment = z.object({
  shard: z.string(),
  protocol: z.enum(['json', 'irc']),
  user: z.object({ userId: z.string(), login: z.string() }).nullable(),
  /** Counts an anonymous viewer once in the unique-viewer sketch. */
  visitorId: z.string(),
  channels: z.array(JoinedChannel),
  /** IRC: the nick after a successful NICK; null before registration. */
  nick: z.string().nullable(),
  /** IRC: set when PASS carried a token that resolves to nobody. */
  authFailed: z.boolean(),
});
type SocketAttachment = z.infer<typeof SocketAttachment>;

interface FloodBucket {
  tokens: number;
  refilledAt: number;
}

export class ChatShard extends DurableObject<Env> {
  /** Parsed attachments, so a batch does not deserialize every socket's state again. */
  private readonly attachments = new WeakMap<WebSocket, SocketAttachment>();
  /** Flood windows are in memory: a hibernating shard is by definition not being flooded. */
  private readonly floods = new WeakMap<WebSocket, FloodBucket>();
  private readonly inFlight = new WeakMap<WebSocket, Promise<void>>();

  override async fetch(request: Request): Promise<Response> {
    const headers = UpgradeHeaders.safeParse(Object.fromEntries(request.headers));
    if (!headers.success || request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('chat shards take WebSocket upgrades from the chat Worker', { status: 400 });
    }
    const h = headers.data;
    const user =
      h['x-chat-user-id'] && h['x-chat-user-login']
        ? { userId: h['x-chat-user-id'], login: h['x-chat-user-login'] }
        : null;
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const attachment: SocketAttachment = {
      shard: h['x-chat-shard'],
      protocol: h['x-chat-protocol'],
      user,
      visitorId: crypto.randomUUID(),
      channels: [],
      nick: null,
      authFailed: false,
    };
    this.writeAttachment(server, attachment);
    const channelId = h['x-chat-channel-id'];
    if (attachment.protocol === 'json' && channelId) {
      try {
        await this.joinJsonSocket(server, attachment, channelId);
      } catch (error) {
        this.logFailure('fetch', error);
        server.close(CLOSE_INTERNAL_ERROR, 'chat setup failed');
      }
    }
    await this.ensureReportAlarm();
    const responseHeaders = new Headers();
    if (h['x-chat-subprotocol']) responseHeaders.set('Sec-WebSocket-Protocol', h['x-chat-subprotocol']);
    return new Response(null, { status: 101, webSocket: client, headers: responseHeaders });
  }

  private async joinJsonSocket(
    ws: WebSocket,
    attachment: SocketAttachment,
    channelId: string,
  ): Promise<void> {
    const joined = await this.getRoom(channelId).join(
      channelId,
      attachment.shard,
      attachment.user,
      attachment.visitorId,
    );
    if (!joined) {
      ws.close(CLOSE_POLICY_VIOLATION, 'unknown channel');
      return;
    }
    attachment.channels = [{ id: joined.channel.id, name: joined.channel.name }];
    this.writeAttachment(ws, attachment);
    const welcome: WelcomeFrame = { type: 'welcome', user: joined.user, room_state: joined.roomState };
    this.sendJson(ws, welcome);
    // RPC turns the emote position tuples into plain arrays; parsing restores the frame's shape.
    const history = z.array(ChatMessageFrame).parse(joined.history.slice(-HISTORY_LENGTH));
    this.sendJson(ws, { type: 'history', messages: history });
  }

  private getRoom(channelId: string) {
    return this.env.CHAT_ROOM.getByName(channelId);
  }

  private readAttachment(ws: WebSocket): SocketAttachment | null {
    const cached = this.attachments.get(ws);
    if (cached) return cached;
    const parsed = SocketAttachment.safeParse(ws.deserializeAttachment());
    if (!parsed.success) return null;
    this.attachments.set(ws, parsed.data);
    return parsed.data;
  }

  private writeAttachment(ws: WebSocket, attachment: SocketAttachment): void {
    ws.serializeAttachment(attachment);
    this.attachments.set(ws, attachment);
  }

  private sendJson(ws: WebSocket, frame: ServerFrame): void {
    ws.send(JSON.stringify(frame));
  }

  private sendIrc(ws: WebSocket, lines: readonly string[]): void {
    if (lines.length > 0) ws.send(lines.join('\r\n'));
  }

  private logFailure(handler: string, error: unknown): void {
    console.error(
      JSON.stringify({
        level: 'error',
        msg: 'chat shard handler failed',
        class: 'ChatShard',
        instance: this.ctx.id.toString(),
        handler,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
    );
  }

  /**
   * A token bucket per socket: MAX_FRAMES_PER_SECOND sustained, bursts up to twice that, so a
   * client whose frames arrive bunched by the network is not mistaken for a flood. True when the
   * socket must be closed.
   */
  private isFlooding(ws: WebSocket, now: number): boolean {
    const bucket = this.floods.get(ws) ?? { tokens: FLOOD_BURST, refilledAt: now };
    bucket.tokens = Math.min(
      FLOOD_BURST,
      bucket.tokens + ((now - bucket.refilledAt) / 1000) * MAX_FRAMES_PER_SECOND,
    );
    bucket.refilledAt = now;
    bucket.tokens -= 1;
    this.floods.set(ws, bucket);
    return bucket.tokens < 0;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = this.readAttachment(ws);
    if (!attachment) {
      ws.close(CLOSE_INTERNAL_ERROR, 'lost socket state');
      return;
    }
    // Size and flood limits apply on arrival, before any work is queued for the frame.
    const size =
      typeof message === 'string' ? new TextEncoder().encode(message).byteLength : message.byteLength;
    const maxBytes = attachment.protocol === 'json' ? MAX_JSON_FRAME_BYTES : MAX_IRC_LINE_BYTES;
    if (size > maxBytes) {
      ws.close(CLOSE_POLICY_VIOLATION, 'frame too large');
      return;
    }
    if (this.isFlooding(ws, Date.now())) {
      ws.close(CLOSE_POLICY_VIOLATION, 'too many frames');
      return;
    }
    // Frames of one socket are handled one after another: the room must see a user's messages in
    // the order they were typed, though each waits on an RPC.
    const previous = this.inFlight.get(ws) ?? Promise.resolve();
    const current = previous.then(() => this.handleFrame(ws, attachment, message));
    this.inFlight.set(ws, current);
    await current;
  }

  private async handleFrame(
    ws: WebSocket,
    attachment: SocketAttachment,
    message: string | ArrayBuffer,
  ): Promise<void> {
    try {
      if (typeof message !== 'string') {
        if (attachment.protocol === 'json') this.sendError(ws, 'invalid_frame', 'Frames are JSON text.');
        return;
      }
      if (attachment.protocol === 'json') await this.handleJsonFrame(ws, attachment, message);
      else await this.handleIrcFrame(ws, attachment, message);
    } catch (error) {
      // Nothing a socket sends may take the shard down: log it, keep the socket.
      this.logFailure('webSocketMessage', error);
    }
  }

  private sendError(ws: WebSocket, code: ErrorFrame['code'], message: string, retryAfterMs?: number): void {
    const frame: ErrorFrame =
      retryAfterMs === undefined
        ? { type: 'error', code, message }
        : { type: 'error', code, message, retry_after_ms: retryAfterMs };
    this.sendJson(ws, frame);
  }

  // ---- JSON protocol ----

  private async handleJsonFrame(ws: WebSocket, attachment: SocketAttachment, text: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.sendError(ws, 'invalid_frame', 'Frames are JSON objects.');
      return;
    }
    const parsed = ClientFrame.safeParse(json);
    if (!parsed.success) {
      this.sendError(ws, 'invalid_frame', 'Unknown or malformed frame.');
      return;
    }
    const frame = parsed.data;
    const channel = attachment.channels[0];
    switch (frame.type) {
      case 'ping':
        this.sendJson(ws, { type: 'pong' });
        return;
      case 'auth': {
        const session = await findSessionByToken(this.env.DB, frame.token);
        if (!session) {
          this.sendError(ws, 'unauthorized', 'Invalid or expired token.');
          return;
        }
        attachment.user = session;
        this.writeAttachment(ws, attachment);
        if (channel) {
          const room = this.getRoom(channel.id);
          const user = await room.describeUser(channel.id, session.userId);
          const state = await room.getSettings(channel.id);
          if (state) {
            const { banned_words: _bannedWords, ...roomState } = state;
            this.sendJson(ws, { type: 'welcome', user, room_state: roomState });
          }
        }
        return;
      }
      case 'chat_message': {
        if (!channel || frame.channel_id !== channel.id) {
          this.sendError(ws, 'invalid_frame', 'This socket is joined to another channel.');
          return;
        }
        const result = await this.getRoom(channel.id).submit(channel.id, attachment.user, frame.content);
        this.answerJson(ws, result);
        return;
      }
    }
  }

  private answerJson(ws: WebSocket, result: SubmitResult): void {
    switch (result.kind) {
      case 'accepted':
        // The message itself comes back in the next batch, like everyone else's.
        return;
      case 'notice':
        this.sendJson(ws, { type: 'notice', code: result.code, message: result.message });
        return;
      case 'error':
        this.sendError(ws, result.code, result.message, result.retryAfterMs);
        return;
    }
  }

  // ---- IRC protocol ----

  private async handleIrcFrame(ws: WebSocket, attachment: SocketAttachment, text: string): Promise<void> {
    for (const line of text.split(/\r?\n/)) {
      if (line.length === 0) continue;
      const message = parseIrcLine(line);
      if (!message) continue;
      const keepGoing = await this.handleIrcLine(ws, attachment, message.command, message.params);
      if (!keepGoing) return;
    }
  }

  /** Returns false once the socket is closed. */
  private async handleIrcLine(
    ws: WebSocket,
    attachment: SocketAttachment,
    command: string,
    params: string[],
  ): Promise<boolean> {
    const nick = attachment.nick ?? '*';
    switch (command) {
      case 'CAP': {
        const sub = params[0]?.toUpperCase();
        if (sub === 'REQ') this.sendIrc(ws, [`:${IRC_HOST} CAP * ACK :${params[1] ?? ''}`]);
        else if (sub === 'LS')
          this.sendIrc(ws, [`:${IRC_HOST} CAP * LS :twitch.tv/tags twitch.tv/commands twitch.tv/membership`]);
        return true;
      }
      case 'PASS': {
        const pass = params[0] ?? '';
        // tmi.js sends "PASS SCHMOOPIIE" for anonymous logins; only "oauth:" passes carry a token.
        if (pass.toLowerCase().startsWith('oauth:')) {
          const session = await findSessionByToken(this.env.DB, pass.slice('oauth:'.length));
          attachment.user = session;
          attachment.authFailed = session === null;
          this.writeAttachment(ws, attachment);
        }
        return true;
      }
      case 'NICK':
        return this.registerIrcNick(ws, attachment, (params[0] ?? '').toLowerCase());
      case 'PING':
        // tmi.js expects the prefix-less form Twitch sends.
        this.sendIrc(ws, [`PONG :${params[0] ?? IRC_HOST}`]);
        return true;
      case 'PONG':
        return true;
      case 'QUIT':
        ws.close(1000, 'quit');
        return false;
      case 'JOIN':
        if (!attachment.nick) return true;
        for (const name of (params[0] ?? '').split(',')) {
          if (name.startsWith('#')) await this.joinIrcChannel(ws, attachment, name.slice(1).toLowerCase());
        }
        return true;
      case 'PART':
        for (const name of (params[0] ?? '').split(','))
          await this.partIrcChannel(ws, attachment, name.slice(1).toLowerCase());
        return true;
      case 'PRIVMSG':
        await this.sendIrcPrivmsg(ws, attachment, (params[0] ?? '').slice(1).toLowerCase(), params[1] ?? '');
        return true;
      default:
        this.sendIrc(ws, [`:${IRC_HOST} 421 ${nick} ${command} :Unknown command`]);
        return true;
    }
  }

  private registerIrcNick(ws: WebSocket, attachment: SocketAttachment, nick: string): boolean {
    const anonymous = /^justinfan\d+$/.test(nick);
    const user = attachment.user;
    // Twitch refuses a NICK that is not the token's login, and a non-justinfan NICK without a token.
    if (attachment.authFailed || (!user && !anonymous) || (user && user.login.toLowerCase() !== nick)) {
      this.sendIrc(ws, [`:${IRC_HOST} NOTICE * :Login authentication failed`]);
      ws.close(1000, 'login authentication failed');
      return false;
    }
    attachment.nick = nick;
    if (anonymous) attachment.user = null;
    this.writeAttachment(ws, attachment);
    const lines = renderWelcome(nick);
    if (user) lines.push(renderGlobalUserState(null));
    this.sendIrc(ws, lines);
    return true;
  }

  private async joinIrcChannel(ws: WebSocket, attachment: SocketAttachment, name: string): Promise<void> {
    if (attachment.channels.some((c) => c.name === name)) return;
    if (attachment.channels.length >= MAX_IRC_CHANNELS) {
      this.sendIrc(ws, [
        renderNotice(formatChannel(name), 'msg_join_limit', 'You have joined too many channels.'),
      ]);
      return;
    }
    const channel = await findChannelByName(this.env.DB, name);
    const joined = channel
      ? await this.getRoom(channel.id).join(
          channel.id,
          attachment.shard,
          attachment.user,
          attachment.visitorId,
        )
      : null;
    if (!channel || !joined) {
      this.sendIrc(ws, [
        renderNotice(
          formatChannel(name),
          'msg_channel_suspended',
          'This channel does not exist or has been suspended.',
        ),
      ]);
      return;
    }
    attachment.channels.push({ id: channel.id, name: channel.name.toLowerCase() });
    this.writeAttachment(ws, attachment);
    const nick = attachment.nick ?? name;
    this.sendIrc(ws, [
      ...renderJoin(nick, channel.name),
      renderUserState(channel.name, joined.user),
      renderRoomState(channel.name, channel.id, joined.roomState),
    ]);
    await this.ensureReportAlarm();
  }

  private async partIrcChannel(ws: WebSocket, attachment: SocketAttachment, name: string): Promise<void> {
    const channel = attachment.channels.find((c) => c.name === name);
    if (!channel) return;
    attachment.channels = attachment.channels.filter((c) => c !== channel);
    this.writeAttachment(ws, attachment);
    this.sendIrc(ws, [renderPart(attachment.nick ?? name, channel.name)]);
    await this.getRoom(channel.id).leave(channel.id, attachment.shard);
  }

  private async sendIrcPrivmsg(
    ws: WebSocket,
    attachment: SocketAttachment,
    name: string,
    text: string,
  ): Promise<void> {
    const channel = attachment.channels.find((c) => c.name === name);
    const target = formatChannel(name);
    if (!channel) {
      this.sendIrc(ws, [renderNotice(target, 'msg_room_not_found', 'You are not in that channel.')]);
      return;
    }
    if (!attachment.user) return; // Twitch drops anonymous (justinfan) PRIVMSGs silently.
    // "/me" arrives as a CTCP ACTION; chat stores the text.
    const content = unwrapCtcpAction(text);
    const result = await this.getRoom(channel.id).submit(channel.id, attachment.user, content);
    switch (result.kind) {
      case 'accepted':
        // Twitch answers a PRIVMSG with USERSTATE and does not echo the message back.
        this.sendIrc(ws, [renderUserState(channel.name, result.user)]);
        return;
      case 'notice':
        this.sendIrc(ws, [renderNotice(target, result.code, result.message)]);
        return;
      case 'error':
        this.sendIrc(ws, [renderNotice(target, mapErrorToMsgId(result.code), result.message)]);
        return;
    }
  }

  // ---- fan-out from the room ----

  /**
   * A batch from the room: every socket of that channel gets it as one WebSocket message, sampled
   * when chat runs hot. Payloads are rendered once per batch (see BatchPayloads), so the loop over
   * sockets does nothing but pick a string and send it.
   */
  async deliver(batch: FanoutBatch): Promise<void> {
    const now = Date.now();
    const channelId = batch.channel.id;
    const channelName = batch.channel.name.toLowerCase();
    const payloads = new BatchPayloads(batch, {
      renderJson: (event) => JSON.stringify(toJsonFrame(event, channelId)),
      renderIrc: (event) => renderFanoutEvent(event, channelName, channelId, now),
    });
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const attachment = this.readAttachment(ws);
      if (!attachment?.channels.some((c) => c.id === channelId)) continue;
      const payload = payloads.payloadFor({
        protocol: attachment.protocol,
        userId: attachment.user?.userId ?? null,
      });
      if (payload === null) continue;
      try {
        ws.send(payload);
      } catch (error) {
        // A socket closing mid-batch must not cost the others their messages.
        this.logFailure('deliver', error);
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const attachment = this.readAttachment(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'bye');
    } catch {
      // Already closed: nothing left to answer.
    }
    if (!attachment) return;
    await Promise.all(attachment.channels.map((c) => this.getRoom(c.id).leave(c.id, attachment.shard)));
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.logFailure('webSocketError', error);
    await this.webSocketClose(ws, 1011);
  }

  // ---- viewer census ----

  private async ensureReportAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(Date.now() + REPORT_INTERVAL_MS);
  }

  /** Every ~10 s while it holds sockets: tell each room how many of its viewers are here. */
  override async alarm(): Promise<void> {
    const counts = new Map<string, { shard: string; count: number }>();
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = this.readAttachment(ws);
      if (!attachment) continue;
      for (const channel of attachment.channels) {
        const entry = counts.get(channel.id) ?? { shard: attachment.shard, count: 0 };
        entry.count++;
        counts.set(channel.id, entry);
      }
    }
    await Promise.all(
      [...counts].map(async ([channelId, { shard, count }]) => {
        try {
          await this.getRoom(channelId).reportViewers(channelId, shard, count);
        } catch (error) {
          this.logFailure('alarm', error);
        }
      }),
    );
    if (this.ctx.getWebSockets().length > 0) await this.ctx.storage.setAlarm(Date.now() + REPORT_INTERVAL_MS);
  }
}

function toJsonFrame(event: FanoutEvent, channelId: string): BatchableFrame {
  switch (event.kind) {
    case 'message':
      return event.message;
    case 'delete':
      return { type: 'delete_message', id: event.messageId };
    case 'clear_user':
      return { type: 'clear_user', user_id: event.userId, duration_seconds: event.durationSeconds };
    case 'clear_chat':
      return { type: 'clear_chat' };
    case 'room_state':
      return { type: 'room_state', ...event.state };
    case 'notice':
      return { type: 'notice', code: event.code, message: event.message };
    case 'raid_out':
      return { type: 'raid', from_channel: channelId, to_channel: event.to, viewers: event.viewers };
    case 'raid_in':
      return {
        type: 'notice',
        code: 'raid',
        message: `${event.viewers} raiders from ${event.from.displayName} have joined!`,
      };
    case 'viewer_count':
      return { type: 'viewer_count', count: event.count };
  }
}

/** CTCP wraps "/me text" as \x01ACTION text\x01. */
const CTCP_DELIMITER = String.fromCharCode(1);
function unwrapCtcpAction(text: string): string {
  const prefix = `${CTCP_DELIMITER}ACTION `;
  return text.startsWith(prefix) && text.endsWith(CTCP_DELIMITER) ? text.slice(prefix.length, -1) : text;
}
