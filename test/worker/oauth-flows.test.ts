// The OAuth2 server under /oauth2/ (docs/twitch-compat.md): every grant, and every refusal Twitch
// makes, through the real Worker and D1.
import { describe, expect, it } from 'vitest';
import { callApi, signUp } from './api-helpers.ts';
import {
  approveAuthorization,
  createPkcePair,
  createUserToken,
  form,
  oauth,
  REDIRECT_URI,
  registerTestApp,
  TokenAnswer,
  TwitchOAuthError,
} from './oauth-helpers.ts';

function authorizeQuery(clientId: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'chat:read chat:edit',
    state: 'state-1',
    ...extra,
  });
}

describe('developer applications', () => {
  it('registers an app with a secret shown once, lists it without the secret, and refuses another owner', async () => {
    const owner = await signUp('dev');
    const app = await registerTestApp(owner);
    expect(app.client_id).toMatch(/^[0-9a-f]{30}$/);
    expect(app.client_secret).toMatch(/^[0-9a-f]{30}$/);
    const list = await callApi('/developer/apps', { token: owner.token });
    const listed = JSON.stringify(await list.json());
    expect(listed).toContain(app.client_id);
    expect(listed).not.toContain(app.client_secret ?? 'x');
    const stranger = await signUp('dev');
    const res = await callApi(`/developer/apps/${app.client_id}`, {
      method: 'DELETE',
      token: stranger.token,
    });
    expect(res.status).toBe(404);
  });

  it('refuses a redirect URI with a fragment or plain http to a public host', async () => {
    const owner = await signUp('dev');
    for (const uri of ['https://a.example/cb#frag', 'http://a.example/cb', 'javascript:alert(1)']) {
      const res = await callApi('/developer/apps', {
        method: 'POST',
        token: owner.token,
        body: { name: 'x', redirect_uris: [uri] },
      });
      expect(res.status).toBe(400);
    }
  });
});

describe('authorization code with PKCE', () => {
  it('serves the consent page and its details, then trades the code and verifier for tokens', async () => {
    const owner = await signUp('oauth');
    const app = await registerTestApp(owner);
    const pkce = await createPkcePair();
    const query = authorizeQuery(app.client_id, {
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    });
    const page = await oauth(`/authorize?${query}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toContain('text/html');
    const details = await oauth(`/authorize/details?${query}`);
    const described = JSON.stringify(await details.json());
    expect(described).toContain('Send chat messages');
    const redirect = await approveAuthorization(owner, query);
    expect(redirect.origin + redirect.pathname).toBe(REDIRECT_URI);
    expect(redirect.searchParams.get('state')).toBe('state-1');
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
    expect(res.status).toBe(200);
    const tokens = TokenAnswer.parse(await res.json());
    expect(tokens.scope).toEqual(['chat:read', 'chat:edit']);
    const validate = await oauth('/validate', { headers: { Authorization: `OAuth ${tokens.access_token}` } });
    expect(await validate.json()).toMatchObject({
      client_id: app.client_id,
      login: owner.user.username.toLowerCase(),
      user_id: owner.user.id,
      scopes: ['chat:read', 'chat:edit'],
    });
  });

  it('refuses a code whose PKCE verifier does not match, and burns the code', async () => {
    const owner = await signUp('oauth');
    const app = await registerTestApp(owner);
    const pkce = await createPkcePair();
    const other = await createPkcePair();
    const query = authorizeQuery(app.client_id, {
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    });
    const code = (await approveAuthorization(owner, query)).searchParams.get('code') ?? '';
    const exchange = (verifier: string) =>
      oauth(
        '/token',
        form({
          grant_type: 'authorization_code',
          client_id: app.client_id,
          client_secret: app.client_secret ?? '',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: verifier,
        }),
      );
    const wrong = await exchange(other.verifier);
    expect(wrong.status).toBe(400);
    expect(TwitchOAuthError.parse(await wrong.json()).message).toBe('Invalid authorization code');
    // The right verifier comes too late: a code is tried once.
    expect((await exchange(pkce.verifier)).status).toBe(400);
  });

  it('refuses an unregistered redirect URI with an error page, never redirecting to it', async () => {
    const owner = await signUp('oauth');
    const app = await registerTestApp(owner);
    for (const uri of ['https://evil.example/callback', `${REDIRECT_URI}/more`, `${REDIRECT_URI}?x=1`]) {
      const res = await oauth(`/authorize?${authorizeQuery(app.client_id, { redirect_uri: uri })}`, {
        redirect: 'manual',
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('Location')).toBeNull();
      expect(TwitchOAuthError.parse(await res.json()).message).toBe(
        'Parameter redirect_uri does not match registered URI',
      );
    }
    const unknown = await oauth(`/authorize?${authorizeQuery('0'.repeat(30))}`);
    expect(TwitchOAuthError.parse(await unknown.json())).toEqual({ status: 400, message: 'invalid client' });
  });

  it('sends an unknown scope, a plain PKCE method and a public client without PKCE back as errors', async () => {
    const owner = await signUp('oauth');
    const app = await registerTestApp(owner);
    const publicApp = await registerTestApp(owner, 'public');
    const cases: [URLSearchParams, string][] = [
      [authorizeQuery(app.client_id, { scope: 'chat:read admin:everything' }), 'invalid_scope'],
      [
        authorizeQuery(app.client_id, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }),
        'invalid_request',
      ],
      [authorizeQuery(publicApp.client_id), 'invalid_request'],
    ];
    for (const [query, error] of cases) {
      const res = await oauth(`/authorize?${query}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('Location') ?? '');
      expect(location.origin + location.pathname).toBe(REDIRECT_URI);
      expect(location.searchParams.get('error')).toBe(error);
    }
  });

  it('a denied consent redirects with access_denied and no code', async () => {
    const owner = await signUp('oauth');
    const app = await registerTestApp(owner);
    const res = await oauth('/authorize', {
      method: 'POST',
      headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: authorizeQuery(app.client_id).toString(), decision: 'deny' }),
    });
    const redirect = new URL(((await res.json()) as { redirect_to: string }).redirect_to);
    expect(redirect.searchParams.get('error')).toBe('access_denied');
    expect(redirect.searchParams.get('code')).toBeNull();
  });

  it('only the web session may approve: an OAuth access token cannot grant itself more', async () => {
    const { app, tokens } = await createUserToken(['chat:read']);
    const res = await oauth('/authorize', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: authorizeQuery(app.client_id).toString(), decision: 'allow' }),
    });
    expect(res.status).toBe(401);
  });
});

describe('token endpoint', () => {
  it('client credentials gives an app token; a wrong secret is 403 invalid client secret', async () => {
    const owner = await signUp('oauth');
    const app = await registerTestApp(owner);
    const ok = await oauth(
      `/token?${new URLSearchParams({ grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.client_secret ?? '' })}`,
      { method: 'POST' },
    );
    expect(ok.status).toBe(200);
    const tokens = TokenAnswer.parse(await ok.json());
    expect(tokens.refresh_token).toBeUndefined();
    const validated = await (
      await oauth('/validate', { headers: { Authorization: `OAuth ${tokens.access_token}` } })
    ).json();
    expect(validated).toEqual({ client_id: app.client_id, scopes: [], expires_in: expect.any(Number) });
    const wrong = await oauth(
      '/token',
      form({ grant_type: 'client_credentials', client_id: app.client_id, client_secret: 'f'.repeat(30) }),
    );
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toEqual({ status: 403, message: 'invalid client secret' });
  });

  it("refreshes a token; the used refresh token then fails with Twitch's shape", async () => {
    const { app, tokens } = await createUserToken(['chat:read']);
    const refresh = (token: string) =>
      oauth(
        '/token',
        form({
          grant_type: 'refresh_token',
          client_id: app.client_id,
          client_secret: app.client_secret ?? '',
          refresh_token: token,
        }),
      );
    const first = await refresh(tokens.refresh_token ?? '');
    expect(first.status).toBe(200);
    const again = await refresh(tokens.refresh_token ?? '');
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({
      error: 'Bad Request',
      status: 400,
      message: 'Invalid refresh token',
    });
  });

  it('refuses a refresh with the wrong client secret', async () => {
    const { app, tokens } = await createUserToken(['chat:read']);
    const res = await oauth(
      '/token',
      form({
        grant_type: 'refresh_token',
        client_id: app.client_id,
        client_secret: 'nope',
        refresh_token: tokens.refresh_token ?? '',
      }),
    );
    expect(res.status).toBe(403);
  });

  it('device code: pending, then approved on /activate by the signed-in user, then tokens once', async () => {
    const owner = await signUp('device');
    const app = await registerTestApp(owner, 'public');
    const started = await oauth(
      '/device',
      form({ client_id: app.client_id, scopes: 'chat:read user:read:follows' }),
    );
    expect(started.status).toBe(200);
    const device = (await started.json()) as {
      device_code: string;
      user_code: string;
      interval: number;
      verification_uri: string;
    };
    expect(device.user_code).toMatch(/^[B-Z]{8}$/);
    expect(new URL(device.verification_uri).pathname).toBe('/activate');
    const poll = () =>
      oauth(
        '/token',
        form({
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          client_id: app.client_id,
          device_code: device.device_code,
        }),
      );
    expect(await (await poll()).json()).toEqual({ status: 400, message: 'authorization_pending' });
    // Polling again at once is too fast (RFC 8628 section 3.5).
    expect(await (await poll()).json()).toEqual({ status: 400, message: 'slow_down' });
    const user = await signUp('viewer');
    const details = await oauth(`/activate/details?user_code=${device.user_code.toLowerCase()}`, {
      headers: { Authorization: `Bearer ${user.token}` },
    });
    expect(details.status).toBe(200);
    const approve = await oauth('/activate', {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_code: device.user_code, decision: 'allow' }),
    });
    expect(approve.status).toBe(200);
    const granted = await poll();
    expect(granted.status).toBe(200);
    const tokens = TokenAnswer.parse(await granted.json());
    expect(tokens.scope).toEqual(['chat:read', 'user:read:follows']);
    const validated = (await (
      await oauth('/validate', { headers: { Authorization: `OAuth ${tokens.access_token}` } })
    ).json()) as {
      user_id: string;
    };
    expect(validated.user_id).toBe(user.user.id);
    expect(await (await poll()).json()).toEqual({ status: 400, message: 'invalid device code' });
  });

  it('refuses an unknown activation code and rate-limits guessing', async () => {
    const user = await signUp('guess');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await oauth('/activate', {
        method: 'POST',
        headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ user_code: 'BCDFGHJK', decision: 'allow' }),
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 10).every((status) => status === 404)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });
});

describe('validate and revoke', () => {
  it("answers a missing or invalid token with Twitch's 401", async () => {
    expect(await (await oauth('/validate')).json()).toEqual({
      status: 401,
      message: 'missing authorization token',
    });
    const bad = await oauth('/validate', { headers: { Authorization: `OAuth ${'a'.repeat(30)}` } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ status: 401, message: 'invalid access token' });
  });

  it('revokes a token: validate refuses it afterwards, a second revoke is 400; an unknown client is 404', async () => {
    const { app, tokens } = await createUserToken(['chat:read']);
    const res = await oauth('/revoke', form({ client_id: app.client_id, token: tokens.access_token }));
    expect(res.status).toBe(200);
    expect(
      (await oauth('/validate', { headers: { Authorization: `OAuth ${tokens.access_token}` } })).status,
    ).toBe(401);
    const again = await oauth('/revoke', form({ client_id: app.client_id, token: tokens.access_token }));
    expect(await again.json()).toEqual({ status: 400, message: 'Invalid token' });
    const unknown = await oauth('/revoke', form({ client_id: 'f'.repeat(30), token: tokens.access_token }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ status: 404, message: 'client does not exist' });
  });

  it('changing the password and logging out everywhere end every OAuth token the account gave', async () => {
    const first = await createUserToken(['chat:read']);
    const validate = (token: string) => oauth('/validate', { headers: { Authorization: `OAuth ${token}` } });
    const changed = await callApi('/auth/password', {
      method: 'POST',
      token: first.user.token,
      body: { current_password: first.user.password, new_password: 'another correct horse' },
    });
    expect(changed.status).toBe(204);
    expect((await validate(first.tokens.access_token)).status).toBe(401);
    const refreshed = await oauth(
      '/token',
      form({
        grant_type: 'refresh_token',
        client_id: first.app.client_id,
        client_secret: first.app.client_secret ?? '',
        refresh_token: first.tokens.refresh_token ?? '',
      }),
    );
    expect(refreshed.status).toBe(400);

    const second = await createUserToken(['chat:read']);
    expect((await callApi('/auth/logout-all', { method: 'POST', token: second.user.token })).status).toBe(
      204,
    );
    expect((await validate(second.tokens.access_token)).status).toBe(401);
  });

  it('refuses a token request body over 16 KiB before reading it', async () => {
    const res = await oauth(
      '/token',
      form({ grant_type: 'client_credentials', client_id: 'x', padding: 'a'.repeat(20_000) }),
    );
    expect(res.status).toBe(413);
    expect(TwitchOAuthError.parse(await res.json()).status).toBe(413);
  });
});
