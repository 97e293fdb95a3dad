// EventSub through the real Worker, objects, D1 and queue consumer: the WebSocket transport
// (session_welcome, notifications from queue events with stable message ids, keepalive,
// session_reconnect, 4001) and Helix /eventsub/subscriptions (scopes per type, refusals as Twitch
// refuses: unknown types, missing authorization, forged sessions, duplicates).
import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEvent } from '../../protocol/events.ts';
import { issueOAuthToken, seedUser, waitUntil } from './chat-fixtures.ts';
import { connect, deliver, helix, websocketSub } from './eventsub-fixtures.ts';

describe('EventSub over WebSocket', () => {
  it('welcomes a session, delivers stream.online from the queue event once per message id, and keeps quiet sessions alive', async () => {
    const owner = await seedUser('es');
    const token = await issueOAuthToken(owner.clientId, owner.id, []);
    const client = await connect('?keepalive_timeout_seconds=30');
    const welcome = z
      .object({
        session: z.object({
          status: z.string(),
          keepalive_timeout_seconds: z.number(),
          reconnect_url: z.null(),
        }),
      })
      .parse(client.frames[0]?.payload);
    expect(welcome.session).toEqual({
      status: 'connected',
      keepalive_timeout_seconds: 30,
      reconnect_url: null,
    });
    const created = await helix('/eventsub/subscriptions', token, owner.clientId, {
      method: 'POST',
      body: websocketSub('stream.online', '1', { broadcaster_user_id: owner.id }, client.sessionId()),
    });
    expect(created.status).toBe(202);
    const body = z
      .object({ data: z.array(z.looseObject({ id: z.string(), status: z.string() })) })
      .parse(await created.json());
    expect(body.data[0]?.status).toBe('enabled');

    const streamId = crypto.randomUUID();
    const event = createEvent('stream.started', { stream_id: streamId, channel_id: owner.channelId });
    expect((await deliver('stream-events', event)).explicitAcks).toHaveLength(1);
    const notification = await client.next('notification');
    expect(notification.metadata).toMatchObject({
      subscription_type: 'stream.online',
      subscription_version: '1',
    });
    expect(notification.metadata.message_timestamp).toMatch(/\.\d{9}Z$/);
    expect(notification.payload).toMatchObject({
      subscription: { id: body.data[0]?.id, type: 'stream.online', transport: { method: 'websocket' } },
      event: {
        id: streamId,
        broadcaster_user_id: owner.id,
        broadcaster_user_login: owner.name,
        type: 'live',
      },
    });
    // The queue redelivers the same event (at least once): the same message id is not sent again.
    await env.DB.prepare('DELETE FROM processed_events WHERE event_id = ?').bind(event.id).run();
    await deliver('stream-events', event);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.frames.filter((f) => f.metadata.message_type === 'notification')).toHaveLength(1);

    const objectName = client.sessionId();
    // The alarm after a notification only moves; the next one, with nothing sent since, keeps alive.
    await runDurableObjectAlarm(env.EVENTSUB_SESSION.getByName(objectName));
    expect(client.frames.some((f) => f.metadata.message_type === 'session_keepalive')).toBe(false);
    await runDurableObjectAlarm(env.EVENTSUB_SESSION.getByName(objectName));
    await client.next('session_keepalive');
  });

  it('moves a session with session_reconnect: the new connection keeps the id and the subscriptions, the old one closes', async () => {
    const owner = await seedUser('mv');
    const token = await issueOAuthToken(owner.clientId, owner.id, []);
    const old = await connect();
    const sessionId = old.sessionId();
    const created = await helix('/eventsub/subscriptions', token, owner.clientId, {
      method: 'POST',
      body: websocketSub('stream.offline', '1', { broadcaster_user_id: owner.id }, sessionId),
    });
    expect(created.status).toBe(202);
    const url = await env.EVENTSUB_SESSION.getByName(sessionId).requestReconnect(
      'ws://localhost/eventsub/ws',
    );
    const reconnect = await old.next('session_reconnect');
    const reconnectUrl = z
      .object({ session: z.object({ reconnect_url: z.string() }) })
      .parse(reconnect.payload).session.reconnect_url;
    expect(reconnectUrl).toBe(url);
    const moved = await connect(new URL(reconnectUrl).search);
    expect(moved.sessionId()).toBe(sessionId);
    expect(await waitUntil(() => old.closed ?? undefined)).toMatchObject({ code: 1000 });
    await deliver(
      'stream-events',
      createEvent('stream.ended', {
        stream_id: crypto.randomUUID(),
        channel_id: owner.channelId,
        duration_seconds: 5,
      }),
    );
    await moved.next('notification');
    // A reconnect URL works once: a second use of it is refused.
    const again = await SELF.fetch(`http://localhost/eventsub/ws${new URL(reconnectUrl).search}`, {
      headers: { Upgrade: 'websocket' },
    });
    expect(again.status).not.toBe(101);
  });

  it('closes a socket that sends anything with 4001, and removes its subscriptions', async () => {
    const owner = await seedUser('in');
    const token = await issueOAuthToken(owner.clientId, owner.id, []);
    const client = await connect();
    await helix('/eventsub/subscriptions', token, owner.clientId, {
      method: 'POST',
      body: websocketSub('stream.online', '1', { broadcaster_user_id: owner.id }, client.sessionId()),
    });
    client.ws.send('hello');
    expect(await waitUntil(() => client.closed ?? undefined)).toMatchObject({ code: 4001 });
    let left = -1;
    for (let i = 0; i < 50 && left !== 0; i++) {
      const row = await env.DB.prepare(
        'SELECT count(*) AS n FROM eventsub_subscriptions WHERE session_id = ?',
      )
        .bind(client.sessionId())
        .first();
      left = z.object({ n: z.number() }).parse(row).n;
      if (left !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(left).toBe(0);
  });
});

describe('Helix /eventsub/subscriptions', () => {
  it('refuses unknown and unsupported types, a wrong version and a malformed condition with 400', async () => {
    const owner = await seedUser('bad');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:moderate']);
    const client = await connect();
    for (const [type, version, condition] of [
      ['channel.nonsense', '1', { broadcaster_user_id: owner.id }],
      ['channel.hype_train.begin', '1', { broadcaster_user_id: owner.id }],
      ['channel.raid', '1', { from_broadcaster_user_id: owner.id, to_broadcaster_user_id: owner.id }],
      ['stream.online', '2', { broadcaster_user_id: owner.id }],
      ['stream.online', '1', { broadcaster_user_id: owner.id, extra: 'x' }],
    ] as const) {
      const res = await helix('/eventsub/subscriptions', token, owner.clientId, {
        method: 'POST',
        body: websocketSub(type, version, condition, client.sessionId()),
      });
      expect(res.status, `${type} v${version}`).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'Bad Request', status: 400 });
    }
  });

  it("enforces each type's scope and authorizing user: no channel:moderate, no channel.ban; another broadcaster's bans, 403", async () => {
    const owner = await seedUser('sc');
    const other = await seedUser('ot');
    const client = await connect();
    const withoutScope = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    const withScope = await issueOAuthToken(owner.clientId, owner.id, ['channel:moderate']);
    const ban = (id: string) =>
      websocketSub('channel.ban', '1', { broadcaster_user_id: id }, client.sessionId());
    expect(
      (
        await helix('/eventsub/subscriptions', withoutScope, owner.clientId, {
          method: 'POST',
          body: ban(owner.id),
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await helix('/eventsub/subscriptions', withScope, owner.clientId, {
          method: 'POST',
          body: ban(other.id),
        })
      ).status,
    ).toBe(403);
    const ok = await helix('/eventsub/subscriptions', withScope, owner.clientId, {
      method: 'POST',
      body: ban(owner.id),
    });
    expect(ok.status).toBe(202);
    // The same subscription again is a duplicate.
    expect(
      (
        await helix('/eventsub/subscriptions', withScope, owner.clientId, {
          method: 'POST',
          body: ban(owner.id),
        })
      ).status,
    ).toBe(409);
    await deliver(
      'moderation-events',
      createEvent('moderation.ban', {
        channel_id: owner.channelId,
        user_id: other.id,
        moderator_id: owner.id,
        reason: 'spam',
        expires_at: null,
      }),
    );
    const notification = await client.next('notification');
    expect(notification.payload).toMatchObject({
      event: {
        user_id: other.id,
        user_login: other.name,
        moderator_user_id: owner.id,
        reason: 'spam',
        is_permanent: true,
      },
    });
    const list = await helix('/eventsub/subscriptions?type=channel.ban', withScope, owner.clientId);
    expect(await list.json()).toMatchObject({ total: 1, data: [{ type: 'channel.ban', status: 'enabled' }] });
  });

  it("refuses a session that does not exist and another user's session", async () => {
    const a = await seedUser('sa');
    const b = await seedUser('sb');
    const tokenA = await issueOAuthToken(a.clientId, a.id, []);
    const tokenB = await issueOAuthToken(b.clientId, b.id, []);
    const client = await connect();
    const online = (id: string, session: string) =>
      websocketSub('stream.online', '1', { broadcaster_user_id: id }, session);
    expect(
      (
        await helix('/eventsub/subscriptions', tokenA, a.clientId, {
          method: 'POST',
          body: online(a.id, crypto.randomUUID()),
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await helix('/eventsub/subscriptions', tokenA, a.clientId, {
          method: 'POST',
          body: online(a.id, client.sessionId()),
        })
      ).status,
    ).toBe(202);
    expect(
      (
        await helix('/eventsub/subscriptions', tokenB, b.clientId, {
          method: 'POST',
          body: online(b.id, client.sessionId()),
        })
      ).status,
    ).toBe(403);
  });

  it('refuses webhooks with a user token, a plain-http callback and a short secret, and deletes what it lists', async () => {
    const owner = await seedUser('wh');
    const userToken = await issueOAuthToken(owner.clientId, owner.id, []);
    const webhook = (callback: string, secret: string) => ({
      type: 'stream.online',
      version: '1',
      condition: { broadcaster_user_id: owner.id },
      transport: { method: 'webhook', callback, secret },
    });
    expect(
      (
        await helix('/eventsub/subscriptions', userToken, owner.clientId, {
          method: 'POST',
          body: webhook('https://example.com/cb', 'secret-secret'),
        })
      ).status,
    ).toBe(400);
    const client = await connect();
    const created = await helix('/eventsub/subscriptions', userToken, owner.clientId, {
      method: 'POST',
      body: websocketSub('stream.online', '1', { broadcaster_user_id: owner.id }, client.sessionId()),
    });
    const id =
      z.object({ data: z.array(z.object({ id: z.string() })) }).parse(await created.json()).data[0]?.id ?? '';
    expect(
      (await helix(`/eventsub/subscriptions?id=${id}`, userToken, owner.clientId, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    expect(
      (await helix(`/eventsub/subscriptions?id=${id}`, userToken, owner.clientId, { method: 'DELETE' }))
        .status,
    ).toBe(404);
  });
});
