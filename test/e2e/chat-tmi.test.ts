// The unmodified tmi.js library (what most Twitch bots use) against the running Worker: it logs in
// with an oauth: token (an OAuth user token with chat:read and chat:edit, as Twitch's IRC takes;
// never the account's session token), joins a channel by name, receives a message with Twitch tags
// and sends one. tmi.js lower-cases the token it sends in PASS (Twitch tokens are lower-case), so
// tokens must be lower-case too for this to pass (see workers/shared/crypto.ts generateRandomToken).
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatMessage, ServerFrame } from '../../protocol/chat.ts';
import { type Platform, startPlatform } from './harness.ts';
import { issueUserToken, registerApp } from './lib/oauth.ts';

interface TmiTags {
  [key: string]: unknown;
}
interface TmiClient {
  connect(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  say(channel: string, message: string): Promise<unknown>;
  on(
    event: 'message',
    listener: (channel: string, tags: TmiTags, message: string, self: boolean) => void,
  ): void;
  on(event: 'join', listener: (channel: string, username: string, self: boolean) => void): void;
}
interface TmiOptions {
  options: { skipUpdatingEmotesets: boolean };
  identity: { username: string; password: string };
  connection: { server: string; port: number; secure: boolean; reconnect: boolean };
  channels: string[];
}
interface TmiModule {
  Client: new (options: TmiOptions) => TmiClient;
}

function isTmiModule(value: unknown): value is TmiModule {
  return (
    typeof value === 'object' && value !== null && 'Client' in value && typeof value.Client === 'function'
  );
}

const tmi: unknown = createRequire(import.meta.url)('tmi.js');

interface Signup {
  token: string;
  user: { id: string; username: string };
  channel: { id: string; name: string };
}

async function signUp(baseUrl: string, username: string): Promise<Signup> {
  const res = await fetch(`${baseUrl}/api/v1/auth/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse battery' }),
  });
  expect(res.status).toBe(201);
  const body: unknown = await res.json();
  if (
    typeof body !== 'object' ||
    body === null ||
    !('token' in body) ||
    !('user' in body) ||
    !('channel' in body)
  ) {
    throw new Error('unexpected signup response');
  }
  return body as Signup;
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

describe('tmi.js against the chat Worker', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform({ transcoder: false });
  });
  afterAll(async () => {
    await platform?.stop();
  });

  it('connects with an oauth token, joins by name, receives tagged messages batched several to a WebSocket message, and sends one', async () => {
    if (!isTmiModule(tmi)) throw new Error('tmi.js has no Client');
    const suffix = Math.floor(Math.random() * 1e6);
    const streamer = await signUp(platform.baseUrl, `streamer${suffix}`);
    const bot = await signUp(platform.baseUrl, `bot${suffix}`);
    const channel = `#${streamer.channel.name.toLowerCase()}`;
    const app = await registerApp(platform.baseUrl, bot.token);
    const chatToken = await issueUserToken(platform.baseUrl, app, bot.token, ['chat:read', 'chat:edit']);

    const client = new tmi.Client({
      // tmi.js would otherwise ask api.twitch.tv for emote sets; this machine talks only to loopback.
      options: { skipUpdatingEmotesets: true },
      identity: { username: bot.user.username, password: `oauth:${chatToken}` },
      connection: { server: '127.0.0.1', port: platform.port, secure: false, reconnect: false },
      channels: [channel],
    });
    const received: { tags: TmiTags; message: string; self: boolean }[] = [];
    let joined = false;
    client.on('message', (_channel, tags, message, self) => received.push({ tags, message, self }));
    client.on('join', (joinedChannel, _username, self) => {
      if (self && joinedChannel === channel) joined = true;
    });
    await client.connect();
    try {
      await waitFor(() => (joined ? true : undefined), 15_000, 'tmi.js to join');

      // The streamer speaks through the JSON protocol (Node's WebSocket, as a browser would).
      const ws = new WebSocket(`ws://127.0.0.1:${platform.port}/ws/${streamer.channel.id}`, [
        'chat',
        `bearer.${streamer.token}`,
      ]);
      const jsonFrames: ServerFrame[] = [];
      /** Chat messages per batch frame, to see that the burst shared a batch. */
      const rawBatches: number[] = [];
      ws.addEventListener('message', (event) => {
        const frame = ServerFrame.parse(JSON.parse(String(event.data)));
        if (frame.type === 'batch')
          rawBatches.push(frame.frames.filter((f) => f.type === 'chat_message').length);
        // Fan-out arrives in batch frames; unpack them as a client applies them.
        jsonFrames.push(...(frame.type === 'batch' ? frame.frames : [frame]));
      });
      await waitFor(() => jsonFrames.find((f) => f.type === 'history'), 10_000, 'the JSON socket to join');
      ws.send(
        JSON.stringify({ type: 'chat_message', channel_id: streamer.channel.id, content: 'hello tmi' }),
      );

      const fromStreamer = await waitFor(
        () => received.find((r) => r.message === 'hello tmi'),
        10_000,
        'the PRIVMSG',
      );
      expect(fromStreamer.self).toBe(false);
      expect(fromStreamer.tags['user-id']).toBe(streamer.user.id);
      expect(fromStreamer.tags['room-id']).toBe(streamer.channel.id);
      expect(fromStreamer.tags.badges).toEqual({ broadcaster: '1' });
      expect(fromStreamer.tags['display-name']).toBe(streamer.user.username);
      expect(fromStreamer.tags.color).toMatch(/^#[0-9A-F]{6}$/);
      expect(typeof fromStreamer.tags.id).toBe('string');
      expect(Number(fromStreamer.tags['tmi-sent-ts'])).toBeGreaterThan(Date.now() - 60_000);

      // Several messages in one room batch reach tmi.js as one WebSocket message of CR LF-separated
      // lines (the room hands the same batch to the JSON and the IRC shard); tmi.js must see each.
      const burst = Array.from({ length: 6 }, (_, i) => `burst ${i}`);
      const batchesBefore = rawBatches.length;
      for (const content of burst)
        ws.send(JSON.stringify({ type: 'chat_message', channel_id: streamer.channel.id, content }));
      await waitFor(
        () => (received.some((r) => r.message === 'burst 5') ? true : undefined),
        10_000,
        'the burst to reach tmi.js',
      );
      expect(received.filter((r) => r.message.startsWith('burst ')).map((r) => r.message)).toEqual(burst);
      const burstBatches = rawBatches.slice(batchesBefore).filter((n) => n > 0);
      expect(burstBatches.some((n) => n > 1)).toBe(true);

      await client.say(channel, 'hello from tmi.js');
      const fromBot = await waitFor(
        () =>
          jsonFrames.find(
            (f): f is ChatMessage => f.type === 'chat_message' && f.content === 'hello from tmi.js',
          ),
        10_000,
        'the JSON socket to receive the tmi.js message',
      );
      expect(fromBot.user.id).toBe(bot.user.id);
      ws.close();
    } finally {
      await client.disconnect();
    }
  });
});
