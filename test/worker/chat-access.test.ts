// Who sees and does what in a channel's chat (docs/security.md): banned words are for moderators'
// eyes, a ban or timeout suspends a moderator's powers, and a channel id that does not exist
// never creates a ChatRoom object. Through the real API router and Worker, as clients call them.
import { env, listDurableObjectIds, runInDurableObject, SELF } from 'cloudflare:test';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { moderationApp } from '../../workers/api/routes/moderation.ts';
import { handleError } from '../../workers/shared/errors.ts';
import { grantRole, openIrc, openJson, seedUser } from './chat-fixtures.ts';

const app = new Hono<{ Bindings: Env }>().onError(handleError).route('/api/v1', moderationApp);

function call(method: string, path: string, token?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return Promise.resolve(
    app.request(
      `http://localhost/api/v1${path}`,
      { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
      env,
    ),
  );
}

describe('chat access', () => {
  it('shows banned words to the broadcaster and moderators only', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const path = `/channels/${owner.channelId}/chat/settings`;
    expect((await call('PATCH', path, owner.token, { banned_words: ['secretword'] })).status).toBe(200);
    for (const reader of [undefined, viewer.token]) {
      const res = await call('GET', path, reader);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).not.toHaveProperty('banned_words');
      expect(body).toMatchObject({ slow_seconds: 0, emote_only: false });
    }
    for (const reader of [owner.token, mod.token]) {
      expect(await (await call('GET', path, reader)).json()).toMatchObject({ banned_words: ['secretword'] });
    }
  });

  it('suspends a moderator’s powers while they are timed out, in chat and over REST', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const broadcaster = await openJson(owner.channelId, owner.token);
    broadcaster.say(owner.channelId, `/timeout ${mod.name} 600 rogue`);
    await broadcaster.next('notice', (n) => n.code === 'timeout_success');

    const modChat = await openJson(owner.channelId, mod.token);
    modChat.say(owner.channelId, `/ban ${viewer.name}`);
    expect(await modChat.next('error')).toMatchObject({ code: 'forbidden' });
    const ban = await call('POST', `/channels/${owner.channelId}/bans`, mod.token, { user_id: viewer.id });
    expect(ban.status).toBe(403);
    expect((await call('GET', `/channels/${owner.channelId}/bans`, mod.token)).status).toBe(403);
    const settings = await call('PATCH', `/channels/${owner.channelId}/chat/settings`, mod.token, {
      emote_only: true,
    });
    expect(settings.status).toBe(403);
    expect(
      await (await call('GET', `/channels/${owner.channelId}/chat/settings`, mod.token)).json(),
    ).not.toHaveProperty('banned_words');

    // Lifting the timeout gives the powers back: the role itself was never taken.
    broadcaster.say(owner.channelId, `/untimeout ${mod.name}`);
    await broadcaster.next('notice', (n) => n.code === 'untimeout_success');
    expect(
      (await call('POST', `/channels/${owner.channelId}/bans`, mod.token, { user_id: viewer.id })).status,
    ).toBe(201);
  });

  it('never creates a ChatRoom for a channel id that does not exist', async () => {
    const owner = await seedUser('own');
    const random = crypto.randomUUID();
    const routes: [string, string][] = [
      ['GET', `/channels/${random}/chat/settings`],
      ['GET', `/channels/${random}/bans`],
      ['POST', `/channels/${random}/bans`],
      ['DELETE', `/channels/${random}/bans/${owner.id}`],
      ['DELETE', `/channels/${random}/chat/messages/${crypto.randomUUID()}`],
      ['PATCH', `/channels/${random}/chat/settings`],
      ['POST', `/channels/${random}/raids`],
      ['POST', `/channels/${random}/moderators/${owner.id}`],
    ];
    for (const [method, path] of routes) {
      const body =
        method === 'POST' || method === 'PATCH' ? { user_id: owner.id, to_channel: 'x' } : undefined;
      const res = await call(method, path, owner.token, body);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const ws = await SELF.fetch(`http://localhost/ws/${random}`, { headers: { Upgrade: 'websocket' } });
    expect(ws.status).toBe(404);
    const irc = await openIrc();
    irc.send('PASS SCHMOOPIIE', 'NICK justinfan7', `JOIN #${random.slice(0, 8)}`);
    await irc.next(/msg_channel_suspended/);

    const roomId = env.CHAT_ROOM.idFromName(random);
    const stored = await listDurableObjectIds(env.CHAT_ROOM);
    expect(stored.some((id) => id.equals(roomId))).toBe(false);
    // Even called directly, a room for an unknown channel answers "no" and stores nothing.
    const stub = env.CHAT_ROOM.getByName(random);
    expect(await stub.getSettings(random)).toBeNull();
    expect(await stub.assignShard(random)).toBeNull();
    const tables = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql
        .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")
        .toArray(),
    );
    expect(tables).toEqual([]);
  });
});
