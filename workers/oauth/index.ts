// The OAuth2 server under /oauth2/, shaped as Twitch's id.twitch.tv/oauth2/ (docs/twitch-compat.md):
// authorize (authorization code with PKCE; the consent page is the web app's), token (authorization
// code, client credentials, refresh token, device code), device, validate, revoke and OpenID Connect (userinfo, id_token, keys, discovery). Twitch's
// answers and error bodies (`{status, message}`) so Twitch client libraries work unchanged. The
// consent and /activate pages post the user's decision with the web app's session token, which
// an OAuth token can never stand in for.
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { requireUser } from '../shared/auth.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { enforceRateLimit } from '../shared/rate-limit.ts';
import { checkClientSecret, findApp, type OAuthApp } from './apps.ts';
import {
  buildRedirect,
  checkAuthorizationRequest,
  createAuthorizationCode,
  redeemAuthorizationCode,
} from './authorization-code.ts';
import {
  createDeviceCode,
  DEVICE_CODE_TTL_MS,
  DEVICE_POLL_INTERVAL_SECONDS,
  decideDeviceCode,
  findPendingDeviceCode,
  pollDeviceCode,
} from './device-code.ts';
import { ID_TOKEN_TTL_SECONDS, loadSigningKey, signIdToken } from './id-token.ts';
import { MAX_OAUTH_BODY_BYTES, parseScopeParam, readOAuthParams, twitchOAuthError } from './params.ts';
import { issueTokens, refreshGrant, revokeToken, TWITCH_SCOPES, validateAccessToken } from './tokens.ts';

/** /activate attempts per user and minute: user codes cannot be guessed by trying (device-code.ts). */
const ACTIVATE_RATE_LIMIT = { name: 'oauth-activate', limit: 10, windowMs: 60_000 };

/** A malformed body from the web app's pages is this API's 400, as anywhere else in /api/v1. */
const validationHook = (result: { success: boolean; error?: { issues: unknown } }) => {
  if (!result.success) throw badRequest('Request validation failed', result.error?.issues);
};

const UserInfoRow = z.object({ username: z.string(), avatar_url: z.string().nullable() });

const DEVICE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

function describeScopes(scopes: readonly string[]) {
  return scopes.map((scope) => ({
    scope,
    description: scope in TWITCH_SCOPES ? TWITCH_SCOPES[scope as keyof typeof TWITCH_SCOPES] : scope,
  }));
}

const AuthorizeDecision = z.object({
  query: z.string().max(4000),
  decision: z.enum(['allow', 'deny']),
});
const ActivateDecision = z.object({
  user_code: z.string().min(1).max(32),
  decision: z.enum(['allow', 'deny']),
});

export const oauth2App = new Hono<{ Bindings: Env }>()
  .use(
    '*',
    bodyLimit({
      maxSize: MAX_OAUTH_BODY_BYTES,
      onError: (c) => twitchOAuthError(c, 413, 'request body too large'),
    }),
  )
  // The consent page: the request is checked first, and an unknown client or an unregistered
  // redirect URI gets an error page, never a redirect.
  .get('/authorize', async (c) => {
    const check = await checkAuthorizationRequest(c.env.DB, new URL(c.req.url).searchParams);
    switch (check.kind) {
      case 'invalid-client':
        return twitchOAuthError(c, 400, 'invalid client');
      case 'bad-redirect':
        return twitchOAuthError(c, 400, 'Parameter redirect_uri does not match registered URI');
      case 'redirect-error':
        return c.redirect(
          buildRedirect(check.redirectUri, {
            error: check.error,
            error_description: check.description,
            state: check.state,
          }),
        );
      case 'ok':
        // The web app's consent page (web/src/pages/oauth-consent-page.tsx) renders at this path.
        return c.env.ASSETS.fetch(new Request(new URL('/', c.req.url)));
    }
  })
  // What the consent page shows: the application and the scopes, described.
  .get('/authorize/details', async (c) => {
    const check = await checkAuthorizationRequest(c.env.DB, new URL(c.req.url).searchParams);
    if (check.kind === 'invalid-client') return twitchOAuthError(c, 400, 'invalid client');
    if (check.kind === 'bad-redirect')
      return twitchOAuthError(c, 400, 'Parameter redirect_uri does not match registered URI');
    if (check.kind === 'redirect-error') return twitchOAuthError(c, 400, check.description);
    const { app, redirectUri, scopes } = check.request;
    return c.json({
      client_id: app.clientId,
      name: app.name,
      redirect_uri: redirectUri,
      scopes: describeScopes(scopes),
    });
  })
  // The signed-in user's decision; the page navigates to the redirect it gets back.
  .post('/authorize', requireUser, zValidator('json', AuthorizeDecision, validationHook), async (c) => {
    const body = c.req.valid('json');
    const check = await checkAuthorizationRequest(c.env.DB, new URLSearchParams(body.query));
    if (check.kind === 'invalid-client' || check.kind === 'bad-redirect')
      throw badRequest('Invalid authorization request');
    if (check.kind === 'redirect-error') {
      const redirect = buildRedirect(check.redirectUri, {
        error: check.error,
        error_description: check.description,
        state: check.state,
      });
      return c.json({ redirect_to: redirect });
    }
    if (body.decision === 'deny') {
      const redirect = buildRedirect(check.request.redirectUri, {
        error: 'access_denied',
        error_description: 'The user denied you access',
        state: check.request.state,
      });
      return c.json({ redirect_to: redirect });
    }
    return c.json({ redirect_to: await createAuthorizationCode(c.env.DB, check.request, c.get('user').id) });
  })
  .post('/device', async (c) => {
    const params = await readOAuthParams(c);
    const app = await findApp(c.env.DB, params.get('client_id') ?? '');
    if (app === null) return twitchOAuthError(c, 400, 'invalid client');
    const scopes = parseScopeParam(params.get('scopes') ?? params.get('scope'));
    if (!scopes.ok) return twitchOAuthError(c, 400, 'invalid scope requested');
    const { deviceCode, userCode } = await createDeviceCode(c.env.DB, app.clientId, scopes.scopes);
    const verification = new URL('/activate', c.req.url);
    verification.searchParams.set('device-code', userCode);
    return c.json({
      device_code: deviceCode,
      expires_in: DEVICE_CODE_TTL_MS / 1000,
      interval: DEVICE_POLL_INTERVAL_SECONDS,
      user_code: userCode,
      verification_uri: verification.toString(),
    });
  })
  .get('/activate/details', requireUser, async (c) => {
    await enforceRateLimit(c.env, ACTIVATE_RATE_LIMIT, c.get('user').id, 'Too many activation codes tried');
    const pending = await findPendingDeviceCode(c.env.DB, c.req.query('user_code') ?? '');
    const app = pending === null ? null : await findApp(c.env.DB, pending.clientId);
    if (pending === null || app === null) throw notFound('Activation code');
    return c.json({ client_id: app.clientId, name: app.name, scopes: describeScopes(pending.scopes) });
  })
  .post('/activate', requireUser, zValidator('json', ActivateDecision, validationHook), async (c) => {
    const user = c.get('user');
    await enforceRateLimit(c.env, ACTIVATE_RATE_LIMIT, user.id, 'Too many activation codes tried');
    const body = c.req.valid('json');
    const decided = await decideDeviceCode(c.env.DB, body.user_code, user.id, body.decision === 'allow');
    if (!decided) throw notFound('Activation code');
    return c.json({ ok: true, decision: body.decision });
  })
  .post('/token', async (c) => {
    const params = await readOAuthParams(c);
    const clientId = params.get('client_id');
    if (clientId === null) return twitchOAuthError(c, 400, 'missing client id');
    const app = await findApp(c.env.DB, clientId);
    if (app === null) return twitchOAuthError(c, 400, 'invalid client');
    const grantType = params.get('grant_type');
    // A confidential client proves itself with its secret on every grant but the device code
    // grant, which Twitch lets public and confidential clients use without one.
    const secretOk = async (required: boolean) =>
      app.clientType === 'public' && !required
        ? true
        : checkClientSecret(app, params.get('client_secret') ?? undefined);
    switch (grantType) {
      case 'authorization_code': {
        if (!(await secretOk(false))) return twitchOAuthError(c, 403, 'invalid client secret');
        const exchange = await redeemAuthorizationCode(
          c.env.DB,
          app,
          params.get('code') ?? '',
          params.get('redirect_uri'),
          params.get('code_verifier'),
        );
        if (exchange.kind === 'invalid') return twitchOAuthError(c, 400, 'Invalid authorization code');
        const tokens = await issueTokens(c.env.DB, {
          clientId: app.clientId,
          userId: exchange.userId,
          scopes: exchange.scopes,
        });
        // OpenID Connect Core 3.1.3.3: the token answer of an openid request carries an id_token.
        const idToken = exchange.scopes.includes('openid')
          ? await createIdToken(
              c.env,
              new URL(c.req.url).origin,
              app.clientId,
              exchange.userId,
              exchange.nonce,
            )
          : null;
        return c.json(idToken === null ? tokens : { ...tokens, id_token: idToken });
      }
      case 'client_credentials': {
        if (!(await secretOk(true))) return twitchOAuthError(c, 403, 'invalid client secret');
        const scopes = parseScopeParam(params.get('scope'));
        if (!scopes.ok) return twitchOAuthError(c, 400, 'invalid scope requested');
        const tokens = await issueTokens(c.env.DB, {
          clientId: app.clientId,
          userId: null,
          scopes: scopes.scopes,
        });
        return c.json(tokens);
      }
      case 'refresh_token': {
        if (!(await secretOk(false))) return twitchOAuthError(c, 403, 'invalid client secret');
        const outcome = await refreshGrant(c.env.DB, app.clientId, params.get('refresh_token') ?? '');
        if (outcome.kind !== 'refreshed')
          return c.json({ error: 'Bad Request', status: 400, message: 'Invalid refresh token' }, 400);
        return c.json(outcome.tokens);
      }
      case DEVICE_GRANT_TYPE:
        return answerDevicePoll(c.env.DB, app, params.get('device_code') ?? '', (status, message) =>
          twitchOAuthError(c, status, message),
        );
      default:
        return twitchOAuthError(c, 400, 'unsupported grant type');
    }
  })
  // Twitch accepts `Authorization: OAuth <token>` here, and Bearer as well.
  .get('/validate', async (c) => {
    const match = c.req.header('Authorization')?.match(/^(?:OAuth|Bearer)\s+(\S+)\s*$/i);
    if (!match?.[1]) return twitchOAuthError(c, 401, 'missing authorization token');
    const info = await validateAccessToken(c.env, match[1]);
    if (info === null) return twitchOAuthError(c, 401, 'invalid access token');
    const expiresIn = Math.max(0, Math.floor((info.expiresAt - Date.now()) / 1000));
    if (info.userId === null)
      return c.json({ client_id: info.clientId, scopes: info.scopes, expires_in: expiresIn });
    return c.json({
      client_id: info.clientId,
      login: info.login?.toLowerCase() ?? null,
      scopes: info.scopes,
      user_id: info.userId,
      expires_in: expiresIn,
    });
  })
  // OpenID Connect's UserInfo endpoint (https://openid.net/specs/openid-connect-core-1_0.html#UserInfo),
  // as Twitch's: "the access token must include the openid scope". The claims are the standard
  // ones this platform can answer for; `email` is never shared, and the `claims` request
  // parameter is not supported (docs/twitch-compat.md).
  .get('/userinfo', async (c) => {
    const match = c.req.header('Authorization')?.match(/^Bearer\s+(\S+)\s*$/i);
    if (!match?.[1]) return twitchOAuthError(c, 401, 'missing authorization token');
    const info = await validateAccessToken(c.env, match[1]);
    if (info === null) return twitchOAuthError(c, 401, 'invalid access token');
    if (info.userId === null || !info.scopes.includes('openid'))
      return twitchOAuthError(c, 401, 'the access token does not include the openid scope');
    const row = await c.env.DB.prepare(
      'SELECT u.username, c.avatar_url FROM users u LEFT JOIN channels c ON c.user_id = u.id WHERE u.id = ?',
    )
      .bind(info.userId)
      .first();
    const user = UserInfoRow.parse(row);
    const now = Math.floor(Date.now() / 1000);
    return c.json({
      aud: info.clientId,
      azp: info.clientId,
      exp: Math.floor(info.expiresAt / 1000),
      iat: now,
      iss: `${new URL(c.req.url).origin}/oauth2`,
      sub: info.userId,
      preferred_username: user.username.toLowerCase(),
      picture: user.avatar_url ?? '',
    });
  })
  // The JWKS that verifies id_tokens (RFC 7517 section 5); empty when no key is configured.
  .get('/keys', async (c) => {
    const key = await loadSigningKey(c.env);
    return c.json({ keys: key ? [key.publicJwk] : [] });
  })
  // OpenID Connect Discovery 1.0 section 4, at Twitch's path (id.twitch.tv/oauth2/.well-known/...).
  .get('/.well-known/openid-configuration', async (c) => {
    const base = `${new URL(c.req.url).origin}/oauth2`;
    return c.json({
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      userinfo_endpoint: `${base}/userinfo`,
      jwks_uri: `${base}/keys`,
      device_authorization_endpoint: `${base}/device`,
      revocation_endpoint: `${base}/revoke`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token', DEVICE_GRANT_TYPE],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid'],
      claims_supported: ['aud', 'azp', 'exp', 'iat', 'iss', 'sub', 'nonce', 'preferred_username', 'picture'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_post'],
    });
  })
  .post('/revoke', async (c) => {
    const params = await readOAuthParams(c);
    const app = await findApp(c.env.DB, params.get('client_id') ?? '');
    if (app === null) return twitchOAuthError(c, 404, 'client does not exist');
    const outcome = await revokeToken(c.env.DB, app.clientId, params.get('token') ?? '');
    if (outcome.kind === 'invalid') return twitchOAuthError(c, 400, 'Invalid token');
    return c.body(null, 200);
  });

/** The id_token for a code exchanged with the openid scope; null when no signing key is configured. */
async function createIdToken(
  env: Env,
  origin: string,
  clientId: string,
  userId: string,
  nonce: string | null,
): Promise<string | null> {
  const key = await loadSigningKey(env);
  if (key === null) return null;
  const row = await env.DB.prepare('SELECT username FROM users WHERE id = ?').bind(userId).first();
  const { username } = z.object({ username: z.string() }).parse(row);
  const iat = Math.floor(Date.now() / 1000);
  return signIdToken(key, {
    iss: `${origin}/oauth2`,
    sub: userId,
    aud: clientId,
    azp: clientId,
    iat,
    exp: iat + ID_TOKEN_TTL_SECONDS,
    ...(nonce === null ? {} : { nonce }),
    preferred_username: username.toLowerCase(),
  });
}

async function answerDevicePoll(
  db: D1Database,
  app: OAuthApp,
  deviceCode: string,
  refuse: (status: 400, message: string) => Response,
): Promise<Response> {
  const poll = await pollDeviceCode(db, app.clientId, deviceCode);
  switch (poll.kind) {
    case 'approved':
      return Response.json(
        await issueTokens(db, { clientId: app.clientId, userId: poll.userId, scopes: poll.scopes }),
      );
    case 'pending':
      return refuse(400, 'authorization_pending');
    case 'slow-down':
      return refuse(400, 'slow_down');
    case 'denied':
      return refuse(400, 'access_denied');
    case 'invalid':
      return refuse(400, 'invalid device code');
  }
}

export type OAuth2App = typeof oauth2App;
