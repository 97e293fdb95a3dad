// A chat shard holds viewer sockets with the hibernation API and nothing else of consequence: the
// ChatRoom decides, the shard speaks the wire protocols (json-session.ts, irc-session.ts). Per-socket
// state lives in the socket's attachment (socket-state.ts), so a shard evicted while idle wakes with
// every socket and who is behind it. Every frame is bounded on arrival (flood-control.ts).
//
// Naming: `${channelId}:${n}` shards hold JSON sockets of one channel (the room fills them up to
// its per-shard size). IRC connections may JOIN many channels, so they go to a small pool of
// `irc:${n}` shards and each socket's attachment lists the channels it joined; a room fans out to
// every shard that holds one of its viewers, whichever kind. A shard per IRC connection would cost
// one RPC per connection per batch; pooling keeps that to one per shard, like the JSON side.
import { DurableObject } from 'cloudflare:workers';
import * as z from 'zod/mini';
import { log } from '../../common/log.ts';
import type { BatchableFrame, ServerFrame } from '../../protocol/chat.ts';
import { BatchPayloads } from '../chat/batch-payloads.ts';
import { findChannelByName, findSessionByToken } from '../chat/directory.ts';
import { MAX_IRC_LINE_BYTES } from '../chat/irc.ts';
import { findIrcLogin } from '../chat/irc-auth.ts';
import { renderFanoutEvent } from '../chat/irc-fanout.ts';
import {
  isShardOfChannel,
  MAX_RELAY_FORWARDS,
  RELAY_GROUP_SIZE,
  ShardFanout,
  submitRelayFor,
} from '../chat/shard-fanout.ts';
import {
  type FanoutBatch,
  type FanoutEvent,
  MAX_SUBMIT_BATCH,
  type SubmitRequest,
  type SubmitResult,
} from '../chat/types.ts';
import { metrics } from '../metrics/recorder.ts';
import { findLiveAccessTokenHashes } from '../shared/oauth-tokens.ts';
import { findLiveTokenHashes } from '../shared/sessions.ts';
import {
  ChatMessageRate,
  createBudget,
  FLOOD_CLOSE_REASONS,
  MAX_QUEUED_FRAMES,
  type SocketBudget,
  splitIrcLines,
} from './flood-control.ts';
import { handleIrcLine, moveSocket } from './irc-session.ts';
import { handleJsonFrame, joinJsonSocket } from './json-session.ts';
import { FLOOD_PENALTY, LEASE_TTL_MS, MAX_SOCKETS_PER_USER, takeSeat, userSeatKey } from './seats.ts';
import { endRevokedSession, SessionSweep } from './session-sweep.ts';
import {
  CLOSE_INTERNAL_ERROR,
  CLOSE_POLICY_VIOLATION,
  type RoomClient,
  type ShardServices,
  SocketAttachment,
  type SocketHandle,
  UpgradeHeaders,
} from './socket-state.ts';
import { SubmitBatcher } from './submit-batcher.ts';

/** JSON frames are small objects; anything bigger is abuse. IRC lines are capped in chat/irc.ts. */
export const MAX_JSON_FRAME_BYTES = 2 * 1024;
/** Seed: "Each WS server reports per-stream count every 10 seconds." */
const REPORT_INTERVAL_MS = 10_000;
const LEASE_RENEW_AFTER_MS = LEASE_TTL_MS / 2;

const encoder = new TextEncoder();

const ShardConfig = z.object({
  CHAT_RELAY_GROUP_SIZE: z.optional(z.coerce.number().check(z.int(), z.positive())),
});

export class ChatShard extends DurableObject<Env> {
  readonly #log = log.child({ class: 'ChatShard' });
  /** Parsed attachments, so a batch does not deserialize every socket's state again. */
  readonly #states = new WeakMap<WebSocket, SocketAttachment>();
  readonly #budgets = new WeakMap<WebSocket, SocketBudget>();
  readonly #sessionSweep = new SessionSweep();
  /** This shard as a relay: the batches it passes on, one delivery in flight per shard. */
  readonly #relayFanout = new ShardFanout(
    (name, batch) => this.env.CHAT_SHARD.getByName(name).deliver(batch),
    (name, error) => this.#log.error('chat_relay_delivery_failed', { shard: name, error }),
  );
  /** Shards per relay group (chat/shard-fanout.ts), as the room uses it. */
  readonly #relayGroupSize: number;
  /** This object's name (`${channelId}:${n}` or `irc:${n}`), from its sockets' attachments. */
  #name: string | null = null;
  /** Per channel with a message on its way to the room (submit-batcher.ts); dropped when idle. */
  readonly #submitters = new Map<string, SubmitBatcher>();
  readonly #services: ShardServices = {
    room: (channelId) => this.#room(channelId),
    findSession: (token) => findSessionByToken(this.env.DB, token),
    findIrcLogin: (token) => findIrcLogin(this.env.DB, token),
    findChannelByName: (name) => findChannelByName(this.env.DB, name),
    signIn: async (socket, userId) => {
      await this.#releaseLease(socket.state);
      const seat = await takeSeat(this.env.RATE_LIMITER, userSeatKey(userId), MAX_SOCKETS_PER_USER);
      socket.state.lease = seat.allowed ? { key: seat.key, id: seat.leaseId, renewedAt: Date.now() } : null;
      socket.save();
      return seat.allowed;
    },
    ensureReportAlarm: () => this.#ensureReportAlarm(),
    chatRate: new ChatMessageRate(),
  };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#relayGroupSize = ShardConfig.parse(env).CHAT_RELAY_GROUP_SIZE ?? RELAY_GROUP_SIZE;
  }

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
    metrics.add({ env: this.env, ctx: this.ctx }, 'edgestream_chat_sockets', {}, 1);
    this.#name ??= h['x-chat-shard'];
    const state: SocketAttachment = {
      shard: h['x-chat-shard'],
      protocol: h['x-chat-protocol'],
      user,
      tokenHash: user ? (h['x-chat-token-hash'] ?? null) : null,
      visitorId: crypto.randomUUID(),
      channels: [],
      nick: null,
      authFailed: false,
      credentialAttempts: 0,
      caps: [],
      canSend: true,
      lease:
        h['x-chat-lease-key'] && h['x-chat-lease-id']
          ? { key: h['x-chat-lease-key'], id: h['x-chat-lease-id'], renewedAt: Date.now() }
          : null,
    };
    const socket = this.#handle(server, state);
    socket.save();
    const channelId = h['x-chat-channel-id'];
    if (state.protocol === 'json' && channelId) {
      try {
        await joinJsonSocket(socket, this.#services, channelId);
      } catch (error) {
        this.#logFailure('fetch', error);
        server.close(CLOSE_INTERNAL_ERROR, 'chat setup failed');
      }
    }
    await this.#ensureReportAlarm();
    const responseHeaders = new Headers();
    if (h['x-chat-subprotocol']) responseHeaders.set('Sec-WebSocket-Protocol', h['x-chat-subprotocol']);
    return new Response(null, { status: 101, webSocket: client, headers: responseHeaders });
  }

  /** The room of one channel, as sessions may use it; replies are parsed where RPC reshapes them. */
  #room(channelId: string): RoomClient {
    const stub = this.env.CHAT_ROOM.getByName(channelId);
    return {
      join: (shard, session, visitorId) => stub.join(channelId, shard, session, visitorId),
      leave: (shard, userId) => stub.leave(channelId, shard, userId),
      submit: (session, content) => this.#submit(channelId, { session, content }),
      describeUser: (userId) => stub.describeUser(channelId, userId),
      getRoomState: () => stub.getRoomState(channelId),
      shareResub: (userId, message, shareStreak) => stub.shareResub(channelId, userId, message, shareStreak),
    };
  }

  /**
   * One message for `channelId`'s room, sent with whatever else waits for it (submit-batcher.ts):
   * to the room itself, or, for a shard past the first relay group, to its group's first shard.
   */
  async #submit(channelId: string, request: SubmitRequest): Promise<SubmitResult> {
    let batcher = this.#submitters.get(channelId);
    if (!batcher) {
      const relay = submitRelayFor(this.#ownName(), channelId, this.#relayGroupSize);
      if (relay) {
        const stub = this.env.CHAT_SHARD.getByName(relay);
        batcher = new SubmitBatcher(async (requests) => stub.relaySubmit(channelId, requests));
      } else {
        const stub = this.env.CHAT_ROOM.getByName(channelId);
        batcher = new SubmitBatcher(async (requests) => stub.submitBatch(channelId, requests));
      }
      this.#submitters.set(channelId, batcher);
    }
    try {
      return await batcher.submit(request);
    } finally {
      if (!batcher.busy && this.#submitters.get(channelId) === batcher) this.#submitters.delete(channelId);
    }
  }

  /**
   * A later shard of this shard's relay group hands over its users' messages: they join this
   * shard's own on the way to the room, and each gets the room's answer back.
   */
  async relaySubmit(channelId: string, requests: readonly SubmitRequest[]): Promise<SubmitResult[]> {
    return Promise.all(
      requests.map((request, i) =>
        i < MAX_SUBMIT_BATCH
          ? this.#submit(channelId, request)
          : { kind: 'error', code: 'invalid_frame', message: 'Too many messages in one call.' },
      ),
    );
  }

  #ownName(): string {
    if (this.#name) return this.#name;
    for (const ws of this.ctx.getWebSockets()) {
      const shard = this.#readState(ws)?.shard;
      if (shard) {
        this.#name = shard;
        return shard;
      }
    }
    return '';
  }

  #readState(ws: WebSocket): SocketAttachment | null {
    const cached = this.#states.get(ws);
    if (cached) return cached;
    const parsed = SocketAttachment.safeParse(ws.deserializeAttachment());
    if (!parsed.success) return null;
    this.#states.set(ws, parsed.data);
    return parsed.data;
  }

  #handle(ws: WebSocket, state: SocketAttachment): SocketHandle {
    let budget = this.#budgets.get(ws);
    if (!budget) {
      budget = createBudget(Date.now());
      this.#budgets.set(ws, budget);
    }
    return {
      state,
      budget,
      save: () => {
        ws.serializeAttachment(state);
        this.#states.set(ws, state);
      },
      // A frame still in progress when its socket closed has nobody to answer.
      isOpen: () => ws.readyState === WebSocket.OPEN,
      sendJson: (frame: ServerFrame) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
      },
      sendText: (text) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      },
      sendIrc: (lines) => {
        // Every line ends with CR LF, the last one too, as Twitch sends them: line-buffered clients
        // (ircv3, which @twurple/chat uses) wait for it before they read a line.
        if (lines.length > 0 && ws.readyState === WebSocket.OPEN) ws.send(`${lines.join('\r\n')}\r\n`);
      },
      close: (code, reason) => {
        ws.close(code, reason);
        // A flood gives the seat back at once, with a penalty, so the reconnect the script tries
        // next is refused before the upgrade (seats.ts).
        if (code === CLOSE_POLICY_VIOLATION && FLOOD_CLOSE_REASONS.has(reason))
          this.ctx.waitUntil(this.#releaseLease(state, true));
      },
    };
  }

  #logFailure(handler: string, error: unknown): void {
    this.#log.error('chat_shard_handler_failed', { instance: this.ctx.id.toString(), handler, error });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const state = this.#readState(ws);
    if (!state) {
      ws.close(CLOSE_INTERNAL_ERROR, 'lost socket state');
      return;
    }
    const socket = this.#handle(ws, state);
    const { budget } = socket;
    // Size, flood and queue limits apply on arrival, before any work is queued for the frame.
    const size = typeof message === 'string' ? encoder.encode(message).byteLength : message.byteLength;
    const maxBytes = state.protocol === 'json' ? MAX_JSON_FRAME_BYTES : MAX_IRC_LINE_BYTES;
    if (size > maxBytes) {
      socket.close(CLOSE_POLICY_VIOLATION, 'frame too large');
      return;
    }
    const lines = state.protocol === 'irc' && typeof message === 'string' ? splitIrcLines(message) : null;
    if (!budget.lines.take(lines ? lines.length : 1, Date.now())) {
      socket.close(CLOSE_POLICY_VIOLATION, 'too many frames');
      return;
    }
    if (budget.queued >= MAX_QUEUED_FRAMES) {
      socket.close(CLOSE_POLICY_VIOLATION, 'too many pending frames');
      return;
    }
    // Frames of one socket are handled one after another: the room must see a user's messages in
    // the order they were typed, though each waits on an RPC.
    budget.queued++;
    const current = budget.tail.then(async () => {
      try {
        await this.#handleFrame(socket, message, lines);
      } catch (error) {
        // Nothing a socket sends may take the shard down: log it, keep the socket.
        this.#logFailure('webSocketMessage', error);
      } finally {
        budget.queued--;
      }
    });
    budget.tail = current;
    await current;
  }

  async #handleFrame(
    socket: SocketHandle,
    message: string | ArrayBuffer,
    lines: string[] | null,
  ): Promise<void> {
    // Frames queued behind one that closed the socket (QUIT, a refused login) do nothing.
    if (!socket.isOpen()) return;
    if (typeof message !== 'string') {
      if (socket.state.protocol === 'json')
        socket.sendJson({ type: 'error', code: 'invalid_frame', message: 'Frames are JSON text.' });
      return;
    }
    if (socket.state.protocol === 'json') {
      await handleJsonFrame(socket, this.#services, message);
      return;
    }
    for (const line of lines ?? []) {
      if (!socket.isOpen() || !(await handleIrcLine(socket, this.#services, line))) return;
    }
  }

  // ---- fan-out from the room ----

  /**
   * A batch from the room: every socket of that channel gets it as one WebSocket message, sampled
   * when chat runs hot. Payloads are rendered once per batch (see BatchPayloads), so the loop over
   * sockets does nothing but pick a string and send it.
   */
  async deliver(batch: FanoutBatch, forward: readonly string[] = []): Promise<void> {
    // A relay (chat/shard-fanout.ts) passes the batch on first: its own sockets' sends must not
    // delay the shards behind it.
    const relayed = forward
      .filter((name) => isShardOfChannel(name, batch.channel.id))
      .slice(0, MAX_RELAY_FORWARDS);
    if (relayed.length > 0) {
      this.#relayFanout.send(
        relayed.map((shard) => ({ shard, forward: [] })),
        batch,
      );
    }
    const now = Date.now();
    const channelId = batch.channel.id;
    const channelName = batch.channel.name.toLowerCase();
    const payloads = new BatchPayloads(batch, {
      renderJson: (event) => JSON.stringify(toJsonFrame(event, channelId)),
      renderIrc: (event) => renderFanoutEvent(event, channelName, channelId, now),
    });
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const state = this.#readState(ws);
      if (!state?.channels.some((c) => c.id === channelId)) continue;
      const payload = payloads.payloadFor({
        protocol: state.protocol,
        userId: state.user?.userId ?? null,
        membership: state.caps.includes('twitch.tv/membership'),
      });
      if (payload === null) continue;
      try {
        ws.send(payload);
      } catch (error) {
        // A socket closing mid-batch must not cost the others their messages.
        this.#logFailure('deliver', error);
      }
    }
  }

  /**
   * This shard must give up its sockets (a deploy, a move): IRC sockets get Twitch's RECONNECT and
   * reconnect on their own (tmi.js and twurple do at once); JSON sockets are closed with 1012
   * (service restart), which the web app retries. Returns how many sockets were told.
   */
  async moveSockets(): Promise<number> {
    let moved = 0;
    for (const ws of this.ctx.getWebSockets()) {
      const state = this.#readState(ws);
      if (!state || ws.readyState !== WebSocket.OPEN) continue;
      moveSocket(this.#handle(ws, state));
      moved++;
    }
    return moved;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const state = this.#readState(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'bye');
    } catch {
      // Already closed: nothing left to answer.
    }
    if (!state) return;
    metrics.add({ env: this.env, ctx: this.ctx }, 'edgestream_chat_sockets', {}, -1);
    await Promise.all([
      ...state.channels.map((c) => this.#room(c.id).leave(state.shard, state.user?.userId ?? null)),
      this.#releaseLease(state),
    ]);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.#logFailure('webSocketError', error);
    await this.webSocketClose(ws, 1011);
  }

  async #releaseLease(state: SocketAttachment, flooded = false): Promise<void> {
    const lease = state.lease;
    if (!lease) return;
    state.lease = null;
    try {
      await this.env.RATE_LIMITER.getByName(lease.key).releaseLease(
        lease.key,
        lease.id,
        flooded ? FLOOD_PENALTY : undefined,
      );
    } catch (error) {
      // The lease expires on its own (LEASE_TTL_MS): a failed release costs the address a seat for a while.
      this.#logFailure('releaseLease', error);
    }
  }

  // ---- viewer census and lease renewal ----

  async #ensureReportAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(Date.now() + REPORT_INTERVAL_MS);
  }

  /**
   * Every ~10 s while it holds sockets: tell each room how many of its viewers are here, renew
   * seats, and close signed-in sockets whose session ended (session-sweep.ts).
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const signedIn: { ws: WebSocket; state: SocketAttachment }[] = [];
    const counts = new Map<string, { shard: string; count: number }>();
    const renewals = new Map<
      string,
      { ids: string[]; sockets: { ws: WebSocket; state: SocketAttachment }[] }
    >();
    for (const ws of this.ctx.getWebSockets()) {
      const state = this.#readState(ws);
      if (!state) continue;
      if (state.tokenHash !== null && ws.readyState === WebSocket.OPEN) signedIn.push({ ws, state });
      for (const channel of state.channels) {
        const entry = counts.get(channel.id) ?? { shard: state.shard, count: 0 };
        entry.count++;
        counts.set(channel.id, entry);
      }
      if (state.lease && now - state.lease.renewedAt >= LEASE_RENEW_AFTER_MS) {
        const entry = renewals.get(state.lease.key) ?? { ids: [], sockets: [] };
        entry.ids.push(state.lease.id);
        entry.sockets.push({ ws, state });
        renewals.set(state.lease.key, entry);
      }
    }
    await Promise.all([
      this.#sweepSessions(signedIn),
      ...[...counts].map(async ([channelId, { shard, count }]) => {
        try {
          await this.env.CHAT_ROOM.getByName(channelId).reportViewers(channelId, shard, count);
        } catch (error) {
          this.#logFailure('alarm', error);
        }
      }),
      ...[...renewals].map(async ([key, { ids, sockets }]) => {
        try {
          await this.env.RATE_LIMITER.getByName(key).renewLeases(key, ids, LEASE_TTL_MS);
          for (const { ws, state } of sockets) {
            if (state.lease) state.lease.renewedAt = now;
            this.#handle(ws, state).save();
          }
        } catch (error) {
          this.#logFailure('alarm', error);
        }
      }),
    ]);
    if (this.ctx.getWebSockets().length > 0) await this.ctx.storage.setAlarm(Date.now() + REPORT_INTERVAL_MS);
  }

  /** One D1 query for the sweep's token hashes; a socket whose session is gone is closed. */
  async #sweepSessions(sockets: { ws: WebSocket; state: SocketAttachment }[]): Promise<void> {
    const hashes = this.#sessionSweep.pick(sockets.map(({ state }) => state.tokenHash));
    if (hashes.length === 0) return;
    // IRC sockets signed in with OAuth access tokens (chat/irc-auth.ts), JSON sockets with sessions.
    const ircHashes = new Set(
      sockets.filter(({ state }) => state.protocol === 'irc').map(({ state }) => state.tokenHash),
    );
    let live: Set<string>;
    try {
      const [sessions, accessTokens] = await Promise.all([
        findLiveTokenHashes(
          this.env.DB,
          hashes.filter((hash) => !ircHashes.has(hash)),
        ),
        findLiveAccessTokenHashes(
          this.env.DB,
          hashes.filter((hash) => ircHashes.has(hash)),
        ),
      ]);
      live = new Set([...sessions, ...accessTokens]);
    } catch (error) {
      // D1 unavailable: keep everyone until the next sweep rather than disconnect a whole shard.
      this.#logFailure('sweepSessions', error);
      return;
    }
    const checked = new Set(hashes);
    for (const { ws, state } of sockets) {
      if (state.tokenHash === null || !checked.has(state.tokenHash) || live.has(state.tokenHash)) continue;
      endRevokedSession(this.#handle(ws, state));
    }
  }
}

function toJsonFrame(event: Exclude<FanoutEvent, { kind: 'membership' }>, channelId: string): BatchableFrame {
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
    case 'announcement':
      // The JSON protocol has no announcement frame yet: a notice names the announcer.
      return {
        type: 'notice',
        code: 'announcement',
        message: `${event.user.display_name}: ${event.content}`,
      };
    case 'viewer_count':
      return { type: 'viewer_count', count: event.count };
    case 'sub_notice':
      return { type: 'sub_notice', ...event.notice };
    case 'engagement':
      return event.frame;
  }
}
