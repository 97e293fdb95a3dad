// Web Push for "went live", end to end in workerd: a follower registers a browser subscription
// through the API, the stream-events consumer handles stream.started and sends the push, and a
// stand-in push service (the test's own, speaking RFC 8030) checks the VAPID JWT against the key
// in the request and decrypts the aes128gcm body with the subscription's private key, in code of
// its own (nothing imported from the Worker's encryption). The refusals: foreign endpoints, keys
// that are not keys, more browsers than the cap, a follower who turned notifications off.
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createEvent, PlatformEvent } from '../../protocol/events.ts';
import { MAX_PUSH_SUBSCRIPTIONS_PER_USER } from '../../workers/api/routes/notifications.ts';
import { createPushFanoutHandler, PUSHES_PER_MESSAGE } from '../../workers/notifications/push-fanout.ts';
import { encryptPushPayload } from '../../workers/notifications/web-push.ts';
import { consumeEvents, type EventHandlers } from '../../workers/queues/consume.ts';
import { streamEventHandlers } from '../../workers/queues/stream-events.ts';
import { callApi, readError, signUp, type TestSession } from './api-helpers.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const plain = text.replaceAll('-', '+').replaceAll('_', '/');
  const binary = atob(plain + '='.repeat((4 - (plain.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

function join(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A browser's subscription: the keys its push service keeps and the JSON it gives the page. */
interface Browser {
  endpoint: string;
  privateKey: CryptoKey;
  publicKey: Uint8Array<ArrayBuffer>;
  auth: Uint8Array<ArrayBuffer>;
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
}

async function createBrowser(): Promise<Browser> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
    'deriveBits',
  ])) as CryptoKeyPair;
  const publicKey = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  const auth = crypto.getRandomValues(new Uint8Array(16));
  const endpoint = `https://fcm.googleapis.com/fcm/send/${crypto.randomUUID()}`;
  return {
    endpoint,
    privateKey: pair.privateKey,
    publicKey,
    auth,
    json: {
      endpoint,
      expirationTime: null,
      keys: { p256dh: toBase64Url(publicKey), auth: toBase64Url(auth) },
    },
  };
}

async function hkdf(
  salt: Uint8Array<ArrayBuffer>,
  ikm: Uint8Array<ArrayBuffer>,
  info: string | Uint8Array<ArrayBuffer>,
  length: number,
) {
  const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const infoBytes = typeof info === 'string' ? encoder.encode(info) : info;
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info: infoBytes }, key, length * 8),
  );
}

/** RFC 8291 section 3.4 and RFC 8188 section 2, from the receiving side. */
async function decryptAsBrowser(browser: Browser, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const salt = body.slice(0, 16);
  const recordSize = new DataView(body.buffer, body.byteOffset + 16, 4).getUint32(0);
  const idLength = body[20] ?? 0;
  const senderPublic = body.slice(21, 21 + idLength);
  const record = body.slice(21 + idLength);
  expect(recordSize).toBeGreaterThanOrEqual(record.length);
  const sender = await crypto.subtle.importKey(
    'raw',
    senderPublic,
    { name: 'ECDH', namedCurve: 'P-256' },
    false,
    [],
  );
  const ecdh = { name: 'ECDH', public: sender };
  const secret = new Uint8Array(await crypto.subtle.deriveBits(ecdh, browser.privateKey, 256));
  const ikm = await hkdf(
    browser.auth,
    secret,
    join(encoder.encode('WebPush: info\0'), browser.publicKey, senderPublic),
    32,
  );
  const cek = await hkdf(salt, ikm, 'Content-Encoding: aes128gcm\0', 16);
  const nonce = await hkdf(salt, ikm, 'Content-Encoding: nonce\0', 12);
  const key = await crypto.subtle.importKey('raw', cek, 'AES-GCM', false, ['decrypt']);
  const padded = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce }, key, record));
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  expect(padded[end]).toBe(2); // the last record's delimiter
  return decoder.decode(padded.slice(0, end));
}

/** RFC 8292: the JWT's ES256 signature verifies with the k= key, its aud is the endpoint's origin. */
async function verifyVapid(authorization: string, endpoint: string): Promise<string> {
  const match = /^vapid t=([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(
    authorization,
  );
  if (!match) throw new Error(`not a VAPID authorization: ${authorization}`);
  const [, header, claims, signature, k] = match as unknown as [string, string, string, string, string];
  const key = await crypto.subtle.importKey(
    'raw',
    fromBase64Url(k),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['verify'],
  );
  const valid = await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    fromBase64Url(signature),
    encoder.encode(`${header}.${claims}`),
  );
  expect(valid).toBe(true);
  expect(JSON.parse(decoder.decode(fromBase64Url(header)))).toEqual({ typ: 'JWT', alg: 'ES256' });
  const body = JSON.parse(decoder.decode(fromBase64Url(claims))) as { aud: string; exp: number; sub: string };
  expect(body.aud).toBe(new URL(endpoint).origin);
  expect(body.sub).toBe(env.VAPID_SUBJECT);
  expect(body.exp * 1000).toBeGreaterThan(Date.now());
  expect(body.exp * 1000).toBeLessThanOrEqual(Date.now() + 24 * 3600 * 1000);
  return k;
}

/** A push service that knows some browsers: checks each request as a push service would, keeps what it decrypts. */
class PushServiceStandIn {
  readonly browsers = new Map<string, Browser>();
  readonly delivered: { endpoint: string; payload: unknown; topic: string | null; ttl: string | null }[] = [];
  readonly gone = new Set<string>();

  readonly transport = async (request: Request): Promise<Response> => {
    const browser = this.browsers.get(request.url);
    if (!browser || this.gone.has(request.url)) return new Response(null, { status: 410 });
    expect(request.method).toBe('POST');
    // A push service's redirect is never followed (it could point anywhere).
    expect(request.redirect).toBe('manual');
    expect(request.headers.get('Content-Encoding')).toBe('aes128gcm');
    const k = await verifyVapid(request.headers.get('Authorization') ?? '', request.url);
    expect(k).toBe(env.VAPID_PUBLIC_KEY);
    const payload = await decryptAsBrowser(browser, new Uint8Array(await request.arrayBuffer()));
    this.delivered.push({
      endpoint: request.url,
      payload: JSON.parse(payload),
      topic: request.headers.get('Topic'),
      ttl: request.headers.get('TTL'),
    });
    return new Response(null, { status: 201 });
  };
}

/** A queue that keeps what is sent to it, so the test hands each share to the consumer itself. */
function recordingQueue(sent: unknown[]): Queue {
  return {
    send: async (body: unknown) => {
      sent.push(body);
    },
    sendBatch: async (messages: Iterable<MessageSendRequest>) => {
      for (const message of messages) sent.push(message.body);
    },
    metrics: async () => ({ backlogCount: 0, backlogBytes: 0 }),
  } as unknown as Queue;
}

async function consume(handlers: EventHandlers, bodies: unknown[], queued: unknown[]) {
  const batch = createMessageBatch(
    'stream-events',
    bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })),
  );
  await consumeEvents('stream-events', handlers, batch, { ...env, STREAM_EVENTS: recordingQueue(queued) });
  return getQueueResult(batch, createExecutionContext());
}

async function startStream(channelId: string, title: string): Promise<string> {
  const streamId = crypto.randomUUID();
  await env.DB.prepare(
    "INSERT INTO streams (id, channel_id, title, status, created_at) VALUES (?, ?, ?, 'live', ?)",
  )
    .bind(streamId, channelId, title, Date.now())
    .run();
  return streamId;
}

async function follow(follower: TestSession, streamer: TestSession): Promise<void> {
  const res = await callApi(`/channels/${streamer.channel.id}/follow`, {
    method: 'POST',
    token: follower.token,
  });
  expect(res.status).toBe(204);
}

async function subscribe(session: TestSession, body: unknown): Promise<Response> {
  return callApi('/notifications/push/subscriptions', { method: 'POST', token: session.token, body });
}

describe('Web Push', () => {
  it('encrypts exactly as the example of RFC 8291 appendix A', async () => {
    const asPublic = fromBase64Url(
      'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8',
    );
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: toBase64Url(asPublic.subarray(1, 33)),
      y: toBase64Url(asPublic.subarray(33)),
      d: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
    };
    const curve = { name: 'ECDH', namedCurve: 'P-256' };
    const senderKeys = {
      privateKey: await crypto.subtle.importKey('jwk', jwk, curve, false, ['deriveBits']),
      publicKey: await crypto.subtle.importKey('raw', asPublic, curve, true, []),
    };
    const body = await encryptPushPayload(
      {
        p256dh: fromBase64Url(
          'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
        ),
        auth: fromBase64Url('BTBZMqHH6r4Tts7J_aSIgg'),
      },
      encoder.encode('When I grow up, I want to be a watermelon'),
      { senderKeys, salt: fromBase64Url('DGv6ra1nlYgDCS1FRnbzlw') },
    );
    expect(toBase64Url(body)).toBe(
      'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
    );
  });

  it("sends a follower's browser the went-live push, which the push service decrypts with the subscription's private key", async () => {
    const streamer = await signUp('pushstreamer');
    const follower = await signUp('pushfan');
    await follow(follower, streamer);
    const browser = await createBrowser();
    const key = await callApi('/notifications/push/key');
    expect(await key.json()).toEqual({ public_key: env.VAPID_PUBLIC_KEY });
    expect((await subscribe(follower, browser.json)).status).toBe(201);

    const pushService = new PushServiceStandIn();
    pushService.browsers.set(browser.endpoint, browser);
    const handlers: EventHandlers = {
      ...streamEventHandlers,
      'notification.push': createPushFanoutHandler(pushService.transport),
    };
    const streamId = await startStream(streamer.channel.id, 'Speedrun night');
    const queued: unknown[] = [];
    const started = createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id });
    expect((await consume(handlers, [started], queued)).explicitAcks).toHaveLength(1);
    // stream.started queued the first share; nothing was sent yet.
    expect(pushService.delivered).toHaveLength(0);
    const share = PlatformEvent.parse(queued[0]);
    expect(share.type).toBe('notification.push');
    await consume(handlers, [share], queued);

    expect(pushService.delivered).toEqual([
      {
        endpoint: browser.endpoint,
        payload: {
          kind: 'stream.live',
          title: `${streamer.user.username} is live`,
          body: 'Speedrun night',
          url: `/${streamer.user.username}`,
          channel_id: streamer.channel.id,
          stream_id: streamId,
        },
        topic: expect.stringMatching(/^[0-9a-f]{32}$/),
        ttl: String(4 * 3600),
      },
    ]);
    // stream.started for the same stream again (a big channel's in-app fan-out continues under a
    // new event id) queues the same share, which the consumer has already processed: no second push.
    const again = createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id });
    await consume(handlers, [again], queued);
    expect(PlatformEvent.parse(queued[1]).id).toBe(share.id);
    await consume(handlers, [queued[1]], queued);
    expect(pushService.delivered).toHaveLength(1);
    // And the in-app notification is there too.
    const inbox = (await (await callApi('/notifications', { token: follower.token })).json()) as {
      unread: number;
      data: { stream_id: string }[];
    };
    expect(inbox.unread).toBe(1);
    expect(inbox.data[0]?.stream_id).toBe(streamId);
  });

  it('sends nothing for a stream that ended before its share ran', async () => {
    const streamer = await signUp('endedpush');
    const follower = await signUp('endedfan');
    await follow(follower, streamer);
    const browser = await createBrowser();
    expect((await subscribe(follower, browser.json)).status).toBe(201);
    const pushService = new PushServiceStandIn();
    pushService.browsers.set(browser.endpoint, browser);
    const handlers: EventHandlers = {
      ...streamEventHandlers,
      'notification.push': createPushFanoutHandler(pushService.transport),
    };
    const streamId = await startStream(streamer.channel.id, 'Short');
    const queued: unknown[] = [];
    await consume(
      handlers,
      [createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id })],
      queued,
    );
    await env.DB.prepare("UPDATE streams SET status = 'ended', ended_at = ? WHERE id = ?")
      .bind(Date.now(), streamId)
      .run();
    await consume(handlers, queued.slice(), queued);
    expect(pushService.delivered).toHaveLength(0);
  });

  it('refuses subscriptions to foreign endpoints and keys that are not keys, storing nothing', async () => {
    const user = await signUp('pushattacker');
    const browser = await createBrowser();
    const foreign = [
      'http://fcm.googleapis.com/fcm/send/x',
      'https://attacker.example/collect',
      'https://127.0.0.1/internal',
      'https://fcm.googleapis.com.attacker.example/fcm/send/x',
      'https://fcm.googleapis.com:8443/fcm/send/x',
      'https://user:pw@fcm.googleapis.com/fcm/send/x',
      'https://evil.internal.notify.windows.com/w/x',
      'https://fcm.googleapis.com/',
      `https://fcm.googleapis.com/${'a'.repeat(1100)}`,
    ];
    for (const endpoint of foreign) {
      const res = await subscribe(user, { ...browser.json, endpoint });
      expect([400, 422], endpoint).toContain(res.status);
      expect((await readError(res)).code).toMatch(/^(unprocessable|validation_failed)$/);
    }
    const offCurve = new Uint8Array(65);
    offCurve[0] = 4;
    offCurve.fill(7, 1);
    const badKeys = [
      { p256dh: toBase64Url(offCurve), auth: browser.json.keys.auth },
      { p256dh: browser.json.keys.p256dh.slice(0, 40), auth: browser.json.keys.auth },
      { p256dh: browser.json.keys.p256dh, auth: toBase64Url(new Uint8Array(15)) },
      { p256dh: '!!!not base64!!!', auth: browser.json.keys.auth },
    ];
    for (const keys of badKeys) {
      const res = await subscribe(user, { ...browser.json, keys });
      expect(res.status).toBe(422);
    }
    const stored = await env.DB.prepare('SELECT count(*) AS n FROM push_subscriptions WHERE user_id = ?')
      .bind(user.user.id)
      .first<{ n: number }>();
    expect(stored?.n).toBe(0);
  });

  it(`keeps at most ${MAX_PUSH_SUBSCRIPTIONS_PER_USER} browsers per account and lets one be removed`, async () => {
    const user = await signUp('pushmany');
    const browsers = await Promise.all(
      Array.from({ length: MAX_PUSH_SUBSCRIPTIONS_PER_USER + 1 }, () => createBrowser()),
    );
    for (const browser of browsers.slice(0, -1))
      expect((await subscribe(user, browser.json)).status).toBe(201);
    const over = await subscribe(user, browsers.at(-1)?.json);
    expect(over.status).toBe(422);
    // Registering a browser it already has is not a new one.
    expect((await subscribe(user, browsers[0]?.json)).status).toBe(201);
    const other = await signUp('pushother');
    const removeForeign = await callApi('/notifications/push/subscriptions', {
      method: 'DELETE',
      token: other.token,
      body: { endpoint: browsers[0]?.endpoint },
    });
    expect(removeForeign.status).toBe(404);
    const remove = await callApi('/notifications/push/subscriptions', {
      method: 'DELETE',
      token: user.token,
      body: { endpoint: browsers[0]?.endpoint },
    });
    expect(remove.status).toBe(204);
    expect((await subscribe(user, browsers.at(-1)?.json)).status).toBe(201);
  });

  it('sends nothing, in-app or push, to a follower who turned notifications off for the channel', async () => {
    const streamer = await signUp('qstreamer');
    const follower = await signUp('quietfan');
    await follow(follower, streamer);
    const browser = await createBrowser();
    expect((await subscribe(follower, browser.json)).status).toBe(201);
    const off = await callApi(`/channels/${streamer.channel.id}/follow/notifications`, {
      method: 'PUT',
      token: follower.token,
      body: { enabled: false },
    });
    expect(await off.json()).toEqual({ enabled: false });
    const follows = (await (await callApi('/users/me/follows', { token: follower.token })).json()) as {
      data: { notifications: boolean }[];
    };
    expect(follows.data.map((f) => f.notifications)).toEqual([false]);
    const notFollowing = await signUp('qstranger');
    const strangers = await callApi(`/channels/${streamer.channel.id}/follow/notifications`, {
      method: 'PUT',
      token: notFollowing.token,
      body: { enabled: true },
    });
    expect(strangers.status).toBe(404);

    const pushService = new PushServiceStandIn();
    pushService.browsers.set(browser.endpoint, browser);
    const handlers: EventHandlers = {
      ...streamEventHandlers,
      'notification.push': createPushFanoutHandler(pushService.transport),
    };
    const streamId = await startStream(streamer.channel.id, 'Quiet');
    const queued: unknown[] = [];
    await consume(
      handlers,
      [createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id })],
      queued,
    );
    await consume(handlers, queued.slice(), queued);
    expect(pushService.delivered).toHaveLength(0);
    const inbox = (await (await callApi('/notifications', { token: follower.token })).json()) as {
      unread: number;
    };
    expect(inbox.unread).toBe(0);
  });

  it('fans out in bounded shares, each subscription once, and forgets subscriptions the push service says are gone', async () => {
    const streamer = await signUp('bigpush');
    const pushService = new PushServiceStandIn();
    const total = PUSHES_PER_MESSAGE * 2 + 4;
    const tag = crypto.randomUUID().slice(0, 8);
    const statements: D1PreparedStatement[] = [];
    const browsers: Browser[] = [];
    for (let i = 0; i < total; i++) {
      const browser = await createBrowser();
      browsers.push(browser);
      pushService.browsers.set(browser.endpoint, browser);
      const userId = `${tag}-${String(i).padStart(4, '0')}`;
      statements.push(
        env.DB.prepare(
          "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, 'x', ?)",
        ).bind(userId, `p${tag}_${i}`, Date.now()),
        env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)').bind(
          userId,
          streamer.channel.id,
          Date.now(),
        ),
        env.DB.prepare(
          'INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        ).bind(
          crypto.randomUUID(),
          userId,
          browser.endpoint,
          browser.json.keys.p256dh,
          browser.json.keys.auth,
          Date.now(),
        ),
      );
    }
    await env.DB.batch(statements);
    const goneEndpoint = browsers[3]?.endpoint ?? '';
    pushService.gone.add(goneEndpoint);
    const handlers: EventHandlers = {
      ...streamEventHandlers,
      'notification.push': createPushFanoutHandler(pushService.transport),
    };
    const streamId = await startStream(streamer.channel.id, 'Big');
    const queued: unknown[] = [];
    await consume(
      handlers,
      [createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id })],
      queued,
    );
    let shares = 0;
    for (let next = 0; next < queued.length && shares < 10; next++, shares++) {
      const before = pushService.delivered.length;
      // Every share is delivered twice (the queue is at least once); the second is a duplicate.
      await consume(handlers, [queued[next]], queued);
      await consume(handlers, [queued[next]], queued);
      expect(pushService.delivered.length - before).toBeLessThanOrEqual(PUSHES_PER_MESSAGE);
    }
    // Three full or partial shares (15, 15, 4), each queued twice and processed once.
    expect(new Set(queued.map((body) => PlatformEvent.parse(body).id)).size).toBe(3);
    const endpoints = pushService.delivered.map((d) => d.endpoint);
    expect(endpoints).toHaveLength(total - 1);
    expect(new Set(endpoints).size).toBe(total - 1);
    expect(endpoints).not.toContain(goneEndpoint);
    const left = await env.DB.prepare('SELECT count(*) AS n FROM push_subscriptions WHERE endpoint = ?')
      .bind(goneEndpoint)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});
