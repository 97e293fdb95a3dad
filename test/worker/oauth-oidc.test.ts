// OpenID Connect's UserInfo at /oauth2/userinfo, as Twitch's: a user token granted with the openid
// scope (through the real authorization-code flow) gets its subject and standard claims; a token
// without openid, an app token, a revoked token and no token are refused with Twitch's 401 body.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createUserToken, form, oauth, TwitchOAuthError } from './oauth-helpers.ts';

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
