// The EventSub WebSocket entry, as wss://eventsub.wss.twitch.tv/ws is (clients change only the
// URL): `/eventsub/ws` (and `/ws`, the mock server's path), with `keepalive_timeout_seconds` (10-600, a numeric value out of range
// "will return the nearest acceptable value"). Each connection is a new session and a new
// EventSubSession object; a `reconnect` parameter is the URL a session_reconnect message gave,
// naming the object the session moves to (durable-objects/eventsub/eventsub-session.ts).
//
// The upgrade itself carries no token (Twitch's does not either): a connection that makes no
// subscription is closed after its keepalive timeout (4003), and connects are limited per client
// network (EVENTSUB_CONNECTS_PER_MINUTE) so one address cannot hold many idle objects.
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { toClientNetwork } from '../../common/client-network.ts';
import { helixApp } from '../helix/index.ts';
import { oauth2App } from '../oauth/index.ts';
import { ApiError, rateLimited } from '../shared/errors.ts';

export const EVENTSUB_CONNECTS_PER_MINUTE = 30;
const DEFAULT_KEEPALIVE_SECONDS = 10;
const RECONNECT_NAME = /^([0-9a-f-]{36})~[0-9a-f-]{36}$/;
const SessionObjectRow = z.object({ object_name: z.string() });

export const eventSubWsApp = new Hono<{ Bindings: Env }>();

function readKeepalive(value: string | undefined): number {
  const parsed = Number(value);
  if (value === undefined || !Number.isFinite(parsed)) return DEFAULT_KEEPALIVE_SECONDS;
  return Math.min(600, Math.max(10, Math.round(parsed)));
}

async function upgradeEventSub(c: Context<{ Bindings: Env }>): Promise<Response> {
  if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
    throw new ApiError(426, 'upgrade_required', 'EventSub is a WebSocket: connect with Upgrade: websocket');
  }
  const address = c.req.header('CF-Connecting-IP');
  if (address) {
    const key = `eventsub-connects:${toClientNetwork(address)}`;
    const connects = await c.env.RATE_LIMITER.getByName(key).consume(
      key,
      EVENTSUB_CONNECTS_PER_MINUTE,
      60_000,
    );
    if (!connects.allowed)
      throw rateLimited(connects.retryAfterMs / 1000, 'Too many EventSub connections from this network.');
  }
  const reconnect = c.req.query('reconnect');
  let sessionId: string;
  let objectName: string;
  let takeoverFrom: string | undefined;
  if (reconnect !== undefined) {
    const match = RECONNECT_NAME.exec(reconnect);
    const id = match?.[1];
    if (!id) throw new ApiError(404, 'not_found', 'Unknown reconnect URL');
    const row = await c.env.DB.prepare('SELECT object_name FROM eventsub_sessions WHERE id = ?')
      .bind(id)
      .first();
    if (row === null) throw new ApiError(404, 'not_found', 'Unknown reconnect URL');
    sessionId = id;
    objectName = reconnect;
    takeoverFrom = SessionObjectRow.parse(row).object_name;
  } else {
    sessionId = crypto.randomUUID();
    objectName = sessionId;
  }
  const headers = new Headers();
  for (const name of ['Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version']) {
    const value = c.req.header(name);
    if (value !== undefined) headers.set(name, value);
  }
  headers.set('x-eventsub-session-id', sessionId);
  headers.set('x-eventsub-object-name', objectName);
  headers.set('x-eventsub-keepalive', String(readKeepalive(c.req.query('keepalive_timeout_seconds'))));
  if (takeoverFrom !== undefined) headers.set('x-eventsub-takeover-from', takeoverFrom);
  return c.env.EVENTSUB_SESSION.getByName(objectName).fetch(
    new Request(c.req.url, { method: 'GET', headers }),
  );
}

eventSubWsApp.get('/eventsub/ws', upgradeEventSub);
// Twitch's mock server (twitch-cli `event websocket`) serves the same at `/ws`; clients pointed at
// a mock (twurple's TWURPLE_MOCK_API_PORT) connect there. `/ws/{channel_id}` stays chat's.
eventSubWsApp.get('/ws', upgradeEventSub);

/**
 * `/eventsub/subscriptions` is Helix's route at the path Twitch's mock server uses
 * (twitch-cli's `mock-api`, which clients such as twurple reach with TWURPLE_MOCK_API_PORT): the same
 * handler, token checks and rate limit as /helix/eventsub/subscriptions.
 */
eventSubWsApp.all('/eventsub/subscriptions', (c) => {
  const url = new URL(c.req.url);
  return helixApp.fetch(new Request(url, c.req.raw), c.env, c.executionCtx);
});

/**
 * The mock server's `/auth/validate` is id.twitch.tv/oauth2/validate: chat clients pointed at a mock
 * (twurple with TWURPLE_MOCK_API_PORT) validate their token there before IRC's PASS.
 */
eventSubWsApp.get('/auth/validate', (c) => {
  const url = new URL(c.req.url);
  url.pathname = '/validate';
  return oauth2App.fetch(new Request(url, c.req.raw), c.env, c.executionCtx);
});
