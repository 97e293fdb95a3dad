import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { buildMessage, describeChannel, grantRole, openJson, seedUser, waitUntil } from './chat-fixtures.ts';

describe('JSON chat over /ws/{channel_id}', () => {
  it('answers an unknown channel with a JSON 404 before any upgrade', async () => {
    const res = await SELF.fetch(`http://localhost/ws/${crypto.randomUUID()}`, {
      headers: { Upgrade: 'websocket' },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('refuses a bad token with 401 before the upgrade', async () => {
    const owner = await seedUser('own');
    const res = await SELF.fetch(`http://localhost/ws/${owner.channelId}`, {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'chat, bearer.nope' },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('never echoes a bearer token as the chosen subprotocol, whatever else was offered', async () => {
    const owner = await seedUser('own');
    for (const offered of [`bearer.${owner.token}`, `bearer.${owner.token}, other`]) {
      const res = await SELF.fetch(`http://localhost/ws/${owner.channelId}`, {
        headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': offered },
      });
      expect(res.status).toBe(101);
      const chosen = res.headers.get('Sec-WebSocket-Protocol');
      expect(chosen ?? '').not.toContain(owner.token);
      expect(chosen).toBe(offered.endsWith('other') ? 'other' : null);
      res.webSocket?.accept();
      res.webSocket?.close();
    }
    const irc = await SELF.fetch('http://localhost/irc', {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': `bearer.${owner.token}` },
    });
    expect(irc.status).toBe(101);
    expect(irc.headers.get('Sec-WebSocket-Protocol')).toBeNull();
    irc.webSocket?.accept();
    irc.webSocket?.close();
  });

  it('delivers a message to every socket of the channel with badges, colour and timestamp', async () => {
    const owner = await seedUser('own', 'partner');
    const viewer = await seedUser('view');
    const sender = await openJson(owner.channelId, owner.token);
    const reader = await openJson(owner.channelId);
    const anonymousWelcome = await reader.next('welcome');
    expect(anonymousWelcome.user).toBeNull();
    const other = await openJson(owner.channelId, viewer.token);
    sender.say(owner.channelId, 'hello chat');
    const received = await reader.next('chat_message');
    expect(received).toMatchObject({
      channel_id: owner.channelId,
      content: 'hello chat',
      user: {
        id: owner.id,
        name: owner.name,
        badges: [
          { id: 'broadcaster', version: '1' },
          { id: 'partner', version: '1' },
        ],
      },
    });
    expect(received.user.color).toMatch(/^#[0-9A-F]{6}$/);
    expect(new Date(received.timestamp).getTime()).toBeGreaterThan(Date.now() - 10_000);
    expect((await other.next('chat_message')).id).toBe(received.id);
    expect((await sender.next('chat_message')).id).toBe(received.id);
  });

  it('lets anonymous sockets read but not send', async () => {
    const owner = await seedUser('own');
    const anon = await openJson(owner.channelId);
    anon.say(owner.channelId, 'hi');
    expect(await anon.next('error')).toMatchObject({ code: 'unauthorized' });
  });

  it('accepts a token from an auth first frame and from a bearer subprotocol', async () => {
    const owner = await seedUser('own');
    const client = await openJson(owner.channelId);
    client.send({ type: 'auth', token: owner.token });
    await client.next('welcome', (f) => f.user?.id === owner.id);
    client.say(owner.channelId, 'after auth');
    await client.next('chat_message', (m) => m.content === 'after auth');

    const res = await SELF.fetch(`http://localhost/ws/${owner.channelId}`, {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': `chat, bearer.${owner.token}` },
    });
    expect(res.status).toBe(101);
    expect(res.headers.get('Sec-WebSocket-Protocol')).toBe('chat');
    res.webSocket?.accept();
    res.webSocket?.close();
  });

  it('replays the last 100 messages to a socket that joins later', async () => {
    const owner = await seedUser('own');
    const sender = await openJson(owner.channelId, owner.token);
    for (let i = 0; i < 3; i++) sender.say(owner.channelId, `history ${i}`);
    await sender.next('chat_message', (m) => m.content === 'history 2');
    const late = await openJson(owner.channelId);
    const history = await late.next('history');
    expect(history.messages.map((m) => m.content)).toEqual(['history 0', 'history 1', 'history 2']);
  });

  it('answers ping with pong and invalid frames with an error frame, keeping the socket', async () => {
    const owner = await seedUser('own');
    const client = await openJson(owner.channelId, owner.token);
    for (let i = 0; i < 30; i++) client.send({ type: 'ping' });
    // A burst of 30 is within the allowance; the socket stays open.
    await waitUntil(() => (client.frames.filter((f) => f.type === 'pong').length === 30 ? true : undefined));
    expect(client.closed).toBeNull();
    client.send('not json');
    client.send({ type: 'shout', content: 'x' });
    await waitUntil(() =>
      client.frames.filter((f) => f.type === 'error' && f.code === 'invalid_frame').length >= 2
        ? true
        : undefined,
    );
    client.say(owner.channelId, 'still here');
    await client.next('chat_message', (m) => m.content === 'still here');
  });

  it('closes a socket that floods more than 20 frames a second (bursts up to 40) with 1008', async () => {
    const owner = await seedUser('own');
    const client = await openJson(owner.channelId, owner.token);
    for (let i = 0; i < 60; i++) client.send({ type: 'ping' });
    await waitUntil(() => client.closed ?? undefined);
    expect(client.closed?.code).toBe(1008);
  });

  it('closes a socket that sends a frame over 2 KiB with 1008', async () => {
    const owner = await seedUser('own');
    const client = await openJson(owner.channelId, owner.token);
    client.say(owner.channelId, 'x'.repeat(3000));
    await waitUntil(() => client.closed ?? undefined);
    expect(client.closed?.code).toBe(1008);
  });

  it('shows moderators a moderator badge and a stable colour', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const client = await openJson(owner.channelId, mod.token);
    client.say(owner.channelId, 'mod here');
    client.say(owner.channelId, 'mod again');
    const [first, second] = await waitUntil(() => {
      const messages = client.messages();
      return messages.length >= 2 ? messages : undefined;
    });
    expect(first?.user.badges).toEqual([{ id: 'moderator', version: '1' }]);
    expect(first?.user.color).toBe(second?.user.color);
    const rows = await env.DB.prepare('SELECT count(*) AS n FROM channel_roles').first<{ n: number }>();
    expect(rows?.n).toBeGreaterThan(0);
  });

  it('sends a fan-out batch as one batch frame whose inner frames keep their order and kinds', async () => {
    const owner = await seedUser('own');
    const reader = await openJson(owner.channelId);
    // Direct replies to one socket stay single frames.
    expect(reader.received.slice(0, 2).map((f) => f.type)).toEqual(['welcome', 'history']);
    // The join itself may already have fanned out a batch (the viewer count); count from here.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const before = reader.received.length;
    const first = buildMessage(owner.channelId, owner, 'first');
    const second = buildMessage(owner.channelId, owner, 'second');
    await env.CHAT_SHARD.getByName(`${owner.channelId}:0`).deliver({
      channel: describeChannel(owner),
      windowMs: 100,
      events: [
        { kind: 'message', message: first, priority: true },
        { kind: 'delete', messageId: first.id, login: owner.name, content: 'first' },
        { kind: 'message', message: second, priority: false },
        { kind: 'viewer_count', count: 7 },
        { kind: 'clear_chat' },
      ],
    });
    const batch = await waitUntil(() => reader.received.slice(before).find((f) => f.type === 'batch'));
    expect(batch.frames).toEqual([
      first,
      { type: 'delete_message', id: first.id },
      second,
      { type: 'viewer_count', count: 7 },
      { type: 'clear_chat' },
    ]);
    // Nothing of the batch arrived as a frame of its own.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(reader.received.slice(before).map((f) => f.type)).toEqual(['batch']);
  });

  it('carries the messages of one window in fewer WebSocket messages than chat messages, in order', async () => {
    const owner = await seedUser('own');
    const sender = await openJson(owner.channelId, owner.token);
    const reader = await openJson(owner.channelId);
    const contents = Array.from({ length: 10 }, (_, i) => `burst ${i}`);
    for (const content of contents) sender.say(owner.channelId, content);
    await reader.next('chat_message', (m) => m.content === 'burst 9');
    expect(reader.messages().map((m) => m.content)).toEqual(contents);
    const fanout = reader.received.slice(2);
    expect(fanout.every((f) => f.type === 'batch')).toBe(true);
    expect(fanout.length).toBeLessThan(contents.length);
  });
});
