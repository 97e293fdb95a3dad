// One EventSub WebSocket session (https://dev.twitch.tv/docs/eventsub/handling-websocket-events/):
// the object holds the socket with the hibernation API, greets it with session_welcome, sends
// session_keepalive whenever it has been quiet for most of keepalive_timeout_seconds, forwards the
// notifications the queue consumer hands it (each message id once), revocations, and
// session_reconnect when the session must move to another object. Twitch's close codes:
// 4001 when the client sends anything ("Client sent inbound traffic"), 4003 when no subscription
// was made within the keepalive timeout ("Connection unused"), 4004 when a reconnect URL was not
// used within 30 s ("Reconnect grace time expired").
//
// A session's subscriptions live in D1 (eventsub_subscriptions.session_id); when the socket goes,
// they go too, as Twitch disables a closed session's subscriptions.
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import { log } from '../../common/log.ts';
import {
  formatEventSubTimestamp,
  Notification,
  renderWebSocketNotification,
  type SubscriptionView,
} from './messages.ts';

/** "Reconnect grace time expired": the old socket stays open this long after session_reconnect. */
export const RECONNECT_GRACE_MS = 30_000;
/** Message ids remembered for dedupe, newest first; older duplicates are past any queue retry. */
const MAX_REMEMBERED_IDS = 2_000;
/** Notifications one deliver call may carry (the consumer sends one event's worth at a time). */
export const MAX_NOTIFICATIONS_PER_DELIVERY = 500;

export const SessionUpgrade = z.object({
  'x-eventsub-session-id': z.string().min(1).max(100),
  'x-eventsub-keepalive': z.coerce.number().int().min(10).max(600),
  /** Set when this connection used a reconnect URL: the object that held the session before. */
  'x-eventsub-takeover-from': z.string().min(1).max(200).optional(),
  'x-eventsub-object-name': z.string().min(1).max(200),
});

const SessionMeta = z.object({
  sessionId: z.string(),
  objectName: z.string(),
  keepaliveSeconds: z.number().int(),
  connectedAt: z.number(),
  lastSentAt: z.number(),
  /** The object name a session_reconnect sent the client to, and until when it may come. */
  reconnectTo: z.string().nullable(),
  reconnectDeadline: z.number().nullable(),
  /** True once another object took the session over: closing this socket must not end it. */
  handedOver: z.boolean(),
});
type SessionMeta = z.infer<typeof SessionMeta>;

export class EventSubSession extends DurableObject<Env> {
  readonly #log = log.child({ class: 'EventSubSession' });
  #meta: SessionMeta | null = null;
  readonly #seen: string[] = [];
  readonly #seenSet = new Set<string>();
  /** A notification went out since the alarm was set: the alarm moves instead of sending a keepalive. */
  #sentSinceAlarm = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const stored = SessionMeta.safeParse(await ctx.storage.get('meta'));
      this.#meta = stored.success ? stored.data : null;
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const headers = SessionUpgrade.safeParse(Object.fromEntries(request.headers));
    if (!headers.success || this.#meta !== null || this.ctx.getWebSockets().length > 0) {
      return new Response('EventSub sessions take one WebSocket upgrade from the Worker', { status: 400 });
    }
    const h = headers.data;
    const now = Date.now();
    const takeoverFrom = h['x-eventsub-takeover-from'];
    if (takeoverFrom !== undefined) {
      // Only the object that sent this client a reconnect URL naming this object lets it go.
      const allowed = await this.env.EVENTSUB_SESSION.getByName(takeoverFrom).handOver(
        h['x-eventsub-object-name'],
      );
      if (!allowed) return new Response('unknown reconnect URL', { status: 404 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const meta: SessionMeta = {
      sessionId: h['x-eventsub-session-id'],
      objectName: h['x-eventsub-object-name'],
      keepaliveSeconds: h['x-eventsub-keepalive'],
      connectedAt: now,
      lastSentAt: now,
      reconnectTo: null,
      reconnectDeadline: null,
      handedOver: false,
    };
    await this.#save(meta);
    await this.env.DB.prepare(
      `INSERT INTO eventsub_sessions (id, object_name, connected_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (id) DO UPDATE SET object_name = ?2`,
    )
      .bind(meta.sessionId, meta.objectName, now)
      .run();
    server.send(
      JSON.stringify({
        metadata: {
          message_id: crypto.randomUUID(),
          message_type: 'session_welcome',
          message_timestamp: formatEventSubTimestamp(now),
        },
        payload: {
          session: {
            id: meta.sessionId,
            status: 'connected',
            connected_at: formatEventSubTimestamp(now),
            keepalive_timeout_seconds: meta.keepaliveSeconds,
            reconnect_url: null,
            recovery_url: null,
          },
        },
      }),
    );
    await this.ctx.storage.setAlarm(now + this.#keepaliveDelayMs(meta));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Notifications for this session; each message id is sent once. Returns how many were sent. */
  async deliver(input: unknown[]): Promise<number> {
    const meta = this.#meta;
    const socket = this.ctx.getWebSockets()[0];
    if (!meta || meta.handedOver || !socket || socket.readyState !== WebSocket.OPEN) return 0;
    const now = Date.now();
    let sent = 0;
    for (const raw of input.slice(0, MAX_NOTIFICATIONS_PER_DELIVERY)) {
      const parsed = Notification.safeParse(raw);
      if (!parsed.success || this.#seenSet.has(parsed.data.messageId)) continue;
      this.#remember(parsed.data.messageId);
      socket.send(renderWebSocketNotification(parsed.data, now));
      sent++;
    }
    if (sent > 0) {
      meta.lastSentAt = now;
      this.#sentSinceAlarm = true;
    }
    return sent;
  }

  /** A subscription of this session was revoked (its authorization or user went away). */
  async revoke(subscription: SubscriptionView): Promise<void> {
    const socket = this.ctx.getWebSockets()[0];
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    socket.send(
      JSON.stringify({
        metadata: {
          message_id: crypto.randomUUID(),
          message_type: 'revocation',
          message_timestamp: formatEventSubTimestamp(now),
          subscription_type: subscription.type,
          subscription_version: subscription.version,
        },
        payload: { subscription },
      }),
    );
  }

  /**
   * This object must give the session up (a deploy, a move): the client is sent session_reconnect
   * with a URL naming a fresh object and has RECONNECT_GRACE_MS to use it; the subscriptions move
   * with the session. `baseUrl` is the public WebSocket URL (wss://host/eventsub/ws).
   */
  async requestReconnect(baseUrl: string): Promise<string | null> {
    const meta = this.#meta;
    const socket = this.ctx.getWebSockets()[0];
    if (!meta || meta.handedOver || !socket || socket.readyState !== WebSocket.OPEN) return null;
    const now = Date.now();
    const next = `${meta.sessionId}~${crypto.randomUUID()}`;
    const reconnectUrl = `${baseUrl}?reconnect=${encodeURIComponent(next)}`;
    await this.#save({ ...meta, reconnectTo: next, reconnectDeadline: now + RECONNECT_GRACE_MS });
    socket.send(
      JSON.stringify({
        metadata: {
          message_id: crypto.randomUUID(),
          message_type: 'session_reconnect',
          message_timestamp: formatEventSubTimestamp(now),
        },
        payload: {
          session: {
            id: meta.sessionId,
            status: 'reconnecting',
            keepalive_timeout_seconds: null,
            reconnect_url: reconnectUrl,
            connected_at: formatEventSubTimestamp(meta.connectedAt),
            recovery_url: null,
          },
        },
      }),
    );
    await this.ctx.storage.setAlarm(now + RECONNECT_GRACE_MS);
    return reconnectUrl;
  }

  /** The object `to` took the session over: true when this object sent the client there. */
  async handOver(to: string): Promise<boolean> {
    const meta = this.#meta;
    if (!meta || meta.reconnectTo !== to || (meta.reconnectDeadline ?? 0) < Date.now()) return false;
    await this.#save({ ...meta, handedOver: true });
    // The new connection has its welcome; Twitch closes the old one once the client moved.
    for (const ws of this.ctx.getWebSockets()) ws.close(1000, 'session moved');
    return true;
  }

  override async alarm(): Promise<void> {
    const meta = this.#meta;
    const socket = this.ctx.getWebSockets()[0];
    if (!meta || meta.handedOver || !socket || socket.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (meta.reconnectDeadline !== null) {
      if (now >= meta.reconnectDeadline) socket.close(4004, 'Reconnect grace time expired');
      else await this.ctx.storage.setAlarm(meta.reconnectDeadline);
      return;
    }
    if (now - meta.connectedAt >= meta.keepaliveSeconds * 1000 && !(await this.#hasSubscriptions(meta))) {
      socket.close(4003, 'Connection unused');
      return;
    }
    if (!this.#sentSinceAlarm) {
      socket.send(
        JSON.stringify({
          metadata: {
            message_id: crypto.randomUUID(),
            message_type: 'session_keepalive',
            message_timestamp: formatEventSubTimestamp(now),
          },
          payload: {},
        }),
      );
      meta.lastSentAt = now;
    }
    this.#sentSinceAlarm = false;
    await this.ctx.storage.setAlarm(meta.lastSentAt + this.#keepaliveDelayMs(meta));
  }

  /** "Clients must not send messages to the server": 4001. */
  override async webSocketMessage(ws: WebSocket): Promise<void> {
    ws.close(4001, 'Client sent inbound traffic');
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'bye');
    } catch {
      // Already closed.
    }
    await this.#end();
  }

  override async webSocketError(): Promise<void> {
    await this.#end();
  }

  /** The session ends with its socket, unless it moved: its subscriptions and row go. */
  async #end(): Promise<void> {
    const meta = this.#meta;
    if (!meta || meta.handedOver) return;
    try {
      await this.env.DB.batch([
        this.env.DB.prepare(
          `DELETE FROM eventsub_subscriptions WHERE session_id = ?1 AND transport_method = 'websocket'
           AND EXISTS (SELECT 1 FROM eventsub_sessions WHERE id = ?1 AND object_name = ?2)`,
        ).bind(meta.sessionId, meta.objectName),
        this.env.DB.prepare('DELETE FROM eventsub_sessions WHERE id = ? AND object_name = ?').bind(
          meta.sessionId,
          meta.objectName,
        ),
      ]);
    } catch (error) {
      this.#log.error('eventsub_session_cleanup_failed', { session_id: meta.sessionId, error });
    }
    await this.ctx.storage.deleteAll();
    this.#meta = null;
  }

  async #hasSubscriptions(meta: SessionMeta): Promise<boolean> {
    const row = await this.env.DB.prepare(
      'SELECT 1 AS one FROM eventsub_subscriptions WHERE session_id = ? LIMIT 1',
    )
      .bind(meta.sessionId)
      .first();
    return row !== null;
  }

  /** Keepalives go out after 80% of the promised silence, so a client's timer never fires first. */
  #keepaliveDelayMs(meta: SessionMeta): number {
    return Math.floor(meta.keepaliveSeconds * 800);
  }

  #remember(messageId: string): void {
    this.#seen.push(messageId);
    this.#seenSet.add(messageId);
    while (this.#seen.length > MAX_REMEMBERED_IDS) {
      const old = this.#seen.shift();
      if (old !== undefined) this.#seenSet.delete(old);
    }
  }

  async #save(meta: SessionMeta): Promise<void> {
    this.#meta = meta;
    await this.ctx.storage.put('meta', meta);
  }
}
