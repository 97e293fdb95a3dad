// OpenID Connect as Twitch's id.twitch.tv: UserInfo at /oauth2/userinfo (a user token granted the
// openid scope gets its subject and standard claims; a token without openid, an app token, a
// revoked token and no token get Twitch's 401 body), and the id_token of an openid authorization
// code, RS256-signed with the key /oauth2/keys publishes, carrying the request's nonce.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeBase64, encodeBase64Url } from '../../workers/shared/crypto.ts';
import { signUp } from './api-helpers.ts';
import {
  approveAuthorization,
  createPkcePair,
  createUserToken,
  form,
  oauth,
  REDIRECT_URI,
  registerTestApp,
  TwitchOAuthError,
} from './oauth-helpers.ts';

const UserInfo = z.strictObject({
  aud: z.string(),
  azp: z.string(),
  exp: z.number(),
  iat: z.number(),
  iss: z.string(),
  sub: z.string(),
  preferred_username: z.string(),
  picture: z.string(),
});

function userinfo(token?: string) {
  return oauth('/userinfo', token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
}

describe('OIDC /oauth2/userinfo', () => {
  it('answers a token granted with openid with its subject, audience and username, and no email', async () => {
    const { user, app, tokens } = await createUserToken(['openid', 'user:read:email']);
    expect(tokens.scope).toContain('openid');
    const res = await userinfo(tokens.access_token);
    expect(res.status).toBe(200);
    const claims = UserInfo.parse(await res.json());
    expect(claims).toMatchObject({
      aud: app.client_id,
      azp: app.client_id,
      iss: 'http://localhost/oauth2',
      sub: user.user.id,
      preferred_username: user.user.username.toLowerCase(),
    });
    const now = Date.now() / 1000;
    expect(claims.exp).toBeGreaterThan(now);
    expect(Math.abs(claims.iat - now)).toBeLessThan(60);
  });

  it('refuses no token, a token without openid, an app token and a revoked token with 401', async () => {
    const withoutOpenId = await createUserToken(['chat:read']);
    const granted = await createUserToken(['openid']);
    const appToken = await oauth(
      '/token',
      form({
        grant_type: 'client_credentials',
        client_id: granted.app.client_id,
        client_secret: granted.app.client_secret ?? '',
        scope: 'openid',
      }),
    );
    const app = z.object({ access_token: z.string() }).parse(await appToken.json()).access_token;
    await oauth('/revoke', form({ client_id: granted.app.client_id, token: granted.tokens.access_token }));
    for (const [token, message] of [
      [undefined, 'missing authorization token'],
      [withoutOpenId.tokens.access_token, 'the access token does not include the openid scope'],
      [app, 'the access token does not include the openid scope'],
      [granted.tokens.access_token, 'invalid access token'],
    ] as const) {
      const res = await userinfo(token);
      expect(res.status).toBe(401);
      expect(TwitchOAuthError.parse(await res.json())).toEqual({ status: 401, message });
    }
  });
});

const Jwks = z.object({
  keys: z.array(
    z.object({
      kty: z.literal('RSA'),
      n: z.string(),
      e: z.string(),
      kid: z.string(),
      alg: z.literal('RS256'),
    }),
  ),
});
const IdTokenClaims = z.object({
  iss: z.string(),
  sub: z.string(),
  aud: z.string(),
  azp: z.string(),
  iat: z.number(),
  exp: z.number(),
  nonce: z.string().optional(),
  preferred_username: z.string(),
});

function decodeSegment(segment: string): Uint8Array {
  const base64 = segment.replaceAll('-', '+').replaceAll('_', '/');
  return decodeBase64(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='));
}

/** Verifies a compact RS256 JWS against the published JWKS; its claims, or null when it does not verify. */
async function verifyIdToken(idToken: string): Promise<z.infer<typeof IdTokenClaims> | null> {
  const [header = '', payload = '', signature = ''] = idToken.split('.');
  const { kid } = z
    .object({ alg: z.literal('RS256'), kid: z.string() })
    .parse(JSON.parse(new TextDecoder().decode(decodeSegment(header))));
  const jwks = Jwks.parse(await (await oauth('/keys')).json());
  const jwk = jwks.keys.find((key) => key.kid === kid);
  if (!jwk) return null;
  const key = await crypto.subtle.importKey(
    'jwk',
    { kty: jwk.kty, n: jwk.n, e: jwk.e },
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const ok = await crypto.subtle.verify(
    'RSASSA-PKCS1-v1_5',
    key,
    decodeSegment(signature),
    new TextEncoder().encode(`${header}.${payload}`),
  );
  return ok ? IdTokenClaims.parse(JSON.parse(new TextDecoder().decode(decodeSegment(payload)))) : null;
}

/** Runs the authorization-code flow with `extra` authorize parameters; the token endpoint's answer. */
async function exchangeCode(scope: string, extra: Record<string, string> = {}) {
  const user = await signUp('oidc');
  const app = await registerTestApp(user);
  const pkce = await createPkcePair();
  const redirect = await approveAuthorization(
    user,
    new URLSearchParams({
      response_type: 'code',
      client_id: app.client_id,
      redirect_uri: REDIRECT_URI,
      scope,
      state: 's',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      ...extra,
    }),
  );
  const res = await oauth(
    '/token',
    form({
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret ?? '',
      code: redirect.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: pkce.verifier,
    }),
  );
  return { user, app, redirect, res };
}

describe('OIDC id_token', () => {
  it('issues an RS256 id_token for an openid code, verifiable with /oauth2/keys, with the nonce, subject and audience', async () => {
    const { user, app, res } = await exchangeCode('openid chat:read', { nonce: 'n-0S6_WzA2Mj' });
    expect(res.status).toBe(200);
    const body = z.object({ access_token: z.string(), id_token: z.string() }).parse(await res.json());
    const claims = await verifyIdToken(body.id_token);
    expect(claims).toMatchObject({
      iss: 'http://localhost/oauth2',
      sub: user.user.id,
      aud: app.client_id,
      azp: app.client_id,
      nonce: 'n-0S6_WzA2Mj',
      preferred_username: user.user.username.toLowerCase(),
    });
    expect((claims?.exp ?? 0) - (claims?.iat ?? 0)).toBe(900);
    // A token whose claims were changed after signing does not verify.
    const [header, , signature] = body.id_token.split('.');
    const forged = encodeBase64Url(
      new TextEncoder().encode(JSON.stringify({ ...claims, sub: 'someone-else' })),
    );
    expect(await verifyIdToken(`${header}.${forged}.${signature}`)).toBeNull();
  });

  it('issues no id_token without openid, and refuses a malformed nonce at authorize', async () => {
    const { res } = await exchangeCode('chat:read');
    expect(Object.keys(z.looseObject({}).parse(await res.json()))).not.toContain('id_token');
    const user = await signUp('oidc');
    const app = await registerTestApp(user);
    const pkce = await createPkcePair();
    const refused = await approveAuthorization(
      user,
      new URLSearchParams({
        response_type: 'code',
        client_id: app.client_id,
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
        nonce: 'x'.repeat(256),
      }),
    );
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('code')).toBeNull();
  });

  it('publishes a discovery document that names the endpoints', async () => {
    const res = await oauth('/.well-known/openid-configuration');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      issuer: 'http://localhost/oauth2',
      jwks_uri: 'http://localhost/oauth2/keys',
      userinfo_endpoint: 'http://localhost/oauth2/userinfo',
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code'],
    });
  });
});
