// The flood penalty (docs/security.md, durable-objects/chat-shard/seats.ts): a socket the shard
// closes for flooding gives its seat back with a penalty on the seat's key, so the script that
// reconnects at once is refused 429 before the upgrade costs anything, the refusal is remembered
// by the Worker, and repeated floods wait longer each time. Other users and networks are untouched.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { FLOOD_PENALTY } from '../../durable-objects/chat-shard/seats.ts';
import { RETRY_JITTER_SECONDS } from '../../workers/chat/index.ts';
import { IrcClient, JsonClient, seedUser, waitUntil } from './chat-fixtures.ts';

let addressCounter = 0;
/** A client network of its own per test (distinct /64s), so one test's penalty never hits another's. */
function nextNetwork(): string {
  addressCounter++;
  return `2001:db8:${(0x7000 + addressCounter).toString(16)}:1::`;
}

function upgrade(path: string, headers: Record<string, string>): Promise<Response> {
  return SELF.fetch(`http://localhost${path}`, { headers: { Upgrade: 'websocket', ...headers } });
}

async function openJsonAt(channelId: string, headers: Record<string, string>): Promise<JsonClient> {
  const res = await upgrade(`/ws/${channelId}`, headers);
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no webSocket on the 101 response');
  const client = new JsonClient(ws);
  ws.accept();
  await client.next('welcome');
  return client;
}

/**
 * The first upgrade that is not accepted. The penalty lands a moment after the close frame, so an
 * upgrade racing it may still pass: that one is closed again and the next is tried, for up to 3 s.
 */
async function expectRefused(path: string, headers: Record<string, string>): Promise<Response> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const res = await upgrade(path, headers);
    if (res.status !== 101) return res;
    res.webSocket?.accept();
    res.webSocket?.close(1000, 'probe');
    if (Date.now() > deadline) throw new Error(`${path} was still accepted after 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function expectPenaltyBody(res: Response): Promise<number> {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get('Retry-After'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  // The penalty's wait, plus at most the jitter that keeps its sockets from returning together.
  expect(retryAfter).toBeLessThanOrEqual(FLOOD_PENALTY.baseMs / 1000 + RETRY_JITTER_SECONDS);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('rate_limited');
  expect(body.error.message).toMatch(/closed for flooding/);
  return retryAfter;
}

describe('the chat flood penalty', () => {
  it('refuses a signed-in user who flooded 429 on reconnect, remembered by the Worker, while other users connect', async () => {
    const owner = await seedUser('own');
    const spammer = await seedUser('spam');
    const bystander = await seedUser('ok');
    const headers = { 'Sec-WebSocket-Protocol': `chat, bearer.${spammer.token}` };
    const client = await openJsonAt(owner.channelId, headers);
    client.send('x'.repeat(4096));
    expect(await waitUntil(() => client.closed ?? undefined)).toEqual({
      code: 1008,
      reason: 'frame too large',
    });

    await expectPenaltyBody(await expectRefused(`/ws/${owner.channelId}`, headers));
    // The second refusal comes from the Worker's memory, with the same answer.
    await expectPenaltyBody(await upgrade(`/ws/${owner.channelId}`, headers));
    // Only the flooder waits.
    const other = await openJsonAt(owner.channelId, {
      'Sec-WebSocket-Protocol': `chat, bearer.${bystander.token}`,
    });
    expect(other.closed).toBeNull();
    other.close();
  });

  it('refuses the anonymous sockets of a network that flooded, but not its signed-in users nor other networks', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const network = nextNetwork();
    const client = await openJsonAt(owner.channelId, { 'CF-Connecting-IP': `${network}1` });
    // Past the line budget (flood-control.ts: 40 at once): closed with 1008.
    for (let i = 0; i < 60 && !client.closed; i++) client.send({ type: 'ping' });
    expect(await waitUntil(() => client.closed ?? undefined)).toMatchObject({
      code: 1008,
      reason: expect.stringMatching(/^too many (pending )?frames$/),
    });

    // Another address in the same /64 is the same network.
    await expectPenaltyBody(
      await expectRefused(`/ws/${owner.channelId}`, { 'CF-Connecting-IP': `${network}2` }),
    );
    const irc = await upgrade('/irc', { 'CF-Connecting-IP': `${network}3`, 'Sec-WebSocket-Protocol': 'irc' });
    await expectPenaltyBody(irc);

    const signedIn = await openJsonAt(owner.channelId, {
      'CF-Connecting-IP': `${network}4`,
      'Sec-WebSocket-Protocol': `chat, bearer.${viewer.token}`,
    });
    expect(signedIn.closed).toBeNull();
    signedIn.close();
    const elsewhere = await openJsonAt(owner.channelId, { 'CF-Connecting-IP': `${nextNetwork()}1` });
    expect(elsewhere.closed).toBeNull();
    elsewhere.close();
  });

  it('penalizes an anonymous IRC socket closed for a 50-line frame', async () => {
    const network = nextNetwork();
    const res = await upgrade('/irc', { 'CF-Connecting-IP': `${network}1`, 'Sec-WebSocket-Protocol': 'irc' });
    expect(res.status).toBe(101);
    const ws = res.webSocket;
    if (!ws) throw new Error('no webSocket on the 101 response');
    const irc = new IrcClient(ws);
    ws.accept();
    irc.send(...Array.from({ length: 50 }, (_, i) => `PING :${i}`));
    expect(await waitUntil(() => irc.closed ?? undefined)).toEqual({ code: 1008 });
    await expectPenaltyBody(
      await expectRefused('/irc', { 'CF-Connecting-IP': `${network}9`, 'Sec-WebSocket-Protocol': 'irc' }),
    );
  });

  it('does not penalize a malformed frame, which is answered, nor a normal close: the network reconnects at once', async () => {
    const owner = await seedUser('own');
    const network = nextNetwork();
    const client = await openJsonAt(owner.channelId, { 'CF-Connecting-IP': `${network}1` });
    client.send({ type: 'no_such_frame' });
    await client.next('error');
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await openJsonAt(owner.channelId, { 'CF-Connecting-IP': `${network}2` });
    expect(again.closed).toBeNull();
    again.close();
  });
});

describe('the RateLimiter lease penalty', () => {
  const policy = { baseMs: 300, maxMs: 1_000, forgetAfterMs: 60_000 };

  it('refuses new leases until the penalty ends, doubles it at each strike up to the cap, and counts a burst of closes once', async () => {
    const key = `penalty-test:${crypto.randomUUID()}`;
    const limiter = env.RATE_LIMITER.getByName(key);
    const first = await limiter.acquireLease(key, 5, 60_000);
    const second = await limiter.acquireLease(key, 5, 60_000);
    if (!first.allowed || !second.allowed) throw new Error('the first leases must be granted');
    expect(await limiter.releaseLease(key, first.leaseId, policy)).toBe(300);
    // Two sockets of one flooder closed together: still one strike.
    expect(await limiter.releaseLease(key, second.leaseId, policy)).toBeLessThanOrEqual(300);
    const refused = await limiter.acquireLease(key, 5, 60_000);
    expect(refused).toMatchObject({ allowed: false, reason: 'penalty' });
    if (refused.allowed) throw new Error('unreachable');
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(300);

    await new Promise((resolve) => setTimeout(resolve, 350));
    const third = await limiter.acquireLease(key, 5, 60_000);
    if (!third.allowed) throw new Error('the penalty must have ended');
    expect(await limiter.releaseLease(key, third.leaseId, policy)).toBe(600);
    await new Promise((resolve) => setTimeout(resolve, 650));
    const fourth = await limiter.acquireLease(key, 5, 60_000);
    if (!fourth.allowed) throw new Error('the penalty must have ended');
    expect(await limiter.releaseLease(key, fourth.leaseId, policy)).toBe(1_000);
    // A plain release (a normal close) adds no strike and no penalty.
    const full = await limiter.acquireLease(key, 5, 60_000);
    expect(full).toMatchObject({ allowed: false, reason: 'penalty' });
  });

  it('tells a full key from a penalized one', async () => {
    const key = `penalty-test:${crypto.randomUUID()}`;
    const limiter = env.RATE_LIMITER.getByName(key);
    const only = await limiter.acquireLease(key, 1, 60_000);
    expect(only.allowed).toBe(true);
    expect(await limiter.acquireLease(key, 1, 60_000)).toMatchObject({ allowed: false, reason: 'full' });
    if (only.allowed) expect(await limiter.releaseLease(key, only.leaseId)).toBe(0);
    expect((await limiter.acquireLease(key, 1, 60_000)).allowed).toBe(true);
  });

  it('counts a lease rate in the lease call: every attempt a hit, refused past it before the seat', async () => {
    const key = `rate-test:${crypto.randomUUID()}`;
    const rate = { hitKey: `${key}:connects`, limit: 3, windowMs: 60_000 };
    const limiter = env.RATE_LIMITER.getByName(key);
    const hits = () =>
      runInDurableObject(limiter, (_instance, state) =>
        Number(state.storage.sql.exec('SELECT count(*) AS n FROM hits WHERE key = ?', rate.hitKey).one().n),
      );
    const first = await limiter.acquireLease(key, 1, 60_000, rate);
    if (!first.allowed) throw new Error('the first lease must be granted');
    // The seat is full: refused as full, and the attempt is still a connect.
    expect(await limiter.acquireLease(key, 1, 60_000, rate)).toMatchObject({
      allowed: false,
      reason: 'full',
    });
    expect(await hits()).toBe(2);
    // Reconnecting into a flood penalty spends connects too, and past the rate the answer is the
    // rate's, whose wait (the minute) is longer than the penalty's.
    await limiter.releaseLease(key, first.leaseId, policy);
    expect(await limiter.acquireLease(key, 1, 60_000, rate)).toMatchObject({
      allowed: false,
      reason: 'penalty',
    });
    expect(await hits()).toBe(3);
    const past = await limiter.acquireLease(key, 1, 60_000, rate);
    expect(past).toMatchObject({ allowed: false, reason: 'rate' });
    if (past.allowed) throw new Error('unreachable');
    expect(past.retryAfterMs).toBeGreaterThan(50_000);
    expect(await hits()).toBe(3);
  });

  it('moves its cleanup alarm once for a burst of hits, always past the newest expiry', async () => {
    const key = `cleanup-test:${crypto.randomUUID()}`;
    const limiter = env.RATE_LIMITER.getByName(key);
    const alarm = () => runInDurableObject(limiter, (_instance, state) => state.storage.getAlarm());
    const windowMs = 60_000;
    expect((await limiter.consume(key, 100, windowMs)).allowed).toBe(true);
    const first = await alarm();
    let last = Date.now();
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      last = Date.now();
      expect((await limiter.consume(key, 100, windowMs)).allowed).toBe(true);
    }
    // One alarm write for the burst (each hit moved it before), and no hit outlives it.
    expect(await alarm()).toBe(first);
    expect(first ?? 0).toBeGreaterThanOrEqual(last + windowMs);
  });
});
