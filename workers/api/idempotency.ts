// Idempotency-Key on POST: the first response (status + JSON body) is stored per (caller, key)
// together with a hash of method, path and body. A replay with the same request gets the stored
// response and `Idempotent-Replayed: true`; the same key with another request is 422.
import type { MiddlewareHandler } from 'hono';
import { findUserByToken, readBearerToken } from '../shared/auth.ts';
import { hashSha256Hex } from '../shared/crypto.ts';
import { badRequest, conflict, unprocessable } from '../shared/errors.ts';
import { readClientIp } from './router.ts';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** Keys older than this are swept by the cron (workers/cron.ts). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Marks a key whose first request is still running. */
const IN_FLIGHT_STATUS = 0;
/** Responses worth replaying: a 401 or 429 says "try again later", not "this is the outcome". */
const TRANSIENT_STATUSES = new Set([401, 429]);

interface StoredResponse {
  request_hash: string;
  status: number;
  response_body: string;
}

export const handleIdempotencyKey: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const key = c.req.header(IDEMPOTENCY_HEADER);
  if (c.req.method !== 'POST' || key === undefined) return next();
  if (key.length === 0 || key.length > 255) throw badRequest('Idempotency-Key must be 1-255 characters');

  const db = c.env.DB;
  const token = readBearerToken(c.req.header('Authorization'));
  const user = token ? await findUserByToken(db, token) : null;
  const scope = user ? `user:${user.id}` : `ip:${readClientIp(c)}`;
  const requestHash = await hashSha256Hex(
    `${c.req.method} ${new URL(c.req.url).pathname}\n${await c.req.text()}`,
  );

  const claimed = await db
    .prepare(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status, response_body, created_at)
       VALUES (?, ?, ?, ?, '', ?) ON CONFLICT (scope, key) DO NOTHING`,
    )
    .bind(scope, key, requestHash, IN_FLIGHT_STATUS, Date.now())
    .run();
  if (claimed.meta.changes === 0) {
    const stored = await db
      .prepare('SELECT request_hash, status, response_body FROM idempotency_keys WHERE scope = ? AND key = ?')
      .bind(scope, key)
      .first<StoredResponse>();
    if (stored && stored.request_hash !== requestHash) {
      throw unprocessable('This Idempotency-Key was already used with a different request');
    }
    if (!stored || stored.status === IN_FLIGHT_STATUS) {
      throw conflict('A request with this Idempotency-Key is still in progress');
    }
    return new Response(stored.response_body || null, {
      status: stored.status,
      headers: { 'Content-Type': 'application/json', [REPLAYED_HEADER]: 'true' },
    });
  }

  await next();
  const status = c.res.status;
  const type = c.res.headers.get('Content-Type') ?? '';
  const replayable =
    status < 500 && !TRANSIENT_STATUSES.has(status) && (status === 204 || type.includes('json'));
  if (replayable) {
    await db
      .prepare('UPDATE idempotency_keys SET status = ?, response_body = ? WHERE scope = ? AND key = ?')
      .bind(status, status === 204 ? '' : await c.res.clone().text(), scope, key)
      .run();
  } else {
    // Release the key so that the client's retry runs the request again.
    await db.prepare('DELETE FROM idempotency_keys WHERE scope = ? AND key = ?').bind(scope, key).run();
  }
};
