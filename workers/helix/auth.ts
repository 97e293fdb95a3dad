// Helix authentication, scopes, rate limit and errors, as api.twitch.tv/helix answers them
// (docs/twitch-compat.md): every request needs `Client-Id` and `Authorization: Bearer <token>`
// of that client; a missing scope is 401 "Missing scope: <name>"; every answer carries
// Ratelimit-Limit/Remaining/Reset of the token bucket of the client (and user); errors are
// `{error, status, message}`. The EventSub routes reuse requireHelixToken and requireScope.
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { log } from '../../common/log.ts';
import { type AccessTokenInfo, hasScope, type TwitchScope, validateAccessToken } from '../oauth/tokens.ts';
import { readBearerToken } from '../shared/auth.ts';
import { ApiError } from '../shared/errors.ts';

/** Twitch's bucket: 800 points a minute per client (app token) or client and user (user token). */
export const HELIX_POINTS_PER_MINUTE = 800;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  422: 'Unprocessable Entity',
  425: 'Too Early',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** An expected Helix failure; helixErrorHandler answers it in Twitch's shape. */
export class HelixError extends HTTPException {
  constructor(status: ContentfulStatusCode, message: string) {
    super(status, { message });
  }
}

export function helixErrorBody(status: number, message: string) {
  return { error: REASONS[status] ?? 'Error', status, message };
}

/** The onError of the Helix app (and of apps mounted into it). */
export function helixErrorHandler(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const res = c.json(helixErrorBody(status, err.message || (REASONS[status] ?? 'Error')), status);
    // A shared limit (the clip limits of api/routes/clips.ts) says when to come back.
    if (err instanceof ApiError && err.retryAfterSeconds !== undefined)
      res.headers.set('Retry-After', String(err.retryAfterSeconds));
    return res;
  }
  log.error('unhandled_error', { method: c.req.method, path: new URL(c.req.url).pathname, error: err });
  return c.json(helixErrorBody(500, 'Internal Server Error'), 500);
}

export interface HelixVariables {
  token: AccessTokenInfo;
}

const BucketRow = z.object({ points: z.number(), allowed: z.number() });

/**
 * Takes one point from the bucket and sets the Ratelimit-* headers. The refill and the take are
 * one statement, so concurrent requests of one bucket never both take the last point.
 */
async function takeRatePoint(c: Context, bucket: string, now = Date.now()): Promise<void> {
  const limit = HELIX_POINTS_PER_MINUTE;
  const refill = `min(?2, points + (?3 - updated_at) * ?2 / 60000.0)`;
  const row = await (c.env as Env).DB.prepare(
    `INSERT INTO helix_rate_buckets (bucket, points, allowed, updated_at) VALUES (?1, ?2 - 1, 1, ?3)
     ON CONFLICT (bucket) DO UPDATE SET
       points = CASE WHEN ${refill} >= 1 THEN ${refill} - 1 ELSE ${refill} END,
       allowed = ${refill} >= 1,
       updated_at = ?3
     RETURNING points, allowed`,
  )
    .bind(bucket, limit, now)
    .first();
  const { points, allowed } = BucketRow.parse(row);
  const remaining = Math.max(0, Math.floor(points));
  // Ratelimit-Reset: "the Unix epoch timestamp of when your bucket is reset to full".
  const resetAt = Math.ceil((now + ((limit - points) * 60_000) / limit) / 1000);
  c.header('Ratelimit-Limit', String(limit));
  c.header('Ratelimit-Remaining', String(remaining));
  c.header('Ratelimit-Reset', String(resetAt));
  if (allowed !== 1) {
    c.header('Retry-After', String(Math.max(1, Math.ceil(((1 - points) * 60) / limit))));
    throw new HelixError(429, 'Too Many Requests');
  }
}

/** Client-Id and a valid Bearer token of that client; the token's grant lands in c.get('token'). */
export const requireHelixToken = createMiddleware<{ Bindings: Env; Variables: HelixVariables }>(
  async (c, next) => {
    const header = c.req.header('Authorization');
    const token = readBearerToken(header);
    if (token === null) throw new HelixError(401, 'OAuth token is missing');
    const info = await validateAccessToken(c.env, token);
    if (info === null) throw new HelixError(401, 'Invalid OAuth token');
    const clientId = c.req.header('Client-Id');
    if (clientId === undefined || clientId === '') throw new HelixError(401, 'Client ID is missing');
    if (clientId !== info.clientId) throw new HelixError(401, 'Client ID and OAuth token do not match');
    await takeRatePoint(c, `${info.clientId}:${info.userId ?? ''}`);
    c.set('token', info);
    await next();
  },
);

/** Any one of `scopes`; Twitch answers a missing scope with 401 "Missing scope: <name>". */
export function requireScope(c: { get: (key: 'token') => AccessTokenInfo }, ...scopes: TwitchScope[]): void {
  if (!hasScope(c.get('token'), ...scopes))
    throw new HelixError(401, `Missing scope: ${scopes.join(' or ')}`);
}

/** The user behind a user access token; an app access token cannot act for anyone. */
export function requireTokenUser(c: { get: (key: 'token') => AccessTokenInfo }): string {
  const userId = c.get('token').userId;
  if (userId === null) throw new HelixError(401, 'User access token required');
  return userId;
}

/** A user id parameter that must be the token's user ("must match the user ID in the access token"). */
export function requireSelf(
  c: { get: (key: 'token') => AccessTokenInfo },
  param: string,
  value: string,
): string {
  const userId = requireTokenUser(c);
  if (value !== userId)
    throw new HelixError(401, `The ID in ${param} must match the user ID in the access token`);
  return userId;
}
