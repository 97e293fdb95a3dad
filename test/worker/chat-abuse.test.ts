// Anonymous chat work amplification (docs/security.md): each attack a script can run from an
// anonymous socket, run against the real Worker and shards, and the bound that stops it.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  MAX_ANONYMOUS_CONNECTS_PER_MINUTE,
  MAX_ANONYMOUS_SOCKETS_PER_NETWORK,
  MAX_SIGNED_IN_UPGRADES_IN_FLIGHT,
  MAX_SOCKETS_PER_USER,
} from '../../durable-objects/chat-shard/seats.ts';
import { RETRY_JITTER_SECONDS } from '../../workers/chat/index.ts';
import { IrcClient, type JsonClient, openIrc, openJson, seedUser, waitUntil } from './chat-fixtures.ts';

/**
 * The Retry-After of refused upgrades: each within the bound's wait plus the jitter, and spread
 * (clients that honour it must not all come back in the same second).
 */
function expectSpreadRetryAfter(refused: readonly Response[], waitSeconds: number): void {
  const seconds = refused.map((res) => Number(res.headers.get('Retry-After')));
  for (const value of seconds) {
    expect(value).toBeGreaterThanOrEqual(waitSeconds);
    expect(value).toBeLessThanOrEqual(waitSeconds + RETRY_JITTER_SECONDS);
  }
  // 3 values for each of 16 or more refusals: all equal by chance once in ~14 million runs.
  if (refused.length >= 16) expect(new Set(seconds).size).toBeGreaterThan(1);
}

let addressCounter = 0;
/** A client address of its own per test, so one test's seats never fill another's. */
function nextAddress(): string {
  addressCounter++;
  return `198.51.${100 + (addressCounter >> 8)}.${addressCounter & 255}`;
}

async function upgrade(path: string, address: string, protocol?: string): Promise<Response> {
  const headers: Record<string, string> = { Upgrade: 'websocket', 'CF-Connecting-IP': address };
  if (protocol) headers['Sec-WebSocket-Protocol'] = protocol;
  return SELF.fetch(`http://localhost${path}`, { headers });
}

async function anonymousIrc(): Promise<IrcClient> {
  const irc = await openIrc();
  irc.send('PASS SCHMOOPIIE', `NICK justinfan${Math.floor(Math.random() * 1e6)}`);
  await irc.next(/ 376 /);
  return irc;
}

describe('anonymous chat work amplification', () => {
  it('looks up at most 20 channels for a JOIN list of 500 and refuses the rest in one NOTICE', async () => {
    const irc = await anonymousIrc();
    const targets = Array.from({ length: 500 }, (_, i) => `#nosuch${i}x${addressCounter}`).join(',');
    irc.send(`JOIN ${targets}`);
    await irc.next(/msg-id=msg_ratelimit .*480 channels were not joined/, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(irc.lines.filter((l) => l.includes('msg_channel_suspended'))).toHaveLength(20);
    expect(irc.closed).toBeNull();
  });

  it('counts lines, not frames: one frame of 50 PINGs closes the socket with 1008', async () => {
    const irc = await anonymousIrc();
    irc.send(...Array.from({ length: 50 }, (_, i) => `PING :${i}`));
    await waitUntil(() => irc.closed ?? undefined);
    expect(irc.closed?.code).toBe(1008);
    expect(irc.lines.filter((l) => l.startsWith('PONG'))).toHaveLength(0);
  });

  it('closes a socket after three credential attempts with 1008, before a fourth lookup', async () => {
    const irc = await openIrc();
    irc.send(...Array.from({ length: 10 }, (_, i) => `PASS oauth:guess${i}`));
    await waitUntil(() => irc.closed ?? undefined);
    expect(irc.closed?.code).toBe(1008);

    const owner = await seedUser('own');
    const json = await openJson(owner.channelId);
    for (let i = 0; i < 5; i++) json.send({ type: 'auth', token: `guess${i}` });
    await waitUntil(() => json.closed ?? undefined);
    expect(json.closed?.code).toBe(1008);
    expect(json.frames.filter((f) => f.type === 'error' && f.code === 'unauthorized')).toHaveLength(3);
  });

  it('closes a socket whose frames queue up behind slow ones with 1008', async () => {
    const owner = await seedUser('own');
    const irc = await anonymousIrc();
    // Each frame waits on D1 and two room RPCs; frames arriving meanwhile queue, and the one that
    // finds MAX_QUEUED_FRAMES waiting is refused.
    for (let i = 0; i < 18; i++) irc.send(`JOIN #${owner.name}`, `PART #${owner.name}`);
    await waitUntil(() => irc.closed ?? undefined);
    expect(irc.closed?.code).toBe(1008);
  });

  it('caps anonymous sockets per client network with 429, and a seat comes back when one closes or signs in', async () => {
    const owner = await seedUser('own');
    const address = nextAddress();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < MAX_ANONYMOUS_SOCKETS_PER_NETWORK; i++) {
      const res = await upgrade(`/ws/${owner.channelId}`, address);
      expect(res.status).toBe(101);
      const ws = res.webSocket;
      if (!ws) throw new Error('no socket');
      ws.accept();
      sockets.push(ws);
    }
    const refused = await upgrade(`/ws/${owner.channelId}`, address);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // IRC sockets start anonymous: the same network gets no more of them either.
    expect((await upgrade('/irc', address, 'irc')).status).toBe(429);
    // Another network, and a signed-in viewer on this one, are not affected.
    expect((await upgrade(`/ws/${owner.channelId}`, nextAddress())).status).toBe(101);
    expect((await upgrade(`/ws/${owner.channelId}`, address, `chat, bearer.${owner.token}`)).status).toBe(
      101,
    );
    // The one script's sockets count once each, never beyond the cap.
    const stats = await env.CHAT_ROOM.getByName(owner.channelId).readViewerStats();
    expect(stats.chatters).toBeLessThanOrEqual(MAX_ANONYMOUS_SOCKETS_PER_NETWORK + 2);
    expect(stats.viewers).toBe(0);

    sockets[0]?.close(1000, 'bye');
    const key = `chat-anonymous:${address}`;
    const limiter = env.RATE_LIMITER.getByName(key);
    for (let i = 0; i < 100 && (await limiter.countLeases(key)) >= MAX_ANONYMOUS_SOCKETS_PER_NETWORK; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await upgrade(`/ws/${owner.channelId}`, address);
    expect(again.status).toBe(101);
    again.webSocket?.accept();

    // An IRC socket that signs in gives its anonymous seat back.
    const other = nextAddress();
    const res = await upgrade('/irc', other, 'irc');
    const ws = res.webSocket;
    if (!ws) throw new Error('no socket');
    const irc = new IrcClient(ws);
    ws.accept();
    const otherKey = `chat-anonymous:${other}`;
    expect(await env.RATE_LIMITER.getByName(otherKey).countLeases(otherKey)).toBe(1);
    irc.send(`PASS oauth:${owner.ircToken}`, `NICK ${owner.name}`);
    await irc.next(/ 376 /);
    for (let i = 0; i < 100 && (await env.RATE_LIMITER.getByName(otherKey).countLeases(otherKey)) > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await env.RATE_LIMITER.getByName(otherKey).countLeases(otherKey)).toBe(0);
  });

  it('refuses a burst of anonymous upgrades from one network past the few in flight, before any lookup', async () => {
    const owner = await seedUser('burst');
    const address = nextAddress();
    const burst = 2 * MAX_ANONYMOUS_SOCKETS_PER_NETWORK;
    const responses = await Promise.all(
      Array.from({ length: burst }, () => upgrade(`/ws/${owner.channelId}`, address)),
    );
    const accepted = responses.filter((res) => res.status === 101);
    const refused = responses.filter((res) => res.status === 429);
    for (const res of accepted) res.webSocket?.accept();
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length + refused.length).toBe(burst);
    expectSpreadRetryAfter(refused, 1);
    for (const res of refused) expect(await res.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // The limiter heard only from the upgrades let through (one call each for the whole burst
    // was `burst` hits, and the seats' cap refused past 20 of them). The connect rate is counted
    // in the network's seat object.
    const key = `chat-anonymous-connects:${address}`;
    const seatObject = env.RATE_LIMITER.getByName(`chat-anonymous:${address}`);
    const hits = await runInDurableObject(seatObject, (_instance, state) =>
      Number(state.storage.sql.exec('SELECT count(*) AS n FROM hits WHERE key = ?', key).one().n),
    );
    expect(hits).toBe(accepted.length);
    expect(refused.length).toBeGreaterThanOrEqual(burst / 2);
    // Nothing is held once they are through: the next upgrade goes in.
    const again = await upgrade(`/ws/${owner.channelId}`, address);
    expect(again.status).toBe(101);
    again.webSocket?.accept();
  });

  it('refuses a burst of upgrades with one token past the few in flight, and not another user beside it', async () => {
    const owner = await seedUser('own');
    const flooder = await seedUser('flood');
    const bystander = await seedUser('calm');
    const burst = 2 * MAX_SIGNED_IN_UPGRADES_IN_FLIGHT + 2;
    const [responses, calm] = await Promise.all([
      Promise.all(
        Array.from({ length: burst }, () =>
          upgrade(`/ws/${owner.channelId}`, nextAddress(), `chat, bearer.${flooder.token}`),
        ),
      ),
      upgrade(`/ws/${owner.channelId}`, nextAddress(), `chat, bearer.${bystander.token}`),
    ]);
    const accepted = responses.filter((res) => res.status === 101);
    const refused = responses.filter((res) => res.status === 429);
    for (const res of [...accepted, calm]) res.webSocket?.accept();
    expect(calm.status).toBe(101);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length + refused.length).toBe(burst);
    expect(refused.length).toBeGreaterThanOrEqual(burst - 2 * MAX_SIGNED_IN_UPGRADES_IN_FLIGHT);
    expectSpreadRetryAfter(refused, 1);
    for (const res of refused) expect(await res.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // Refused before the seat: the user's limiter holds only the sockets let through.
    const key = `chat-user:${flooder.id}`;
    expect(await env.RATE_LIMITER.getByName(key).countLeases(key)).toBe(accepted.length);
    // Nothing is held once they are through.
    const again = await upgrade(`/ws/${owner.channelId}`, nextAddress(), `chat, bearer.${flooder.token}`);
    expect(again.status).toBe(101);
    again.webSocket?.accept();
  });

  it('limits how fast one network opens anonymous sockets, even when each closes at once', async () => {
    const address = nextAddress();
    for (let i = 0; i < MAX_ANONYMOUS_CONNECTS_PER_MINUTE; i++) {
      const res = await upgrade('/irc', address, 'irc');
      expect(res.status).toBe(101);
      res.webSocket?.accept();
      res.webSocket?.close(1000, 'next');
    }
    const refused = await upgrade('/irc', address, 'irc');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    // The refusal is remembered: the next anonymous upgrade is refused before any lookup, so even
    // a channel that does not exist answers 429, not the 404 its D1 lookup would give.
    const unknown = await upgrade(`/ws/${crypto.randomUUID()}`, address);
    expect(unknown.status).toBe(429);
    expect(Number(unknown.headers.get('Retry-After'))).toBeGreaterThan(0);
  });

  it('caps one user at 20 sockets, whichever way they sign in', async () => {
    const owner = await seedUser('own');
    const user = await seedUser('bot');
    for (let i = 0; i < MAX_SOCKETS_PER_USER; i++) {
      const res = await upgrade(`/ws/${owner.channelId}`, nextAddress(), `chat, bearer.${user.token}`);
      expect(res.status).toBe(101);
      res.webSocket?.accept();
    }
    const refused = await upgrade(`/ws/${owner.channelId}`, nextAddress(), `chat, bearer.${user.token}`);
    expect(refused.status).toBe(429);
    // Signing in later does not get round it: an auth frame or an IRC login past the cap is closed.
    const json = await openJson(owner.channelId);
    json.send({ type: 'auth', token: user.token });
    await waitUntil(() => json.closed ?? undefined);
    expect(json.closed?.code).toBe(1008);
    const irc = await openIrc();
    irc.send(`PASS oauth:${user.ircToken}`, `NICK ${user.name}`);
    await waitUntil(() => irc.closed ?? undefined);
    expect(irc.closed?.code).toBe(1008);
  });

  it('answers an anonymous JSON chat_message at the shard and keeps the socket', async () => {
    const owner = await seedUser('own');
    const anon: JsonClient = await openJson(owner.channelId);
    for (let i = 0; i < 10; i++) anon.say(owner.channelId, `spam ${i}`);
    await waitUntil(() =>
      anon.frames.filter((f) => f.type === 'error' && f.code === 'unauthorized').length === 10
        ? true
        : undefined,
    );
    expect(anon.closed).toBeNull();
  });
});
