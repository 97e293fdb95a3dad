// @twurple/api, a mainstream Helix client, drives /helix/ unchanged: its own mock-server switch
// (TWURPLE_MOCK_API_PORT) points it at http://localhost:<port>/mock/ for Helix and /auth/ for
// id.twitch.tv, and the test's fetch hands those requests to the Worker under /helix/ and /oauth2/
// (the "local alias path" of docs/twitch-compat.md). Nothing of the library is patched.
import { env, SELF } from 'cloudflare:test';
import { ApiClient } from '@twurple/api';
import { StaticAuthProvider } from '@twurple/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openJson } from './chat-fixtures.ts';
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

  it('lists chatters (one page and the paginator), sends an announcement, and gets the 404 of a raid it cannot cancel', async () => {
    const { app, tokens, user } = await createUserToken([
      'moderator:read:chatters',
      'moderator:manage:announcements',
      'channel:manage:raids',
    ]);
    const api = new ApiClient({ authProvider: new StaticAuthProvider(app.client_id, tokens.access_token) });
    const channel = z
      .object({ id: z.string() })
      .parse(await env.DB.prepare('SELECT id FROM channels WHERE user_id = ?').bind(user.user.id).first());
    const chat = await openJson(channel.id, user.token);
    let chatters = await api.chat.getChatters(user.user.id);
    for (let i = 0; i < 50 && chatters.total === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      chatters = await api.chat.getChatters(user.user.id);
    }
    expect(chatters.total).toBe(1);
    expect(chatters.data.map((c) => c.userName)).toEqual([user.user.username.toLowerCase()]);
    const all = await api.chat.getChattersPaginated(user.user.id).getAll();
    expect(all.map((c) => c.userId)).toEqual([user.user.id]);

    await api.chat.sendAnnouncement(user.user.id, { message: 'from twurple', color: 'green' });
    expect((await chat.next('notice', (n) => n.code === 'announcement')).message).toContain('from twurple');

    const cancel = await api.raids.cancelRaid(user.user.id).then(
      () => null,
      (err: unknown) => err,
    );
    const { statusCode, body } = z.object({ statusCode: z.number(), body: z.string() }).parse(cancel);
    expect(statusCode).toBe(404);
    expect(body).toContain("doesn't have a pending raid");
  });
});
