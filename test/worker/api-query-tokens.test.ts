// Bearer tokens never ride in URLs (RFC 6750 section 5.3), where access logs, proxies and browser
// history keep them: the chat WebSocket refuses `?token=` before the upgrade and takes the token
// as the `bearer.<token>` subprotocol (or in an auth frame) instead; the API reads only the
// Authorization header.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { callApi, readError, signUp } from './api-helpers.ts';

describe('tokens in query strings', () => {
  it('refuses a chat WebSocket whose token is in the URL, with 400 token_in_url', async () => {
    const user = await signUp('urltoken');
    const res = await SELF.fetch(`http://localhost/ws/${user.channel.id}?token=${user.token}`, {
      headers: { Upgrade: 'websocket' },
    });
    expect(res.status).toBe(400);
    expect((await readError(res)).code).toBe('token_in_url');
    expect(res.webSocket).toBeNull();
  });

  it('accepts the same token as the bearer subprotocol and answers with the chat subprotocol', async () => {
    const user = await signUp('subproto');
    const res = await SELF.fetch(`http://localhost/ws/${user.channel.id}`, {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': `chat, bearer.${user.token}` },
    });
    expect(res.status).toBe(101);
    expect(res.headers.get('Sec-WebSocket-Protocol')).toBe('chat');
    res.webSocket?.accept();
    res.webSocket?.close(1000, 'done');
  });

  it('does not sign an API request in by ?token=', async () => {
    const user = await signUp('apitoken');
    const res = await callApi(`/users/me?token=${encodeURIComponent(user.token)}`);
    expect(res.status).toBe(401);
  });
});
