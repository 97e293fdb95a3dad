// EventSub types the chat room feeds: channel.raid, channel.moderator.add/remove,
// channel.vip.add/remove, channel.chat.clear, channel.chat.clear_user_messages and
// channel.chat.notification (announcements and raids). Each test acts
// on the real ChatRoom (the same ChatRoom.moderate the chat commands and REST routes call), whose
// event goes through the real moderation-events queue and consumer to an EventSub WebSocket.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { goLive, issueOAuthToken, seedUser } from './chat-fixtures.ts';
import { connect, type EventSubClient, helix, websocketSub } from './eventsub-fixtures.ts';

/** The queue's batch window is 1 s; a notification arrives within a few. */
const QUEUE_WAIT_MS = 10_000;

async function subscribeOk(
  client: EventSubClient,
  token: string,
  clientId: string,
  type: string,
  condition: Record<string, string>,
): Promise<void> {
  const res = await helix('/eventsub/subscriptions', token, clientId, {
    method: 'POST',
    body: websocketSub(type, '1', condition, client.sessionId()),
  });
  expect(res.status, `${type} ${JSON.stringify(condition)}`).toBe(202);
}

describe('EventSub events from the chat room', () => {
  it('sends channel.raid to subscribers of the raiding side and of the raided side, and not to a subscription to raids into the raider', async () => {
    const raider = await seedUser('rdr');
    const target = await seedUser('tgt');
    const watcher = await seedUser('wat');
    // Raids are public: any user token may subscribe.
    const token = await issueOAuthToken(watcher.clientId, watcher.id, []);
    const outgoing = await connect();
    const incoming = await connect();
    const wrongSide = await connect();
    await subscribeOk(outgoing, token, watcher.clientId, 'channel.raid', {
      from_broadcaster_user_id: raider.id,
    });
    await subscribeOk(incoming, token, watcher.clientId, 'channel.raid', {
      to_broadcaster_user_id: target.id,
    });
    await subscribeOk(wrongSide, token, watcher.clientId, 'channel.raid', {
      to_broadcaster_user_id: raider.id,
    });
    await goLive(raider.channelId);
    const outcome = await env.CHAT_ROOM.getByName(raider.channelId).moderate(raider.channelId, raider.id, {
      kind: 'raid',
      target: target.name,
    });
    expect(outcome).toMatchObject({ kind: 'done', code: 'raid_success' });
    const expected = {
      from_broadcaster_user_id: raider.id,
      from_broadcaster_user_login: raider.name,
      from_broadcaster_user_name: raider.name.toUpperCase(),
      to_broadcaster_user_id: target.id,
      to_broadcaster_user_login: target.name,
      to_broadcaster_user_name: target.name.toUpperCase(),
      viewers: 0,
    };
    for (const client of [outgoing, incoming]) {
      const notification = await client.next('notification', 0, QUEUE_WAIT_MS);
      expect(notification.metadata).toMatchObject({ subscription_type: 'channel.raid' });
      expect(notification.payload).toMatchObject({ event: expected });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(wrongSide.notifications('channel.raid')).toHaveLength(0);
    expect(outgoing.notifications('channel.raid')).toHaveLength(1);
  });

  it('refuses a channel.raid condition naming both sides or neither', async () => {
    const owner = await seedUser('rc');
    const token = await issueOAuthToken(owner.clientId, owner.id, []);
    const client = await connect();
    const conditions: Record<string, string>[] = [
      {},
      { from_broadcaster_user_id: owner.id, to_broadcaster_user_id: owner.id },
      { broadcaster_user_id: owner.id },
    ];
    for (const condition of conditions) {
      const res = await helix('/eventsub/subscriptions', token, owner.clientId, {
        method: 'POST',
        body: websocketSub('channel.raid', '1', condition, client.sessionId()),
      });
      expect(res.status, JSON.stringify(condition)).toBe(400);
    }
  });

  it('sends channel.moderator.add/remove and channel.vip.add/remove when the broadcaster changes roles, once per change', async () => {
    const owner = await seedUser('rol');
    const helper = await seedUser('hlp');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['moderation:read', 'channel:read:vips']);
    const client = await connect();
    for (const type of [
      'channel.moderator.add',
      'channel.moderator.remove',
      'channel.vip.add',
      'channel.vip.remove',
    ])
      await subscribeOk(client, token, owner.clientId, type, { broadcaster_user_id: owner.id });
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    const role = (r: 'moderator' | 'vip', grant: boolean) =>
      room.moderate(owner.channelId, owner.id, { kind: 'role', role: r, grant, target: helper.name });
    expect(await role('moderator', true)).toMatchObject({ kind: 'done', code: 'mod_success' });
    // Granting a role the user already holds changes nothing and sends nothing.
    expect(await role('moderator', true)).toMatchObject({ kind: 'done' });
    expect(await role('vip', true)).toMatchObject({ kind: 'done', code: 'vip_success' });
    expect(await role('moderator', false)).toMatchObject({ kind: 'done', code: 'unmod_success' });
    expect(await role('vip', false)).toMatchObject({ kind: 'done', code: 'unvip_success' });
    const types = [
      'channel.moderator.add',
      'channel.vip.add',
      'channel.moderator.remove',
      'channel.vip.remove',
    ];
    for (const type of types) {
      const frames = await waitFor(
        () => client.notifications(type),
        (f) => f.length > 0,
      );
      expect(frames[0]?.payload, type).toMatchObject({
        event: {
          broadcaster_user_id: owner.id,
          broadcaster_user_login: owner.name,
          user_id: helper.id,
          user_login: helper.name,
          user_name: helper.name.toUpperCase(),
        },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const type of types) expect(client.notifications(type), type).toHaveLength(1);
  });

  it('refuses channel.moderator.add without moderation:read and for another broadcaster', async () => {
    const owner = await seedUser('rs');
    const other = await seedUser('ro');
    const client = await connect();
    const noScope = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    const scoped = await issueOAuthToken(owner.clientId, owner.id, ['moderation:read']);
    for (const [token, id] of [
      [noScope, owner.id],
      [scoped, other.id],
    ] as const) {
      const res = await helix('/eventsub/subscriptions', token, owner.clientId, {
        method: 'POST',
        body: websocketSub('channel.moderator.add', '1', { broadcaster_user_id: id }, client.sessionId()),
      });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({
        status: 403,
        message: 'subscription missing proper authorization',
      });
    }
    const vip = await helix('/eventsub/subscriptions', scoped, owner.clientId, {
      method: 'POST',
      body: websocketSub('channel.vip.add', '1', { broadcaster_user_id: owner.id }, client.sessionId()),
    });
    expect(vip.status).toBe(403);
  });

  it('sends channel.chat.clear for /clear and channel.chat.clear_user_messages for a timeout', async () => {
    const owner = await seedUser('clr');
    const viewer = await seedUser('vw');
    const reader = await seedUser('rd');
    const token = await issueOAuthToken(reader.clientId, reader.id, ['user:read:chat']);
    const client = await connect();
    for (const type of ['channel.chat.clear', 'channel.chat.clear_user_messages'])
      await subscribeOk(client, token, reader.clientId, type, {
        broadcaster_user_id: owner.id,
        user_id: reader.id,
      });
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect(await room.moderate(owner.channelId, owner.id, { kind: 'clear' })).toMatchObject({
      kind: 'done',
      code: 'clear_success',
    });
    expect(
      await room.moderate(owner.channelId, owner.id, {
        kind: 'timeout',
        target: viewer.name,
        seconds: 60,
        reason: 'calm',
      }),
    ).toMatchObject({ kind: 'done', code: 'timeout_success' });
    const clear = await waitFor(
      () => client.notifications('channel.chat.clear'),
      (f) => f.length > 0,
    );
    expect(clear[0]?.payload).toMatchObject({
      event: { broadcaster_user_id: owner.id, broadcaster_user_login: owner.name },
    });
    const cleared = await waitFor(
      () => client.notifications('channel.chat.clear_user_messages'),
      (f) => f.length > 0,
    );
    expect(cleared[0]?.payload).toMatchObject({
      event: {
        broadcaster_user_id: owner.id,
        target_user_id: viewer.id,
        target_user_login: viewer.name,
        target_user_name: viewer.name.toUpperCase(),
      },
    });
  });
});

describe('channel.chat.notification', () => {
  it("sends an announcement and an incoming raid as notices of the raided channel's chat", async () => {
    const owner = await seedUser('ntf');
    const raider = await seedUser('nrd');
    const reader = await seedUser('nrr');
    const token = await issueOAuthToken(reader.clientId, reader.id, ['user:read:chat']);
    const client = await connect();
    await subscribeOk(client, token, reader.clientId, 'channel.chat.notification', {
      broadcaster_user_id: owner.id,
      user_id: reader.id,
    });
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect(
      await room.moderate(owner.channelId, owner.id, {
        kind: 'announce',
        message: 'Stream in 5',
        color: 'GREEN',
      }),
    ).toMatchObject({ kind: 'done' });
    await goLive(raider.channelId);
    expect(
      await env.CHAT_ROOM.getByName(raider.channelId).moderate(raider.channelId, raider.id, {
        kind: 'raid',
        target: owner.name,
      }),
    ).toMatchObject({ kind: 'done', code: 'raid_success' });
    const frames = await waitFor(
      () => client.notifications('channel.chat.notification'),
      (f) => f.length >= 2,
    );
    const events = frames.map(
      (f) => z.object({ event: z.looseObject({ notice_type: z.string() }) }).parse(f.payload).event,
    );
    expect(events.find((e) => e.notice_type === 'announcement')).toMatchObject({
      broadcaster_user_id: owner.id,
      chatter_user_id: owner.id,
      chatter_user_login: owner.name,
      message: { text: 'Stream in 5' },
      announcement: { color: 'GREEN' },
      raid: null,
      sub: null,
    });
    expect(events.find((e) => e.notice_type === 'raid')).toMatchObject({
      broadcaster_user_id: owner.id,
      chatter_user_id: raider.id,
      raid: { user_id: raider.id, user_login: raider.name, viewer_count: 0 },
      announcement: null,
    });
  });
});

async function waitFor<T>(read: () => T, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + QUEUE_WAIT_MS;
  for (;;) {
    const value = read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for a notification');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
