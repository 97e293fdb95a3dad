// Seats: how many sockets one client network may hold anonymously, and one user signed in, so a
// single script cannot inflate a channel's viewer count or the directory's ranking (viewer counts
// are sums of open sockets). A seat is a lease in the RateLimiter object of its key
// (durable-objects/rate-limiter.ts): the chat Worker takes it before the upgrade, the shard holding
// the socket swaps it on sign-in, renews it while the socket lives and releases it on close.
// A socket closed for flooding (flood-control.ts) gives its seat back with a penalty on the key:
// the network (anonymous) or user (signed in) gets no new chat socket until it ends, and the chat
// Worker remembers the refusal, so a script that reconnects at once costs a map lookup.
import type { LeasePenalty, LeaseRate } from '../rate-limiter.ts';

/** Leases last this long unless the shard's census alarm renews them (a crashed shard's expire). */
export const LEASE_TTL_MS = 10 * 60_000;
/**
 * Anonymous sockets (JSON without a token, IRC before sign-in) one client network may hold open:
 * enough for a household or a small office watching a few channels in several tabs.
 */
export const MAX_ANONYMOUS_SOCKETS_PER_NETWORK = 20;
/**
 * New anonymous sockets one client network may open per minute: seats bound what is open at once,
 * this bounds the churn (each new socket may try 3 tokens, so 180 token lookups a minute at most).
 */
export const MAX_ANONYMOUS_CONNECTS_PER_MINUTE = 60;
/**
 * Anonymous chat upgrades one client network may have in flight at once in one isolate of the chat
 * Worker, their lookups and limiter calls included (`admitAnonymous` in workers/chat/index.ts; the
 * web app's sockets are anonymous until their `auth` frame). A script opening 75 sockets at once
 * from one address sent 150 limiter calls into one object at the same moment, and their
 * continuations queued in front of chat fan-out on the same thread (the first seconds of
 * bench/chat/chat-hostile.ts's attack); past this, an upgrade is refused 429 (`Retry-After` 1–3 s)
 * before any lookup. Seats cap what a network holds anyway, so a household whose tabs open
 * together loses only a retry a second later. Counted in plain numbers, never with a promise
 * another request awaits: workerd cancels a request's continuations when the request that created
 * the promise it awaits ends or is cancelled (a dropped client).
 */
export const MAX_ANONYMOUS_UPGRADES_IN_FLIGHT = 4;
/**
 * Upgrades with one bearer token being admitted at once in one Worker isolate (counted by the
 * token's hash, before any lookup): a flooder's ten sockets of one account arrived together and
 * each ran the whole signed-in upgrade (bench/chat/chat-hostile.ts --kinds signed-in: the
 * receivers' p99 doubled); now four go through and the rest retry a second later, by when a flood
 * has earned the account its penalty. Distinct users are not counted together: tools and bots open
 * many sockets at once from one host, one account each.
 */
export const MAX_SIGNED_IN_UPGRADES_IN_FLIGHT = 4;
/** Sockets one signed-in user may hold open, across channels and protocols. */
export const MAX_SOCKETS_PER_USER = 20;

/** The flood penalty: 5 s, doubling at each strike up to 5 min; strikes forgotten after 10 quiet minutes. */
export const FLOOD_PENALTY: LeasePenalty = {
  baseMs: 5_000,
  maxMs: 5 * 60_000,
  forgetAfterMs: 10 * 60_000,
};

export function anonymousSeatKey(network: string): string {
  return `chat-anonymous:${network}`;
}

/**
 * The anonymous connect rate of a network, counted in its seat's object with the seat (one call
 * and one commit per upgrade; it was an object of its own until 2026-12).
 */
export function anonymousConnectRate(network: string): LeaseRate {
  return {
    hitKey: `chat-anonymous-connects:${network}`,
    limit: MAX_ANONYMOUS_CONNECTS_PER_MINUTE,
    windowMs: 60_000,
  };
}

export function userSeatKey(userId: string): string {
  return `chat-user:${userId}`;
}

export type SeatDecision =
  | { allowed: true; key: string; leaseId: string }
  | { allowed: false; retryAfterMs: number; reason: 'full' | 'penalty' | 'rate' };

/** Takes one of `limit` seats under `key`, within `rate` when one is given. */
export async function takeSeat(
  limiters: DurableObjectNamespace<import('../rate-limiter.ts').RateLimiter>,
  key: string,
  limit: number,
  rate?: LeaseRate,
): Promise<SeatDecision> {
  const decision = await limiters.getByName(key).acquireLease(key, limit, LEASE_TTL_MS, rate);
  return decision.allowed ? { allowed: true, key, leaseId: decision.leaseId } : decision;
}
