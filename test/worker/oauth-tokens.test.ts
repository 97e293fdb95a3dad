// The token model other parts rely on (workers/oauth/tokens.ts): validation, scopes, refresh
// rotation, revocation and expiry, against the real D1 schema.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../workers/oauth/apps.ts';
import {
  findLiveAccessTokenHashes,
  hasScope,
  issueTokens,
  MAX_GRANTS_PER_USER_AND_APP,
  REFRESH_TOKEN_TTL_MS,
  refreshGrant,
  revokeToken,
  USER_ACCESS_TOKEN_TTL_MS,
  validateAccessToken,
} from '../../workers/oauth/tokens.ts';
import { signUp } from './api-helpers.ts';

async function registerApp(ownerId: string): Promise<string> {
  const outcome = await createApp(env.DB, ownerId, {
    name: 'bot',
    redirect_uris: ['http://localhost:3000/cb'],
    client_type: 'confidential',
  });
  if (outcome.kind !== 'created') throw new Error('app not created');
  return outcome.app.clientId;
}

describe('OAuth tokens', () => {
  it('validates a user token with its user, login, client and scopes, and nothing else', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const tokens = await issueTokens(env.DB, { clientId, userId: user.user.id, scopes: ['chat:read'] });
    const info = await validateAccessToken(env, tokens.access_token);
    expect(info).toMatchObject({
      userId: user.user.id,
      login: user.user.username,
      clientId,
      scopes: ['chat:read'],
    });
    expect(info && hasScope(info, 'chat:read')).toBe(true);
    expect(info && hasScope(info, 'chat:edit')).toBe(false);
    expect(tokens.refresh_token).toBeDefined();
    expect(await validateAccessToken(env, 'x'.repeat(30))).toBeNull();
    // A refresh token is not an access token.
    expect(await validateAccessToken(env, tokens.refresh_token ?? '')).toBeNull();
    // A session token of the web app is not an OAuth token either.
    expect(await validateAccessToken(env, user.token)).toBeNull();
  });

  it('an app access token has no user and no refresh token', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const tokens = await issueTokens(env.DB, { clientId, userId: null, scopes: [] });
    expect(tokens.refresh_token).toBeUndefined();
    expect(await validateAccessToken(env, tokens.access_token)).toMatchObject({
      userId: null,
      login: null,
      clientId,
    });
  });

  it('refuses an access token past its expiry', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const tokens = await issueTokens(env.DB, { clientId, userId: user.user.id, scopes: [] });
    const later = Date.now() + USER_ACCESS_TOKEN_TTL_MS + 1000;
    expect(await validateAccessToken(env, tokens.access_token, later)).toBeNull();
  });

  it('a refresh rotates both tokens; the used refresh token and old access token stop working', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const first = await issueTokens(env.DB, { clientId, userId: user.user.id, scopes: ['chat:read'] });
    const outcome = await refreshGrant(env.DB, clientId, first.refresh_token ?? '');
    if (outcome.kind !== 'refreshed') throw new Error(outcome.kind);
    expect(outcome.tokens.scope).toEqual(['chat:read']);
    expect(await validateAccessToken(env, outcome.tokens.access_token)).not.toBeNull();
    expect(await validateAccessToken(env, first.access_token)).toBeNull();
    expect((await refreshGrant(env.DB, clientId, first.refresh_token ?? '')).kind).toBe('invalid');
  });

  it('refuses an expired refresh token', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const tokens = await issueTokens(env.DB, { clientId, userId: user.user.id, scopes: [] });
    const later = Date.now() + REFRESH_TOKEN_TTL_MS + 1000;
    expect((await refreshGrant(env.DB, clientId, tokens.refresh_token ?? '', later)).kind).toBe('invalid');
  });

  it('a refresh token presented by another application burns the grant', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const otherClient = await registerApp(user.user.id);
    const tokens = await issueTokens(env.DB, { clientId, userId: user.user.id, scopes: [] });
    expect((await refreshGrant(env.DB, otherClient, tokens.refresh_token ?? '')).kind).toBe('wrong-client');
    expect(await validateAccessToken(env, tokens.access_token)).toBeNull();
  });

  it('revoking either token ends the grant; another app cannot revoke it', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const otherClient = await registerApp(user.user.id);
    const tokens = await issueTokens(env.DB, { clientId, userId: user.user.id, scopes: [] });
    const info = await validateAccessToken(env, tokens.access_token);
    expect((await revokeToken(env.DB, otherClient, tokens.access_token)).kind).toBe('invalid');
    expect(await findLiveAccessTokenHashes(env.DB, [info?.tokenHash ?? ''])).toEqual(
      new Set([info?.tokenHash]),
    );
    expect((await revokeToken(env.DB, clientId, tokens.refresh_token ?? '')).kind).toBe('revoked');
    expect(await validateAccessToken(env, tokens.access_token)).toBeNull();
    expect(await findLiveAccessTokenHashes(env.DB, [info?.tokenHash ?? ''])).toEqual(new Set());
  });

  it('keeps at most MAX_GRANTS_PER_USER_AND_APP app tokens per application; the oldest stops working', async () => {
    const user = await signUp('tok');
    const clientId = await registerApp(user.user.id);
    const start = Date.now();
    const first = await issueTokens(env.DB, { clientId, userId: null, scopes: [] }, start);
    for (let i = 1; i <= MAX_GRANTS_PER_USER_AND_APP; i++) {
      await issueTokens(env.DB, { clientId, userId: null, scopes: [] }, start + i);
    }
    expect(await validateAccessToken(env, first.access_token)).toBeNull();
    const count = await env.DB.prepare('SELECT count(*) AS n FROM oauth_grants WHERE client_id = ?')
      .bind(clientId)
      .first('n');
    expect(count).toBe(MAX_GRANTS_PER_USER_AND_APP);
  });
});
