// Helix /eventsub/subscriptions (https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription):
// create (POST), list (GET) and delete (DELETE), mounted into the Helix app so Client-Id, the
// Bearer token, the rate limit and Twitch's error shape come from workers/helix/auth.ts.
//
// As Twitch: a WebSocket subscription takes a user access token and the id of a connected session
// of that user; a webhook subscription takes an app access token, an https callback on port 443
// and a 10-100 character secret, and starts as webhook_callback_verification_pending until the
// callback echoes the challenge. Each type's scope must be held by the user the condition names
// (catalog.ts): in the user token, or, for webhooks, in a grant that user gave the client. Unknown
// or unsupported types and versions, malformed conditions and duplicates are refused.
import { Hono } from 'hono';
import { z } from 'zod';
import { HelixError, type HelixVariables, requireTokenUser } from '../helix/auth.ts';
import { KeyIdPosition, paginate, readAfter, readFirst } from '../helix/params.ts';
import { hasScope, parseScopes } from '../oauth/tokens.ts';
import { findChannelField, findTypeSpec, isSubscriptionType, type SubscriptionTypeSpec } from './catalog.ts';
import {
  computeCost,
  parseRows,
  SUBSCRIPTION_COLUMNS,
  type SubscriptionRow,
  toSubscriptionView,
} from './subscriptions.ts';

/** Twitch: "the maximum number of enabled subscriptions per WebSocket connection is 300". */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 300;
/** Twitch: three WebSocket connections with enabled subscriptions per client and user. */
export const MAX_SESSIONS_PER_USER = 3;
/** Twitch's max_total_cost, applied as a count of subscriptions per client. */
export const MAX_SUBSCRIPTIONS_PER_CLIENT = 10_000;
const MAX_CALLBACK_LENGTH = 2048;

const CreateBody = z.object({
  type: z.string().min(1).max(100),
  version: z.string().min(1).max(10),
  condition: z.record(z.string(), z.unknown()),
  transport: z.discriminatedUnion('method', [
    z.object({
      method: z.literal('webhook'),
      callback: z.string().min(1).max(MAX_CALLBACK_LENGTH),
      secret: z.string(),
    }),
    z.object({ method: z.literal('websocket'), session_id: z.string().min(1).max(100) }),
  ]),
});

const SessionRow = z.object({ client_id: z.string().nullable(), user_id: z.string().nullable() });
const GrantScopes = z.object({ scopes: z.string() });
const Count = z.object({ n: z.number() });

export const eventSubApiApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>();

/** "The callback must use SSL and port 443"; plain http to loopback only where a test enables it. */
function checkCallback(callback: string, env: Env): void {
  let url: URL;
  try {
    url = new URL(callback);
  } catch {
    throw new HelixError(400, 'The callback URL is not valid');
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  const allowHttp = z.object({ EVENTSUB_ALLOW_HTTP_CALLBACKS: z.literal('true') }).safeParse(env).success;
  if (url.protocol === 'https:' && (url.port === '' || url.port === '443')) return;
  if (url.protocol === 'http:' && loopback && allowHttp) return;
  throw new HelixError(400, 'The callback must use https on port 443');
}

async function countRows(db: D1Database, sql: string, ...binds: unknown[]): Promise<number> {
  return Count.parse(
    await db
      .prepare(sql)
      .bind(...binds)
      .first(),
  ).n;
}

/** Whether `userId` is the broadcaster of `broadcasterId` or one of its moderators. */
async function canModerate(db: D1Database, broadcasterId: string, userId: string): Promise<boolean> {
  if (broadcasterId === userId) return true;
  const row = await db
    .prepare(
      `SELECT 1 AS one FROM channel_roles r JOIN channels c ON c.id = r.channel_id
       WHERE c.user_id = ? AND r.user_id = ? AND r.role = 'moderator'`,
    )
    .bind(broadcasterId, userId)
    .first();
  return row !== null;
}

/** The scope check of catalog.ts: the condition's authorizing user holds one of the type's scopes. */
async function authorize(
  env: Env,
  spec: SubscriptionTypeSpec,
  condition: Record<string, string>,
  token: HelixVariables['token'],
): Promise<string | null> {
  if (spec.authorizingField === null) return token.userId;
  const authorizer = condition[spec.authorizingField] ?? '';
  const refused = new HelixError(403, 'subscription missing proper authorization');
  if (token.userId !== null) {
    if (authorizer !== token.userId || !hasScope(token, ...spec.scopes)) throw refused;
  } else {
    const grants = await env.DB.prepare('SELECT scopes FROM oauth_grants WHERE client_id = ? AND user_id = ?')
      .bind(token.clientId, authorizer)
      .all();
    const scopes = grants.results.flatMap((row) => parseScopes(GrantScopes.parse(row).scopes));
    if (!hasScope({ scopes }, ...spec.scopes)) throw refused;
  }
  const { broadcasterId: broadcaster } = findChannelField(spec, condition);
  if (spec.moderatorMayAuthorize && !(await canModerate(env.DB, broadcaster, authorizer))) throw refused;
  return authorizer;
}

eventSubApiApp.post('/eventsub/subscriptions', async (c) => {
  const body = CreateBody.safeParse(await c.req.json().catch(() => null));
  if (!body.success) throw new HelixError(400, 'Invalid request body');
  const { type, version, transport } = body.data;
  if (!isSubscriptionType(type) || findTypeSpec(type).version !== version)
    throw new HelixError(400, 'The combination of values in the type and version fields is not valid');
  const spec = findTypeSpec(type);
  const parsedCondition = spec.condition.safeParse(body.data.condition);
  if (!parsedCondition.success)
    throw new HelixError(400, 'The condition is not valid for this subscription type');
  const condition = parsedCondition.data;
  const token = c.get('token');
  const { field: channelField, broadcasterId } = findChannelField(spec, condition);
  const channel = await c.env.DB.prepare('SELECT 1 AS one FROM channels WHERE user_id = ?')
    .bind(broadcasterId)
    .first();
  if (channel === null) throw new HelixError(400, `The ${channelField} is not a broadcaster`);
  if (transport.method === 'websocket') {
    const userId = requireTokenUser(c);
    const session = await c.env.DB.prepare('SELECT client_id, user_id FROM eventsub_sessions WHERE id = ?')
      .bind(transport.session_id)
      .first();
    if (session === null)
      throw new HelixError(400, 'The websocket session does not exist or has already disconnected');
    const owner = SessionRow.parse(session);
    if (owner.client_id !== null && (owner.client_id !== token.clientId || owner.user_id !== userId))
      throw new HelixError(403, 'The websocket session belongs to another client or user');
  } else {
    if (token.userId !== null) throw new HelixError(400, 'Webhook subscriptions require an app access token');
    checkCallback(transport.callback, c.env);
    if (
      transport.secret.length < 10 ||
      transport.secret.length > 100 ||
      !/^[\x20-\x7e]+$/.test(transport.secret)
    )
      throw new HelixError(400, 'The secret must be 10 to 100 ASCII characters');
  }
  const authorizer = await authorize(c.env, spec, condition, token);
  const conditionJson = JSON.stringify(condition);
  const db = c.env.DB;
  const duplicate = await db
    .prepare(
      `SELECT 1 AS one FROM eventsub_subscriptions WHERE client_id = ? AND type = ? AND version = ? AND condition = ?
       AND transport_method = ? AND coalesce(callback, session_id) = ?`,
    )
    .bind(
      token.clientId,
      type,
      version,
      conditionJson,
      transport.method,
      transport.method === 'webhook' ? transport.callback : transport.session_id,
    )
    .first();
  if (duplicate !== null) throw new HelixError(409, 'subscription already exists');
  const total = await countRows(
    db,
    'SELECT count(*) AS n FROM eventsub_subscriptions WHERE client_id = ?',
    token.clientId,
  );
  if (total >= MAX_SUBSCRIPTIONS_PER_CLIENT) {
    c.header('Retry-After', '60');
    throw new HelixError(429, 'The maximum number of subscriptions for this client has been reached');
  }
  if (transport.method === 'websocket') {
    const onSession = await countRows(
      db,
      'SELECT count(*) AS n FROM eventsub_subscriptions WHERE session_id = ?',
      transport.session_id,
    );
    const sessions = await countRows(
      db,
      `SELECT count(*) AS n FROM eventsub_sessions WHERE client_id = ? AND user_id = ? AND id != ?`,
      token.clientId,
      token.userId,
      transport.session_id,
    );
    if (onSession >= MAX_SUBSCRIPTIONS_PER_SESSION || sessions >= MAX_SESSIONS_PER_USER) {
      c.header('Retry-After', '60');
      throw new HelixError(
        429,
        'The number of websocket transports or subscriptions per transport is exceeded',
      );
    }
  }
  const now = Date.now();
  const row: SubscriptionRow = {
    id: crypto.randomUUID(),
    type,
    version,
    status: transport.method === 'websocket' ? 'enabled' : 'webhook_callback_verification_pending',
    condition: conditionJson,
    broadcaster_id: broadcasterId,
    client_id: token.clientId,
    user_id: authorizer,
    transport_method: transport.method,
    callback: transport.method === 'webhook' ? transport.callback : null,
    secret: transport.method === 'webhook' ? transport.secret : null,
    session_id: transport.method === 'websocket' ? transport.session_id : null,
    created_at: now,
  };
  await db.batch([
    db
      .prepare(
        `INSERT INTO eventsub_subscriptions (${SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(...Object.values(row)),
    db
      .prepare('UPDATE eventsub_sessions SET client_id = ?, user_id = ? WHERE id = ? AND client_id IS NULL')
      .bind(token.clientId, token.userId, row.session_id),
  ]);
  const view = toSubscriptionView(row);
  if (transport.method === 'webhook')
    await c.env.EVENTSUB_WEBHOOK.getByName(row.id).start(view, transport.secret);
  return c.json(
    { data: [view], total: total + 1, total_cost: 0, max_total_cost: MAX_SUBSCRIPTIONS_PER_CLIENT },
    202,
  );
});

eventSubApiApp.get('/eventsub/subscriptions', async (c) => {
  const token = c.get('token');
  const first = readFirst(c, 100);
  const after = readAfter(c, KeyIdPosition);
  const filters: string[] = ['client_id = ?'];
  const binds: unknown[] = [token.clientId];
  if (token.userId !== null) {
    filters.push('user_id = ?');
    binds.push(token.userId);
  }
  for (const [param, column] of [
    ['status', 'status'],
    ['type', 'type'],
    ['user_id', 'user_id'],
    ['subscription_id', 'id'],
  ] as const) {
    const value = c.req.query(param);
    if (value === undefined || value === '') continue;
    filters.push(`${column} = ?`);
    binds.push(value.slice(0, 200));
  }
  const where = filters.join(' AND ');
  const page = after ? ' AND (created_at, id) > (?, ?)' : '';
  const { results } = await c.env.DB.prepare(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM eventsub_subscriptions WHERE ${where}${page} ORDER BY created_at, id LIMIT ?`,
  )
    .bind(...binds, ...(after ? [after.key, after.id] : []), first + 1)
    .all();
  const rows = parseRows(results);
  const { page: shown, pagination } = paginate(rows, first, (last) => ({
    key: last.created_at,
    id: last.id,
  }));
  const total = await countRows(
    c.env.DB,
    `SELECT count(*) AS n FROM eventsub_subscriptions WHERE ${where}`,
    ...binds,
  );
  return c.json({
    data: shown.map(toSubscriptionView),
    total,
    total_cost: shown.reduce((sum, row) => sum + computeCost(row), 0),
    max_total_cost: MAX_SUBSCRIPTIONS_PER_CLIENT,
    pagination,
  });
});

eventSubApiApp.delete('/eventsub/subscriptions', async (c) => {
  const token = c.get('token');
  const id = c.req.query('id');
  if (id === undefined || id === '' || id.length > 100)
    throw new HelixError(400, 'Missing required parameter "id"');
  const deleted = await c.env.DB.prepare(
    `DELETE FROM eventsub_subscriptions WHERE id = ? AND client_id = ? AND (? IS NULL OR user_id = ?)
     RETURNING transport_method`,
  )
    .bind(id, token.clientId, token.userId, token.userId)
    .first();
  if (deleted === null) throw new HelixError(404, 'Subscription not found');
  if (z.object({ transport_method: z.string() }).parse(deleted).transport_method === 'webhook')
    await c.env.EVENTSUB_WEBHOOK.getByName(id).stop();
  return c.body(null, 204);
});
