// Mainstream Twitch client libraries against the running platform, unchanged but for where they
// connect: @twurple/chat and tmi.js (two independent chat libraries) sign in with scoped OAuth
// tokens, read, send and see each other's membership; @twurple/eventsub-ws (through
// TWURPLE_MOCK_API_PORT, the mock-server paths it knows) subscribes over Helix and receives a
// channel.follow notification, and channel.cheer for a cheer paid through the fake checkout, over
// the EventSub WebSocket; a webhook receiver verifies every message's HMAC-SHA256 signature, answers the challenge, refuses forged and replayed messages,
// and sees its subscription revoked once it keeps failing.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import { ApiClient } from '@twurple/api';
import type { AccessTokenWithUserId, AuthProvider } from '@twurple/auth';
import { ChatClient } from '@twurple/chat';
import { EventSubWsListener } from '@twurple/eventsub-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient as PlatformApi, type SignedUp } from './lib/api.ts';
import { issueAppToken, issueUserToken, type RegisteredApp, registerApp } from './lib/oauth.ts';

/** Twurple asks its AuthProvider for tokens; this one hands out the token the test obtained. */
function staticProvider(
  clientId: string,
  userId: string,
  accessToken: string,
  scope: string[],
): AuthProvider {
  const token: AccessTokenWithUserId = {
    accessToken,
    refreshToken: null,
    scope,
    expiresIn: null,
    obtainmentTimestamp: Date.now(),
    userId,
  };
  return {
    clientId,
    getCurrentScopesForUser: () => scope,
    getAccessTokenForUser: async () => token,
    getAccessTokenForIntent: async () => token,
    getAnyAccessToken: async () => token,
  };
}

async function waitFor<T>(read: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * @twurple/chat connects to a host name on the standard port (80 without TLS): a loopback address
 * of its own forwards port 80 there to the platform's port.
 */
async function forwardPort80(targetPort: number): Promise<{ host: string; close: () => void }> {
  const host = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
  const server = createTcpServer((socket) => {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(80, host, resolve);
  });
  return { host, close: () => server.close() };
}

const tmi: unknown = createRequire(import.meta.url)('tmi.js');
interface TmiClient {
  connect(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  say(channel: string, message: string): Promise<unknown>;
  on(
    event: 'message',
    listener: (channel: string, tags: Record<string, unknown>, message: string, self: boolean) => void,
  ): void;
}
function createTmi(options: unknown): TmiClient {
  const module = z.object({ Client: z.function() }).parse(tmi);
  return Reflect.construct(module.Client, [options]) as TmiClient;
}

/** A webhook receiver as Twitch's docs describe one: signature check, 10-minute window, dedupe. */
class WebhookReceiver {
  readonly notifications: { id: string; body: unknown }[] = [];
  readonly revocations: unknown[] = [];
  readonly refused: string[] = [];
  readonly seen = new Set<string>();
  failing = false;
  #server: Server | null = null;
  port = 0;
  readonly secret: string;
  constructor(secret: string) {
    this.secret = secret;
  }

  async start(): Promise<void> {
    this.#server = createServer(async (req, res) => {
      const body = await readBody(req);
      const verdict = this.#check(req, body);
      if (verdict !== 'ok') {
        this.refused.push(verdict);
        res.writeHead(403).end();
        return;
      }
      const id = String(req.headers['twitch-eventsub-message-id']);
      this.seen.add(id);
      const type = req.headers['twitch-eventsub-message-type'];
      const parsed: unknown = JSON.parse(body);
      if (type === 'webhook_callback_verification') {
        const challenge = z.object({ challenge: z.string() }).parse(parsed).challenge;
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(challenge);
        return;
      }
      if (type === 'revocation') {
        this.revocations.push(parsed);
        res.writeHead(204).end();
        return;
      }
      if (this.failing) {
        this.seen.delete(id);
        res.writeHead(500).end();
        return;
      }
      this.notifications.push({ id, body: parsed });
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the receiver has no port');
    this.port = address.port;
  }

  #check(req: IncomingMessage, body: string): string {
    const id = String(req.headers['twitch-eventsub-message-id'] ?? '');
    const timestamp = String(req.headers['twitch-eventsub-message-timestamp'] ?? '');
    const signature = String(req.headers['twitch-eventsub-message-signature'] ?? '');
    const expected = `sha256=${createHmac('sha256', this.secret)
      .update(id + timestamp + body)
      .digest('hex')}`;
    if (
      signature.length !== expected.length ||
      !timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
    )
      return 'bad signature';
    if (Math.abs(Date.now() - Date.parse(timestamp)) > 10 * 60_000) return 'stale';
    if (this.seen.has(id)) return 'replayed';
    return 'ok';
  }

  close(): void {
    this.#server?.close();
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    req.on('end', () => resolve(text));
  });
}

describe('Twitch client libraries against the platform', () => {
  let platform: Platform;
  let streamer: SignedUp;
  let bot: SignedUp;
  let app: RegisteredApp;
  const suffix = Math.floor(Math.random() * 1e6);
  beforeAll(async () => {
    platform = await startPlatform({
      transcoder: false,
      vars: {
        EVENTSUB_ALLOW_HTTP_CALLBACKS: 'true',
        EVENTSUB_WEBHOOK_RETRY_BASE_MS: '200',
        EVENTSUB_WEBHOOK_MAX_FAILURES: '3',
      },
    });
    streamer = await new PlatformApi(platform.baseUrl).signup(`host${suffix}`);
    bot = await new PlatformApi(platform.baseUrl).signup(`bot${suffix}`);
    app = await registerApp(platform.baseUrl, bot.token);
  }, 120_000);
  afterAll(async () => {
    await platform?.stop();
  });

  async function follow(): Promise<void> {
    const fan = await new PlatformApi(platform.baseUrl).signup(`fan${Math.floor(Math.random() * 1e9)}`);
    const res = await new PlatformApi(platform.baseUrl, fan.token).request(
      'POST',
      `/channels/${streamer.channel.id}/follow`,
    );
    expect(res.status).toBeLessThan(300);
  }

  it('@twurple/chat and tmi.js sign in with chat-scoped tokens, see each other join, and read what the other sends', async () => {
    const scopes = ['chat:read', 'chat:edit'];
    const botToken = await issueUserToken(platform.baseUrl, app, bot.token, scopes);
    const hostToken = await issueUserToken(platform.baseUrl, app, streamer.token, scopes);
    const channel = streamer.channel.name.toLowerCase();
    const proxy = await forwardPort80(platform.port);
    // twurple validates the token (/auth/validate of the mock-server paths) before it signs in.
    process.env.TWURPLE_MOCK_API_PORT = String(platform.port);
    const twurple = new ChatClient({
      authProvider: staticProvider(app.clientId, bot.user.id, botToken, scopes),
      hostName: proxy.host,
      ssl: false,
      channels: [channel],
      requestMembershipEvents: true,
      logger: { minLevel: process.env.E2E_ECHO === '1' ? 'debug' : 'error' },
    });
    const joins: string[] = [];
    const heard: string[] = [];
    twurple.onJoin((_channel, user) => joins.push(user));
    twurple.onMessage((_channel, _user, text) => heard.push(text));
    const tmiClient = createTmi({
      options: { skipUpdatingEmotesets: true },
      identity: { username: streamer.user.username, password: `oauth:${hostToken}` },
      connection: { server: '127.0.0.1', port: platform.port, secure: false, reconnect: false },
      channels: [`#${channel}`],
    });
    const tmiHeard: string[] = [];
    tmiClient.on('message', (_channel, _tags, message) => tmiHeard.push(message));
    try {
      twurple.connect();
      await waitFor(
        () => (joins.includes(bot.user.username.toLowerCase()) ? true : undefined),
        15_000,
        'twurple to join',
      );
      await tmiClient.connect();
      // twitch.tv/membership: the other chatter's JOIN reaches twurple.
      await waitFor(() => (joins.includes(channel) ? true : undefined), 15_000, "the streamer's JOIN");
      await tmiClient.say(`#${channel}`, 'hello twurple');
      await waitFor(() => (heard.includes('hello twurple') ? true : undefined), 10_000, 'twurple to read');
      await twurple.say(channel, 'hello tmi');
      await waitFor(() => (tmiHeard.includes('hello tmi') ? true : undefined), 10_000, 'tmi.js to read');
    } finally {
      twurple.quit();
      await tmiClient.disconnect().catch(() => undefined);
      proxy.close();
      delete process.env.TWURPLE_MOCK_API_PORT;
    }
  });

  it('@twurple/eventsub-ws subscribes through Helix and receives channel.follow over the EventSub WebSocket', async () => {
    const scopes = ['moderator:read:followers'];
    const token = await issueUserToken(platform.baseUrl, app, streamer.token, scopes);
    process.env.TWURPLE_MOCK_API_PORT = String(platform.port);
    const apiClient = new ApiClient({
      authProvider: staticProvider(app.clientId, streamer.user.id, token, scopes),
    });
    const listener = new EventSubWsListener({ apiClient });
    const follows: { userName: string; broadcasterId: string }[] = [];
    let created = false;
    listener.onSubscriptionCreateSuccess(() => {
      created = true;
    });
    listener.onChannelFollow(streamer.user.id, streamer.user.id, (event) => {
      follows.push({ userName: event.userName, broadcasterId: event.broadcasterId });
    });
    listener.start();
    try {
      await waitFor(() => (created ? true : undefined), 15_000, 'the subscription');
      await follow();
      const received = await waitFor(() => follows[0], 15_000, 'the channel.follow notification');
      expect(received.broadcasterId).toBe(streamer.user.id);
      expect(received.userName).toMatch(/^fan/);
    } finally {
      listener.stop();
      delete process.env.TWURPLE_MOCK_API_PORT;
    }
  });

  it('@twurple/eventsub-ws receives channel.cheer when a viewer cheers bits bought through the fake checkout', async () => {
    const scopes = ['bits:read'];
    const token = await issueUserToken(platform.baseUrl, app, streamer.token, scopes);
    process.env.TWURPLE_MOCK_API_PORT = String(platform.port);
    const apiClient = new ApiClient({
      authProvider: staticProvider(app.clientId, streamer.user.id, token, scopes),
    });
    const listener = new EventSubWsListener({ apiClient });
    const cheers: { bits: number; userId: string | null; message: string }[] = [];
    let created = false;
    listener.onSubscriptionCreateSuccess(() => {
      created = true;
    });
    listener.onChannelCheer(streamer.user.id, (event) => {
      cheers.push({ bits: event.bits, userId: event.userId, message: event.message });
    });
    listener.start();
    try {
      await waitFor(() => (created ? true : undefined), 15_000, 'the subscription');
      const fanApi = new PlatformApi(platform.baseUrl);
      const fan = await fanApi.signup(`cheer${Math.floor(Math.random() * 1e9)}`);
      const checkout = await fanApi.request<{ checkout_url: string }>('POST', '/payments/checkout', {
        kind: 'bits',
        bits: 100,
      });
      expect(checkout.status).toBe(201);
      const paid = await fetch(`${checkout.body.checkout_url}/pay`, { method: 'POST', redirect: 'manual' });
      expect(paid.status).toBe(303);
      // The payment is applied by the payment-events queue's consumer.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const balance = await fanApi.request<{ balance: number }>('GET', '/payments/bits/balance');
        if (balance.body.balance === 100) break;
        if (Date.now() > deadline) throw new Error('timed out waiting for the bits');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const fanToken = await issueUserToken(platform.baseUrl, app, fan.token, ['user:write:chat']);
      const sent = await fetch(`${platform.baseUrl}/helix/chat/messages`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${fanToken}`,
          'Client-Id': app.clientId,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          broadcaster_id: streamer.user.id,
          sender_id: fan.user.id,
          message: 'Cheer100 from twurple',
        }),
      });
      expect(sent.status).toBe(200);
      const cheer = await waitFor(() => cheers[0], 15_000, 'the channel.cheer notification');
      expect(cheer).toEqual({ bits: 100, userId: fan.user.id, message: 'Cheer100 from twurple' });
    } finally {
      listener.stop();
      delete process.env.TWURPLE_MOCK_API_PORT;
    }
  });

  it('signs webhook messages a receiver verifies, which refuses forged and replayed ones, and revokes a failing callback', async () => {
    const receiver = new WebhookReceiver(`secret-${crypto.randomUUID()}`);
    await receiver.start();
    try {
      const appToken = await issueAppToken(platform.baseUrl, app);
      const create = await fetch(`${platform.baseUrl}/helix/eventsub/subscriptions`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${appToken}`,
          'Client-Id': app.clientId,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          type: 'channel.follow',
          version: '2',
          condition: { broadcaster_user_id: streamer.user.id, moderator_user_id: streamer.user.id },
          transport: {
            method: 'webhook',
            callback: `http://127.0.0.1:${receiver.port}/cb`,
            secret: receiver.secret,
          },
        }),
      });
      expect(create.status).toBe(202);
      const id = z
        .object({ data: z.array(z.object({ id: z.string(), status: z.string() })) })
        .parse(await create.json()).data[0]?.id;
      const statusOf = async () => {
        const res = await fetch(`${platform.baseUrl}/helix/eventsub/subscriptions?subscription_id=${id}`, {
          headers: { Authorization: `Bearer ${appToken}`, 'Client-Id': app.clientId },
        });
        return z.object({ data: z.array(z.object({ status: z.string() })) }).parse(await res.json()).data[0]
          ?.status;
      };
      let status = '';
      for (let i = 0; i < 100 && status !== 'enabled'; i++) {
        status = (await statusOf()) ?? '';
        if (status !== 'enabled') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe('enabled');

      await follow();
      const first = await waitFor(() => receiver.notifications[0], 15_000, 'the signed notification');
      expect(first.body).toMatchObject({
        subscription: { id, type: 'channel.follow' },
        event: { broadcaster_user_id: streamer.user.id },
      });
      // A forged message (signed with a guessed secret) and a replay of the genuine one are refused.
      const forgedBody = JSON.stringify(first.body);
      const timestamp = new Date().toISOString();
      const forged = await fetch(`http://127.0.0.1:${receiver.port}/cb`, {
        method: 'POST',
        headers: {
          'Twitch-Eventsub-Message-Id': crypto.randomUUID(),
          'Twitch-Eventsub-Message-Timestamp': timestamp,
          'Twitch-Eventsub-Message-Signature': `sha256=${createHmac('sha256', 'guessed-secret').update(forgedBody).digest('hex')}`,
          'Twitch-Eventsub-Message-Type': 'notification',
        },
        body: forgedBody,
      });
      expect(forged.status).toBe(403);
      const replay = await fetch(`http://127.0.0.1:${receiver.port}/cb`, {
        method: 'POST',
        headers: {
          'Twitch-Eventsub-Message-Id': first.id,
          'Twitch-Eventsub-Message-Timestamp': timestamp,
          'Twitch-Eventsub-Message-Signature': `sha256=${createHmac('sha256', receiver.secret)
            .update(first.id + timestamp + forgedBody)
            .digest('hex')}`,
          'Twitch-Eventsub-Message-Type': 'notification',
        },
        body: forgedBody,
      });
      expect(replay.status).toBe(403);
      expect(receiver.refused).toEqual(['bad signature', 'replayed']);

      // The callback starts failing: retries with backoff, then revocation.
      receiver.failing = true;
      await follow();
      await waitFor(() => receiver.revocations[0], 20_000, 'the revocation');
      expect(receiver.revocations[0]).toMatchObject({
        subscription: { id, status: 'notification_failures_exceeded' },
      });
      expect(await statusOf()).toBe('notification_failures_exceeded');
    } finally {
      receiver.close();
    }
  });
});
