// @twurple/api, a mainstream Helix client, drives /helix/ unchanged: its own mock-server switch
// (TWURPLE_MOCK_API_PORT) points it at http://localhost:<port>/mock/ for Helix and /auth/ for
// id.twitch.tv, and the test's fetch hands those requests to the Worker under /helix/ and /oauth2/
// (the "local alias path" of docs/twitch-compat.md). Nothing of the library is patched.
import { SELF } from 'cloudflare:test';
import { ApiClient } from '@twurple/api';
import { StaticAuthProvider } from '@twurple/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createUserToken } from './oauth-helpers.ts';

const MOCK_PORT = '18090';
const realFetch = globalThis.fetch;

beforeAll(() => {
  process.env.TWURPLE_MOCK_API_PORT = MOCK_PORT;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.host !== `localhost:${MOCK_PORT}`) return realFetch(input, init);
    url.host = 'localhost';
    url.pathname = url.pathname.replace(/^\/mock\//, '/helix/').replace(/^\/auth\//, '/oauth2/');
    return SELF.fetch(url.toString(), init);
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
  delete process.env.TWURPLE_MOCK_API_PORT;
});

describe('@twurple/api against /helix', () => {
  it('reads users, streams and channels, and updates the channel with a scoped token', async () => {
    const { app, tokens, user } = await createUserToken(['channel:manage:broadcast', 'user:read:follows']);
    // No scopes given: the provider validates the token at /oauth2/validate to learn them.
    const authProvider = new StaticAuthProvider(app.client_id, tokens.access_token);
    const api = new ApiClient({ authProvider });
    const me = await api.users.getUserById(user.user.id);
    expect(me?.name).toBe(user.user.username.toLowerCase());
    await api.channels.updateChannelInfo(user.user.id, { title: 'set by twurple', gameId: '3' });
    const channel = await api.channels.getChannelInfoById(user.user.id);
    expect(channel?.title).toBe('set by twurple');
    expect(channel?.gameName).toBe('Software and Game Development');
    const streams = await api.streams.getStreams({ limit: 5 });
    expect(Array.isArray(streams.data)).toBe(true);
    const followed = await api.channels.getFollowedChannels(user.user.id);
    expect(followed.total).toBe(0);
  });

  it("surfaces the server's 401 for a missing scope as the library's HttpStatusCodeError", async () => {
    const { app, tokens, user } = await createUserToken(['chat:read']);
    const api = new ApiClient({ authProvider: new StaticAuthProvider(app.client_id, tokens.access_token) });
    // callApi sends the request as is (no client-side scope check), so the answer is the server's.
    const call = api.callApi({
      type: 'helix',
      url: 'channels',
      method: 'PATCH',
      userId: user.user.id,
      query: { broadcaster_id: user.user.id },
      jsonBody: { title: 'nope' },
    });
    const error = await call.then(
      () => null,
      (err: unknown) => err,
    );
    // HttpStatusCodeError (from @twurple/api-call) exposes the status and the body as getters.
    const { statusCode, body } = z.object({ statusCode: z.number(), body: z.string() }).parse(error);
    expect(statusCode).toBe(401);
    expect(body).toContain('Missing scope: channel:manage:broadcast');
  });
});
