// The API's exported app type drives Hono's typed client (`hc<ApiApp>`), which the web app uses:
// paths, bodies and response shapes come from the routes themselves, so a renamed route or field
// breaks the type check here rather than a page at run time.
import { SELF } from 'cloudflare:test';
import { hc } from 'hono/client';
import { describe, expect, it } from 'vitest';
import type { ApiApp } from '../../workers/api/index.ts';
import { createTestIp, createUsername } from './api-helpers.ts';

function createClient(token?: string) {
  return hc<ApiApp>('http://localhost/api/v1', {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => SELF.fetch(input, init),
    headers: {
      'CF-Connecting-IP': createTestIp(),
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
    },
  });
}

describe('typed client over ApiApp', () => {
  it('signs up, reads the session list and edits the channel through typed routes', async () => {
    const username = createUsername('typed');
    const signup = await createClient().auth.signup.$post({
      json: { username, password: 'typed client pw' },
    });
    expect(signup.status).toBe(201);
    if (signup.status !== 201) return;
    const session = await signup.json();
    expect(session.user.username).toBe(username);

    const client = createClient(session.token);
    const sessions = await client.auth.sessions.$get();
    expect(sessions.status).toBe(200);
    if (sessions.status !== 200) return;
    const { data } = await sessions.json();
    expect(data.map((s) => s.current)).toEqual([true]);

    const patched = await client.channels[':id'].$patch({
      param: { id: session.channel.id },
      json: { clips_enabled: false },
    });
    expect(patched.status).toBe(200);
    if (patched.status !== 200) return;
    expect((await patched.json()).clips_enabled).toBe(false);
  });
});
