// Idempotency-Key on POST: the first response (status + JSON body) is stored per (caller, key)
// together with a hash of method, path and body bytes. A replay with the same request gets the
// stored response and `Idempotent-Replayed: true`; the same key with another request is 422.
//
// Credentials are never stored, in keeping with "tokens stored hashed" and "stream keys stored
// only as a hash":
// - Stream keys (POST /streams/start, POST /channels/{id}/stream-key/reset): the handler marks the
//   response with markStreamKeyReissue; the stored copy has the key nulled out (and `srt_url`,
//   which carries the key and its SRT passphrase), and a replay derives the channel's current key
//   and its SRT URL again (a key reset since then would make the old one useless
//   anyway). Running a reset again instead would rotate the key a second time and cut off a
//   publisher who already uses the first new key.
// - Session tokens (signup, login) cannot be derived again, and their request bodies carry a
//   password, of which even the stored request hash (a fast, unsalted SHA-256) would be a
//   crackable copy. So these requests bypass the key entirely and simply run again, which is safe:
//   a repeated login is another login (rate-limited like any), and a repeated signup answers 409
//   for the name its first run took, after which the client logs in.
import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { findUserByToken, readBearerToken } from '../../shared/auth.ts';
import { hashSha256Hex } from '../../shared/crypto.ts';
import { badRequest, conflict, notFound, unprocessable } from '../../shared/errors.ts';
import { buildSrtUrl, deriveStreamKey } from '../../shared/stream-keys.ts';
import { readClientNetwork } from '../lib/router.ts';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** Keys older than this are swept by the cron (workers/cron.ts). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A claim still in flight after this long belongs to a request that was cut off before it could
 * settle its key (no API request runs anywhere near this long), so a retry may claim it again
 * instead of getting 409 for a day.
 */
export const IN_FLIGHT_TIMEOUT_MS = 60_000;
/** Marks a key whose first request is still running. */
const IN_FLIGHT_STATUS = 0;
/** Responses worth replaying: a 401 or 429 says "try again later", not "this is the outcome". */
const TRANSIENT_STATUSES = new Set([401, 429]);
/** Requests whose bodies carry a password: they run without idempotency (see above). */
const PASSWORD_PATHS = /\/auth\/(?:signup|login)$/;

/** The credentials a stored response leaves out: `stream_key` is the id of the channel whose key it is. */
const Reissue = z.object({ stream_key: z.string() });
export type Reissue = z.infer<typeof Reissue>;

/** Context variables the API's handlers may set for this middleware. */
export interface IdempotencyVariables {
  reissue: Reissue | undefined;
}

const StoredResponse = z.object({
  request_hash: z.string(),
  status: z.number().int(),
  response_body: z.string(),
  reissue: z.string().nullable(),
  created_at: z.number(),
});
type StoredResponse = z.infer<typeof StoredResponse>;
const JsonObject = z.record(z.string(), z.unknown());

/** Tells the middleware that this response's `stream_key` is the channel's key: never store it. */
export function markStreamKeyReissue(
  c: { set(key: 'reissue', value: Reissue | undefined): void },
  channelId: string,
): void {
  c.set('reissue', { stream_key: channelId });
}

async function hashRequest(c: Context): Promise<string> {
  // The raw bytes of a clone: the handler still reads the body, and a binary upload is hashed as
  // it is rather than as UTF-8 text (which would map different bytes to the same replacement).
  const body = new Uint8Array(await c.req.raw.clone().arrayBuffer());
  const head = new TextEncoder().encode(`${c.req.method} ${new URL(c.req.url).pathname}\n`);
  const bytes = new Uint8Array(head.byteLength + body.byteLength);
  bytes.set(head);
  bytes.set(body, head.byteLength);
  return hashSha256Hex(bytes);
}

/** The response body as stored: the credentials named by `reissue` replaced by null. */
function redactBody(text: string, reissue: Reissue | undefined): string {
  if (!reissue) return text;
  const body = JsonObject.parse(JSON.parse(text));
  // The SRT URL carries the key (its streamid) and the passphrase derived from it.
  return JSON.stringify({ ...body, stream_key: null, ...('srt_url' in body ? { srt_url: null } : {}) });
}

/** The stored response, with the credentials it left out issued again. */
async function replayResponse(env: Env, stored: StoredResponse): Promise<Response> {
  let body = stored.response_body;
  if (stored.reissue !== null) {
    const reissue = Reissue.parse(JSON.parse(stored.reissue));
    const channel = await env.DB.prepare('SELECT stream_key_version FROM channels WHERE id = ?')
      .bind(reissue.stream_key)
      .first<{ stream_key_version: number }>();
    if (!channel) throw notFound('Channel');
    const streamKey = await deriveStreamKey(
      env.STREAM_KEY_SECRET,
      reissue.stream_key,
      channel.stream_key_version,
    );
    const parsed = JsonObject.parse(JSON.parse(body));
    const srtUrl =
      'srt_url' in parsed
        ? { srt_url: await buildSrtUrl(env.SRT_INGEST_URL, env.STREAM_KEY_SECRET, streamKey) }
        : {};
    body = JSON.stringify({ ...parsed, stream_key: streamKey, ...srtUrl });
  }
  return new Response(body || null, {
    status: stored.status,
    headers: { 'Content-Type': 'application/json', [REPLAYED_HEADER]: 'true' },
  });
}

/**
 * Claims (scope, key) for this request. Returns null when claimed (the request should run), or
 * the stored response to replay; throws 409 while another request holds it and 422 for a key used
 * with another request.
 */
async function claimKey(
  db: D1Database,
  scope: string,
  key: string,
  requestHash: string,
  now: number,
): Promise<StoredResponse | null> {
  const claimed = await db
    .prepare(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status, response_body, created_at)
       VALUES (?, ?, ?, ?, '', ?) ON CONFLICT (scope, key) DO NOTHING`,
    )
    .bind(scope, key, requestHash, IN_FLIGHT_STATUS, now)
    .run();
  if (claimed.meta.changes > 0) return null;
  const found = await db
    .prepare(
      'SELECT request_hash, status, response_body, reissue, created_at FROM idempotency_keys WHERE scope = ? AND key = ?',
    )
    .bind(scope, key)
    .first();
  // Released between the two statements: the other request failed and its client will retry.
  if (!found) throw conflict('A request with this Idempotency-Key is still in progress');
  const stored = StoredResponse.parse(found);
  if (stored.request_hash !== requestHash) {
    throw unprocessable('This Idempotency-Key was already used with a different request');
  }
  if (stored.status !== IN_FLIGHT_STATUS) return stored;
  if (stored.created_at > now - IN_FLIGHT_TIMEOUT_MS) {
    throw conflict('A request with this Idempotency-Key is still in progress');
  }
  // Abandoned. Compare-and-set on created_at, so that of two retries racing for it only one runs.
  const reclaimed = await db
    .prepare(
      'UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND key = ? AND status = ? AND created_at = ?',
    )
    .bind(now, scope, key, IN_FLIGHT_STATUS, stored.created_at)
    .run();
  if (reclaimed.meta.changes === 0)
    throw conflict('A request with this Idempotency-Key is still in progress');
  return null;
}

export const handleIdempotencyKey: MiddlewareHandler<{
  Bindings: Env;
  Variables: IdempotencyVariables;
}> = async (c, next) => {
  const key = c.req.header(IDEMPOTENCY_HEADER);
  if (c.req.method !== 'POST' || key === undefined || PASSWORD_PATHS.test(c.req.path)) return next();
  if (key.length === 0 || key.length > 255) throw badRequest('Idempotency-Key must be 1-255 characters');

  const db = c.env.DB;
  const token = readBearerToken(c.req.header('Authorization'));
  const user = token ? await findUserByToken(db, token) : null;
  const scope = user ? `user:${user.id}` : `ip:${readClientNetwork(c)}`;
  const stored = await claimKey(db, scope, key, await hashRequest(c), Date.now());
  if (stored) return replayResponse(c.env, stored);

  await next();
  const status = c.res.status;
  const type = c.res.headers.get('Content-Type') ?? '';
  const replayable =
    status < 500 && !TRANSIENT_STATUSES.has(status) && (status === 204 || type.includes('json'));
  if (replayable) {
    const reissue = status < 300 ? c.get('reissue') : undefined;
    const body = status === 204 ? '' : redactBody(await c.res.clone().text(), reissue);
    await db
      .prepare(
        'UPDATE idempotency_keys SET status = ?, response_body = ?, reissue = ? WHERE scope = ? AND key = ?',
      )
      .bind(status, body, reissue ? JSON.stringify(reissue) : null, scope, key)
      .run();
  } else {
    // Release the key so that the client's retry runs the request again.
    await db.prepare('DELETE FROM idempotency_keys WHERE scope = ? AND key = ?').bind(scope, key).run();
  }
};
