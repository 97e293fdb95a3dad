// Rate limits backed by the RateLimiter Durable Object: one instance per bucket key, so a hot IP
// does not contend with anyone else's limits.
import { rateLimited } from './errors.ts';

export interface RateLimit {
  /** Names the bucket family, e.g. "login-ip". */
  name: string;
  limit: number;
  windowMs: number;
}

/**
 * Counts one hit for `subject` against `rule`; throws 429 (with Retry-After) when over the limit.
 * `message` says which limit the client ran into, so a client can tell the user the real reason.
 */
export async function enforceRateLimit(
  env: Env,
  rule: RateLimit,
  subject: string,
  message?: string,
): Promise<void> {
  const key = `${rule.name}:${subject.toLowerCase()}`;
  const decision = await env.RATE_LIMITER.getByName(key).consume(key, rule.limit, rule.windowMs);
  if (!decision.allowed) throw rateLimited(decision.retryAfterMs / 1000, message);
}

/** Counts one hit like enforceRateLimit, but answers whether it was within the limit. */
export async function consumeRateLimit(env: Env, rule: RateLimit, subject: string): Promise<boolean> {
  const key = `${rule.name}:${subject.toLowerCase()}`;
  const decision = await env.RATE_LIMITER.getByName(key).consume(key, rule.limit, rule.windowMs);
  return decision.allowed;
}
