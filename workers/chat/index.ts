// The WebSocket entry of chat: `/ws/{channel_id}` speaks the JSON protocol (protocol/chat.ts);
// a WebSocket upgrade on `/` or `/irc` speaks Twitch IRC. The Worker authenticates what it can
// before the upgrade (a bad token is a 401, an unknown channel a 404, both JSON) and hands the
// socket to a ChatShard, which holds it with the hibernation API.
//
// Sockets are capped before the upgrade (docs/security.md): per client network while anonymous, per
// user once signed in (durable-objects/chat-shard/seats.ts), so one script cannot inflate a
// channel's viewer count or the directory's ranking.
import { Hono } from 'hono';
import { toClientNetwork } from '../../common/client-network.ts';
import { findChannelById } from '../../durable-objects/chat/directory.ts';
import type { ChannelInfo } from '../../durable-objects/chat/types.ts';
import type { ChatShard } from '../../durable-objects/chat-shard/chat-shard.ts';
import {
  anonymousConnectRate,
  anonymousSeatKey,
  MAX_ANONYMOUS_CONNECTS_PER_MINUTE,
  MAX_ANONYMOUS_SOCKETS_PER_NETWORK,
  MAX_ANONYMOUS_UPGRADES_IN_FLIGHT,
  MAX_SIGNED_IN_UPGRADES_IN_FLIGHT,
  MAX_SOCKETS_PER_USER,
  takeSeat,
  userSeatKey,
} from '../../durable-objects/chat-shard/seats.ts';
import { findUserByTokenHash, hashToken } from '../../durable-objects/shared/sessions.ts';
import { ApiError, handleError, notFound, rateLimited, unauthorized } from '../shared/errors.ts';

export const chatApp = new Hono<{ Bindings: Env }>();
chatApp.onError(handleError);

/**
 * IRC sockets can join many channels, so they live in a fixed pool of shards rather than in a
 * channel's shards (see durable-objects/chat-shard/chat-shard.ts). Bots and tools are a small share of
 * sockets next to browser viewers; 16 shards spread them without a directory.
 */
const IRC_SHARD_POOL = 16;
/** Browsers cannot set headers on a WebSocket, so a token may ride in the subprotocol list. */
const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';
/**
 * Clients this isolate refused, until their refusal ends: networks that connected too fast while
 * anonymous (`net:`) and networks or users whose seat carries a flood penalty (`net:`, `token:` by
 * the token's hash). Their next upgrade is answered 429 at once, before the channel and token
 * lookups (D1) and the limiter RPCs, so a refused flood costs a map lookup. Bounded; the oldest is
 * forgotten first.
 */
const MAX_REMEMBERED_REFUSALS = 10_000;
const refusals = new Map<string, { until: number; message: string }>();

/**
 * Up to this many whole seconds are added at random to a refused upgrade's Retry-After. The sockets
 * of one network or account are refused together (a burst past the few in flight, a flood penalty
 * that ends for all of them at the same moment), and clients that honour the header came back in
 * the same instant, one burst after another, on the thread that also fans chat out
 * (bench/chat/chat-hostile.ts: the receivers' worst half-seconds were the attack's start and the
 * end of its penalty). Spread over a few seconds the same upgrades cost a little at a time.
 */
export const RETRY_JITTER_SECONDS = 2;

/** A 429 for an upgrade: Retry-After is what the bound asks plus 0 to RETRY_JITTER_SECONDS. */
function refuseUpgrade(retryAfterSeconds: number, message: string): ApiError {
  const jitter = Math.floor(Math.random() * (RETRY_JITTER_SECONDS + 1));
  return rateLimited(Math.max(1, Math.ceil(retryAfterSeconds)) + jitter, message);
}

function refuseRemembered(key: string | null): void {
  if (!key) return;
  const refusal = refusals.get(key);
  if (refusal === undefined) return;
  const left = refusal.until - Date.now();
  if (left <= 0) {
    refusals.delete(key);
    return;
  }
  throw refuseUpgrade(left / 1000, refusal.message);
}

function rememberRefusal(key: string, retryAfterMs: number, message: string): void {
  refusals.delete(key);
  if (refusals.size >= MAX_REMEMBERED_REFUSALS) {
    const oldest = refusals.keys().next().value;
    if (oldest !== undefined) refusals.delete(oldest);
  }
  refusals.set(key, { until: Date.now() + retryAfterMs, message });
}

function networkRefusalKey(address: string | null): string | null {
  return address ? `net:${toClientNetwork(address)}` : null;
}

const FLOOD_PENALTY_MESSAGE =
  'A chat connection of yours was closed for flooding; new ones are refused until Retry-After.';

function anonymousConnectsMessage(): string {
  return `At most ${MAX_ANONYMOUS_CONNECTS_PER_MINUTE} new anonymous chat connections per minute per network.`;
}

/**
 * An upgrade still counted after this long is forgotten: a request cancelled mid-upgrade may never
 * reach its `finally`, and must not hold its network's place for good.
 */
const UPGRADE_IN_FLIGHT_TTL_MS = 5_000;
/** Per network, when each of its anonymous upgrades in flight began. Networks with none are removed. */
const upgradesInFlight = new Map<string, number[]>();
/** When upgradesInFlight was last swept of entries past their TTL (at most once a second). */
let upgradesSweptAt = 0;

/**
 * Channels this isolate found in D1 lately, by id, with when that stops counting: an upgrade storm
 * on one channel asked D1 the same question once per socket (bench/chat/connect-storm.ts
 * --profile). Only channels found are kept, so a made-up id still costs its lookup and never
 * reaches an object; a deleted channel's room may take upgrades for CHANNEL_CACHE_TTL_MS more.
 */
const CHANNEL_CACHE_TTL_MS = 30_000;
const MAX_CACHED_CHANNELS = 10_000;
const knownChannels = new Map<string, { until: number; channel: ChannelInfo }>();

async function findChannelCached(db: D1Database, id: string): Promise<ChannelInfo | null> {
  const now = Date.now();
  const cached = knownChannels.get(id);
  if (cached && cached.until > now) return cached.channel;
  const channel = await findChannelById(db, id);
  knownChannels.delete(id);
  if (!channel) return null;
  if (knownChannels.size >= MAX_CACHED_CHANNELS) {
    const oldest = knownChannels.keys().next().value;
    if (oldest !== undefined) knownChannels.delete(oldest);
  }
  knownChannels.set(id, { until: now + CHANNEL_CACHE_TTL_MS, channel });
  return channel;
}

/** What a JSON upgrade found out before handing the socket to a shard. */
interface Admitted {
  channel: ChannelInfo;
  user: Awaited<ReturnType<typeof findUserByTokenHash>>;
  lease: Record<string, string>;
}

/**
 * Runs one upgrade's checks within `limit` upgrades in flight for `key` (a client network for
 * anonymous upgrades, a token's hash for signed-in ones); past it, 429 with `Retry-After` 1–3 s (refuseUpgrade).
 */
async function admitBounded<T>(
  key: string,
  limit: number,
  message: string,
  attempt: () => Promise<T>,
): Promise<T> {
  const now = Date.now();
  const started = (upgradesInFlight.get(key) ?? []).filter((at) => now - at < UPGRADE_IN_FLIGHT_TTL_MS);
  if (started.length >= limit) {
    upgradesInFlight.set(key, started);
    throw refuseUpgrade(1, message);
  }
  started.push(now);
  upgradesInFlight.set(key, started);
  // Requests cancelled before their `finally` leave entries behind; past the bound, sweep them
  // (once a second at most: a walk of the whole map must not be every upgrade's cost).
  if (upgradesInFlight.size > MAX_REMEMBERED_REFUSALS && now - upgradesSweptAt >= 1000) {
    upgradesSweptAt = now;
    for (const [other, times] of upgradesInFlight)
      if (times.every((at) => now - at >= UPGRADE_IN_FLIGHT_TTL_MS)) upgradesInFlight.delete(other);
  }
  try {
    return await attempt();
  } finally {
    const left = upgradesInFlight.get(key) ?? [];
    const mine = left.indexOf(now);
    if (mine >= 0) left.splice(mine, 1);
    if (left.length === 0) upgradesInFlight.delete(key);
  }
}

/** An anonymous upgrade's checks, within MAX_ANONYMOUS_UPGRADES_IN_FLIGHT for its network. */
function admitAnonymous<T>(network: string, attempt: () => Promise<T>): Promise<T> {
  return admitBounded(
    `net:${network}`,
    MAX_ANONYMOUS_UPGRADES_IN_FLIGHT,
    `At most ${MAX_ANONYMOUS_UPGRADES_IN_FLIGHT} anonymous chat connections may open at once per network; retry in a second.`,
    attempt,
  );
}

/** A signed-in upgrade's checks, within MAX_SIGNED_IN_UPGRADES_IN_FLIGHT for its token. */
function admitSignedIn<T>(tokenHash: string, attempt: () => Promise<T>): Promise<T> {
  return admitBounded(
    `token:${tokenHash}`,
    MAX_SIGNED_IN_UPGRADES_IN_FLIGHT,
    `At most ${MAX_SIGNED_IN_UPGRADES_IN_FLIGHT} chat connections with one token may open at once; retry in a second.`,
    attempt,
  );
}

/**
 * Takes a seat for the socket (durable-objects/chat-shard/seats.ts): per user when signed in, per
 * client network when anonymous, or throws 429 with Retry-After. Without CF-Connecting-IP (a
 * request that did not come through Cloudflare's edge: local tools, tests) an anonymous socket has
 * no address to count, and no seat.
 */
async function takeSocketSeat(
  request: Request,
  env: Env,
  userId: string | null,
  tokenHash: string | null = null,
): Promise<Record<string, string>> {
  const address = request.headers.get('CF-Connecting-IP');
  if (userId === null && !address) return {};
  const network = toClientNetwork(address ?? '');
  const [key, limit, message] =
    userId === null
      ? [
          anonymousSeatKey(network),
          MAX_ANONYMOUS_SOCKETS_PER_NETWORK,
          `At most ${MAX_ANONYMOUS_SOCKETS_PER_NETWORK} anonymous chat connections per network; sign in or close some.`,
        ]
      : [
          userSeatKey(userId),
          MAX_SOCKETS_PER_USER,
          `At most ${MAX_SOCKETS_PER_USER} chat connections per user.`,
        ];
  // Anonymous: the network's connect rate is counted in the seat's object, in the same call.
  const seat = await takeSeat(
    env.RATE_LIMITER,
    key,
    limit,
    userId === null ? anonymousConnectRate(network) : undefined,
  );
  if (!seat.allowed) {
    if (seat.reason === 'rate') {
      rememberRefusal(`net:${network}`, seat.retryAfterMs, anonymousConnectsMessage());
      throw refuseUpgrade(seat.retryAfterMs / 1000, anonymousConnectsMessage());
    }
    if (seat.reason === 'penalty') {
      const refusalKey = userId === null ? networkRefusalKey(address) : `token:${tokenHash ?? userId}`;
      if (refusalKey) rememberRefusal(refusalKey, seat.retryAfterMs, FLOOD_PENALTY_MESSAGE);
      throw refuseUpgrade(seat.retryAfterMs / 1000, FLOOD_PENALTY_MESSAGE);
    }
    throw refuseUpgrade(seat.retryAfterMs / 1000, message);
  }
  return { 'x-chat-lease-key': seat.key, 'x-chat-lease-id': seat.leaseId };
}

function isWebSocketUpgrade(header: string | undefined): boolean {
  return header?.toLowerCase() === 'websocket';
}

function readSubprotocols(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * The subprotocol to answer with: a browser fails the handshake when it offered some and the
 * server picks none, so echo `chat` (or `irc`) when offered, else the first non-token one. Never a
 * `bearer.*` entry: the 101 response would carry the token back through every proxy and log on
 * the way (RFC 6750 section 5.3); a client that offered nothing else gets no subprotocol.
 */
function chooseSubprotocol(offered: string[], preferred: string): string | undefined {
  if (offered.includes(preferred)) return preferred;
  return offered.find((p) => !p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
}

/** Forwards the upgrade to a shard with what the shard must know, never the token itself. */
function forwardUpgrade(
  request: Request,
  shard: DurableObjectStub<ChatShard>,
  fields: Record<string, string | undefined>,
): Promise<Response> {
  const headers = new Headers();
  for (const name of ['Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version']) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) headers.set(name, value);
  return shard.fetch(new Request(request.url, { method: 'GET', headers }));
}

chatApp.get('/ws/:channelId', async (c) => {
  if (!isWebSocketUpgrade(c.req.header('Upgrade'))) {
    throw new ApiError(426, 'upgrade_required', 'Chat is a WebSocket: connect with Upgrade: websocket');
  }
  const offered = readSubprotocols(c.req.header('Sec-WebSocket-Protocol'));
  // RFC 6750 section 5.3: "Don't pass bearer tokens in page URLs" (they reach logs and history).
  if (c.req.query('token') !== undefined) {
    throw new ApiError(
      400,
      'token_in_url',
      'Send the token as the subprotocol "bearer.<token>" or in an auth frame, never in the URL',
    );
  }
  const token = offered
    .find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX))
    ?.slice(BEARER_SUBPROTOCOL_PREFIX.length);
  const tokenHash = token && token.length <= 200 ? await hashToken(token) : null;
  refuseRemembered(
    tokenHash ? `token:${tokenHash}` : networkRefusalKey(c.req.header('CF-Connecting-IP') ?? null),
  );
  const address = c.req.header('CF-Connecting-IP');
  const admit = async (): Promise<Admitted> => {
    const channel = await findChannelCached(c.env.DB, c.req.param('channelId'));
    if (!channel) throw notFound('Channel');
    const user = tokenHash ? await findUserByTokenHash(c.env.DB, tokenHash) : null;
    if (token && !user) throw unauthorized('Invalid or expired token');
    const lease = await takeSocketSeat(c.req.raw, c.env, user?.id ?? null, tokenHash);
    return { channel, user, lease };
  };
  // Upgrades are bounded in flight, the lookups included: anonymous ones per network, signed-in
  // ones per token (not per network: tools and bots open many at once from one host, one account
  // each; a made-up token costs a hash and two reads before its 401, never a limiter or object).
  const { channel, user, lease } = tokenHash
    ? await admitSignedIn(tokenHash, admit)
    : token || !address
      ? await admit()
      : await admitAnonymous(toClientNetwork(address), admit);
  const shardName = await c.env.CHAT_ROOM.getByName(channel.id).assignShard(channel.id);
  if (!shardName) throw notFound('Channel');
  return forwardUpgrade(c.req.raw, c.env.CHAT_SHARD.getByName(shardName), {
    ...lease,
    'x-chat-shard': shardName,
    'x-chat-protocol': 'json',
    'x-chat-channel-id': channel.id,
    'x-chat-user-id': user?.id,
    'x-chat-user-login': user?.username,
    // The shard re-checks the session every sweep by its hash; the token itself never leaves here.
    'x-chat-token-hash': user ? (tokenHash ?? undefined) : undefined,
    'x-chat-subprotocol': chooseSubprotocol(offered, 'chat'),
  });
});

async function upgradeIrc(request: Request, env: Env): Promise<Response> {
  // Every IRC socket starts anonymous (PASS comes after the upgrade); signing in gives the seat back.
  const address = request.headers.get('CF-Connecting-IP');
  refuseRemembered(networkRefusalKey(address));
  const lease = address
    ? await admitAnonymous(toClientNetwork(address), () => takeSocketSeat(request, env, null))
    : await takeSocketSeat(request, env, null);
  const shardName = `irc:${Math.floor(Math.random() * IRC_SHARD_POOL)}`;
  return forwardUpgrade(request, env.CHAT_SHARD.getByName(shardName), {
    ...lease,
    'x-chat-shard': shardName,
    'x-chat-protocol': 'irc',
    'x-chat-subprotocol': chooseSubprotocol(
      readSubprotocols(request.headers.get('Sec-WebSocket-Protocol') ?? undefined),
      'irc',
    ),
  });
}

chatApp.get('/irc', async (c) => {
  if (!isWebSocketUpgrade(c.req.header('Upgrade'))) {
    throw new ApiError(
      426,
      'upgrade_required',
      'IRC is served over WebSocket: connect with Upgrade: websocket',
    );
  }
  return upgradeIrc(c.req.raw, c.env);
});

// "/" is the web app for page loads; only a WebSocket upgrade there is IRC (as on irc-ws.chat.twitch.tv).
chatApp.get('/', async (c, next) => {
  if (!isWebSocketUpgrade(c.req.header('Upgrade'))) {
    await next();
    return;
  }
  return upgradeIrc(c.req.raw, c.env);
});
