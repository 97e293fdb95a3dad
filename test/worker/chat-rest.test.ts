// The REST sub-apps, mounted here the way the API mounts them (under /api/v1 with the shared
// onError), against the real D1, R2 and ChatRoom objects.
import { env } from 'cloudflare:test';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { emotesApp } from '../../workers/api/routes/emotes.ts';
import { moderationApp } from '../../workers/api/routes/moderation.ts';
import { handleError } from '../../workers/shared/errors.ts';
import { goLive, grantRole, openJson, seedUser } from './chat-fixtures.ts';

const app = new Hono<{ Bindings: Env }>()
  .onError(handleError)
  .route('/api/v1', moderationApp)
  .route('/api/v1', emotesApp);

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

/** A 1x1 PNG. */
const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('moderation REST', () => {
  it('bans and times out through the same room as chat commands, with 401/403/404 paths', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    expect(
      (await call('POST', `/channels/${owner.channelId}/bans`, undefined, { user_id: viewer.id })).status,
    ).toBe(401);
    const refused = await call('POST', `/channels/${owner.channelId}/bans`, viewer.token, {
      user_id: mod.id,
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(
      (await call('POST', `/channels/${crypto.randomUUID()}/bans`, owner.token, { user_id: viewer.id }))
        .status,
    ).toBe(404);
    expect(
      (await call('POST', `/channels/${owner.channelId}/bans`, owner.token, { user_id: 'nobody-here' }))
        .status,
    ).toBe(404);
    expect(
      (await call('POST', `/channels/${owner.channelId}/bans`, mod.token, { user_id: owner.id })).status,
    ).toBe(422);
    expect((await call('POST', `/channels/${owner.channelId}/bans`, mod.token, { user_id: 5 })).status).toBe(
      400,
    );

    const chat = await openJson(owner.channelId, viewer.token);
    const timeout = await call('POST', `/channels/${owner.channelId}/bans`, mod.token, {
      user_id: viewer.name,
      duration_seconds: 300,
      reason: 'cool off',
    });
    expect(timeout.status).toBe(201);
    expect(await timeout.json()).toMatchObject({ code: 'timeout_success' });
    expect(await chat.next('clear_user')).toMatchObject({ user_id: viewer.id, duration_seconds: 300 });

    const list = await call('GET', `/channels/${owner.channelId}/bans`, mod.token);
    expect(list.status).toBe(200);
    const { bans } = (await list.json()) as { bans: { user_id: string; kind: string; reason: string }[] };
    expect(bans).toEqual([
      expect.objectContaining({ user_id: viewer.id, kind: 'timeout', reason: 'cool off' }),
    ]);
    expect((await call('GET', `/channels/${owner.channelId}/bans`, viewer.token)).status).toBe(403);

    expect((await call('DELETE', `/channels/${owner.channelId}/bans/${viewer.id}`, mod.token)).status).toBe(
      200,
    );
    expect((await call('DELETE', `/channels/${owner.channelId}/bans/${viewer.id}`, mod.token)).status).toBe(
      404,
    );
  });

  it('reads and patches chat settings and banned words; viewers may not patch', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const initial = await call('GET', `/channels/${owner.channelId}/chat/settings`, owner.token);
    expect(await initial.json()).toEqual({
      slow_seconds: 0,
      subscribers_only: false,
      emote_only: false,
      followers_only_minutes: -1,
      unique_chat: false,
      banned_words: [],
      automod: false,
      automod_allowed_domains: [],
      auto_slow_messages_per_second: 0,
      auto_slow_seconds: 3,
      auto_slow_active: false,
      sample_messages_per_second: 20,
    });
    const chat = await openJson(owner.channelId);
    const patched = await call('PATCH', `/channels/${owner.channelId}/chat/settings`, owner.token, {
      slow_seconds: 30,
      banned_words: ['Badword'],
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ slow_seconds: 30, banned_words: ['badword'] });
    expect(await chat.next('room_state')).toMatchObject({ slow_seconds: 30 });
    expect(
      (await call('PATCH', `/channels/${owner.channelId}/chat/settings`, viewer.token, { emote_only: true }))
        .status,
    ).toBe(403);
    expect(
      (await call('PATCH', `/channels/${owner.channelId}/chat/settings`, owner.token, { slow_seconds: -5 }))
        .status,
    ).toBe(400);
    expect((await call('GET', `/channels/${crypto.randomUUID()}/chat/settings`)).status).toBe(404);
  });

  it('deletes a message, grants roles (broadcaster only) and starts raids', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const target = await seedUser('target');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const chat = await openJson(owner.channelId, owner.token);
    chat.say(owner.channelId, 'oops');
    const message = await chat.next('chat_message');
    expect(
      (await call('DELETE', `/channels/${owner.channelId}/chat/messages/${message.id}`, mod.token)).status,
    ).toBe(403);
    expect(
      (await call('DELETE', `/channels/${owner.channelId}/chat/messages/${message.id}`, owner.token)).status,
    ).toBe(200);
    await chat.next('delete_message', (f) => f.id === message.id);
    expect(
      (await call('DELETE', `/channels/${owner.channelId}/chat/messages/${message.id}`, owner.token)).status,
    ).toBe(404);

    expect((await call('POST', `/channels/${owner.channelId}/vips/${target.id}`, mod.token)).status).toBe(
      403,
    );
    expect((await call('POST', `/channels/${owner.channelId}/vips/${target.id}`, owner.token)).status).toBe(
      200,
    );
    expect(
      (await call('POST', `/channels/${owner.channelId}/moderators/${target.name}`, owner.token)).status,
    ).toBe(200);
    const roles = await env.DB.prepare(
      'SELECT role FROM channel_roles WHERE channel_id = ? AND user_id = ? ORDER BY role',
    )
      .bind(owner.channelId, target.id)
      .all<{ role: string }>();
    expect(roles.results.map((r) => r.role)).toEqual(['moderator', 'vip']);
    expect(
      (await call('DELETE', `/channels/${owner.channelId}/moderators/${target.id}`, owner.token)).status,
    ).toBe(200);

    expect(
      (await call('POST', `/channels/${owner.channelId}/raids`, mod.token, { to_channel: target.name }))
        .status,
    ).toBe(403);
    expect(
      (await call('POST', `/channels/${owner.channelId}/raids`, owner.token, { to_channel: 'nosuch' }))
        .status,
    ).toBe(404);
    expect(
      (await call('POST', `/channels/${owner.channelId}/raids`, owner.token, { to_channel: owner.name }))
        .status,
    ).toBe(422);
    expect(
      (await call('POST', `/channels/${owner.channelId}/raids`, owner.token, { to_channel: target.name }))
        .status,
    ).toBe(422);
    await goLive(owner.channelId);
    const raid = await call('POST', `/channels/${owner.channelId}/raids`, owner.token, {
      to_channel: target.channelId,
    });
    expect(raid.status).toBe(201);
    const again = await call('POST', `/channels/${owner.channelId}/raids`, owner.token, {
      to_channel: target.channelId,
    });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(240);
    expect(await chat.next('raid')).toMatchObject({
      to_channel: { id: target.channelId, name: target.name },
    });
  });
});

describe('emotes REST', () => {
  it('uploads a channel emote as JSON base64, lists it, serves its image from R2 and uses it in chat', async () => {
    const owner = await seedUser('own');
    const created = await call('POST', `/channels/${owner.channelId}/emotes`, owner.token, {
      name: 'ownWave',
      image_base64: PNG_BASE64,
    });
    expect(created.status).toBe(201);
    const emote = (await created.json()) as { id: string; url: string; subscriber_only: boolean };
    expect(emote.url).toBe(`/api/v1/emotes/${emote.id}/image`);
    const list = await call('GET', `/channels/${owner.channelId}/emotes`);
    expect(((await list.json()) as { emotes: { id: string }[] }).emotes.map((e) => e.id)).toEqual([emote.id]);
    const image = await call('GET', `/emotes/${emote.id}/image`);
    expect(image.status).toBe(200);
    expect(image.headers.get('Content-Type')).toBe('image/png');
    expect(new Uint8Array(await image.arrayBuffer())[1]).toBe(0x50);

    const chat = await openJson(owner.channelId, owner.token);
    chat.say(owner.channelId, 'hi ownWave');
    expect((await chat.next('chat_message')).emotes).toEqual([
      { id: emote.id, name: 'ownWave', positions: [[3, 9]], url: emote.url },
    ]);

    expect(
      (await call('DELETE', `/channels/${owner.channelId}/emotes/${emote.id}`, owner.token)).status,
    ).toBe(204);
    expect((await call('GET', `/emotes/${emote.id}/image`)).status).toBe(404);
  });

  it('accepts multipart uploads and refuses bad names, non-images, oversized images, duplicates and non-owners', async () => {
    const owner = await seedUser('own');
    const other = await seedUser('other');
    const form = new FormData();
    form.set('name', 'ownMulti');
    form.set('subscriber_only', 'true');
    form.set(
      'image',
      new File([Uint8Array.from(atob(PNG_BASE64), (c) => c.charCodeAt(0))], 'e.png', { type: 'image/png' }),
    );
    const multipart = await app.request(
      `http://localhost/api/v1/channels/${owner.channelId}/emotes`,
      { method: 'POST', headers: { Authorization: `Bearer ${owner.token}` }, body: form },
      env,
    );
    expect(multipart.status).toBe(201);
    expect(await multipart.json()).toMatchObject({ name: 'ownMulti', subscriber_only: true });

    const post = (token: string | undefined, body: unknown) =>
      call('POST', `/channels/${owner.channelId}/emotes`, token, body);
    expect((await post(undefined, { name: 'ownX', image_base64: PNG_BASE64 })).status).toBe(401);
    expect((await post(other.token, { name: 'ownX', image_base64: PNG_BASE64 })).status).toBe(403);
    expect((await post(owner.token, { name: 'a', image_base64: PNG_BASE64 })).status).toBe(400);
    expect((await post(owner.token, { name: 'ownText', image_base64: btoa('just some text') })).status).toBe(
      422,
    );
    expect((await post(owner.token, { name: 'ownMulti', image_base64: PNG_BASE64 })).status).toBe(409);
    const huge = `${PNG_BASE64.slice(0, 12)}${'A'.repeat(360_000)}`;
    expect((await post(owner.token, { name: 'ownHuge', image_base64: huge })).status).toBe(413);
    const unknownChannel = await call('POST', `/channels/${crypto.randomUUID()}/emotes`, owner.token, {
      name: 'ownX',
      image_base64: PNG_BASE64,
    });
    expect(unknownChannel.status).toBe(404);
  });

  it('lists global emotes', async () => {
    const id = crypto.randomUUID();
    await env.DB.prepare(
      'INSERT INTO emotes (id, channel_id, name, image_key, subscriber_only, created_at) VALUES (?, NULL, ?, ?, 0, ?)',
    )
      .bind(id, `Glob${id.slice(0, 6).replace(/-/g, '')}`, `emotes/${id}`, Date.now())
      .run();
    const res = await call('GET', '/emotes/global');
    expect(((await res.json()) as { emotes: { id: string; channel_id: null }[] }).emotes).toContainEqual(
      expect.objectContaining({ id, channel_id: null }),
    );
  });
});
