// Shared by the chat tests: users with channels and sessions seeded straight into D1, and
// WebSocket clients (JSON and IRC) opened through the real Worker with SELF.fetch.
import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import type { ChannelInfo } from '../../durable-objects/chat/types.ts';
import {
  type BatchFrame,
  type ChatMessage,
  type ServerFrame,
  ServerFrame as ServerFrameSchema,
} from '../../protocol/chat.ts';
import type { ChannelTier } from '../../protocol/ingest.ts';

export interface SeededUser {
  id: string;
  name: string;
  channelId: string;
  /** The web app's session token (JSON chat, the API). */
  token: string;
  /** An OAuth user access token with chat:read and chat:edit: what IRC's PASS takes. */
  ircToken: string;
  /** The OAuth application that token was issued to (one per seeded user). */
  clientId: string;
}

async function hashHex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

let counter = 0;

/** A user, their channel and a session token (tokens are stored hashed, as the API does). */
export async function seedUser(prefix: string, tier: ChannelTier = 'none'): Promise<SeededUser> {
  counter++;
  const name = `${prefix}${counter}${Math.floor(Math.random() * 1e6)}`.toLowerCase();
  const id = crypto.randomUUID();
  const channelId = crypto.randomUUID();
  const token = `tok-${crypto.randomUUID()}`;
  const clientId = `app${crypto.randomUUID().replaceAll('-', '')}`;
  const now = Date.now();
  await env.DB.batch([
    env.DB.prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').bind(
      id,
      name,
      'x',
      now,
    ),
    env.DB.prepare(
      'INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, tier, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).bind(channelId, id, name, name.toUpperCase(), `hash-${channelId}`, tier, now),
    env.DB.prepare(
      'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
    ).bind(await hashHex(token), id, now, now + 3_600_000),
    env.DB.prepare(
      'INSERT INTO oauth_apps (client_id, owner_id, name, redirect_uris, created_at) VALUES (?, ?, ?, ?, ?)',
    ).bind(clientId, id, 'chat bot', '[]', now),
  ]);
  const ircToken = await issueOAuthToken(clientId, id, ['chat:read', 'chat:edit']);
  return { id, name, channelId, token, ircToken, clientId };
}

/** An OAuth user access token of the user's seeded application with `scopes` (oauth_tokens, hashed). */
export async function issueOAuthToken(clientId: string, userId: string, scopes: string[]): Promise<string> {
  const grantId = crypto.randomUUID();
  const token = crypto.randomUUID().replaceAll('-', '');
  const now = Date.now();
  await env.DB.batch([
    env.DB.prepare(
      'INSERT INTO oauth_grants (id, client_id, user_id, scopes, created_at) VALUES (?, ?, ?, ?, ?)',
    ).bind(grantId, clientId, userId, JSON.stringify(scopes), now),
    env.DB.prepare(
      "INSERT INTO oauth_tokens (token_hash, grant_id, kind, created_at, expires_at) VALUES (?, ?, 'access', ?, ?)",
    ).bind(await hashHex(token), grantId, now, now + 3_600_000),
  ]);
  return token;
}

export async function grantRole(channelId: string, userId: string, role: 'moderator' | 'vip'): Promise<void> {
  await env.DB.prepare(
    'INSERT INTO channel_roles (channel_id, user_id, role, created_at) VALUES (?, ?, ?, ?)',
  )
    .bind(channelId, userId, role, Date.now())
    .run();
}

export async function subscribe(channelId: string, userId: string, months = 3, tier = 1000): Promise<void> {
  await env.DB.prepare(
    'INSERT INTO subscriptions (id, user_id, channel_id, tier, cumulative_months, started_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
    .bind(crypto.randomUUID(), userId, channelId, tier, months, Date.now(), Date.now() + 86_400_000)
    .run();
}

export async function follow(channelId: string, userId: string, followedAt = Date.now()): Promise<void> {
  await env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)')
    .bind(userId, channelId, followedAt)
    .run();
}

/** A live stream on the channel, as the ingest marks it (streams.status = 'live'). */
export async function goLive(channelId: string): Promise<void> {
  await env.DB.prepare(
    "INSERT INTO streams (id, channel_id, title, status, started_at, created_at) VALUES (?1, ?2, 'live now', 'live', ?3, ?3)",
  )
    .bind(crypto.randomUUID(), channelId, Date.now())
    .run();
}

/** Waits in small steps for a condition, failing after `timeoutMs`. */
export async function waitUntil<T>(
  read: () => T | undefined,
  timeoutMs = 3000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type SingleFrame = Exclude<ServerFrame, BatchFrame>;

export class JsonClient {
  /** Every frame received, batches unpacked in order: what a client applies. */
  readonly frames: SingleFrame[] = [];
  /** Each WebSocket message as it arrived, batches kept whole. */
  readonly received: ServerFrame[] = [];
  closed: { code: number; reason: string } | null = null;

  readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      const frame = ServerFrameSchema.parse(JSON.parse(String(event.data)));
      this.received.push(frame);
      if (frame.type === 'batch') this.frames.push(...frame.frames);
      else this.frames.push(frame);
    });
    ws.addEventListener('close', (event) => {
      this.closed = { code: event.code, reason: event.reason };
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  say(channelId: string, content: string): void {
    this.send({ type: 'chat_message', channel_id: channelId, content });
  }

  /** The next frame of a type after `from` (an index into frames), waiting for it. */
  async next<K extends SingleFrame['type']>(
    type: K,
    match: (frame: Extract<SingleFrame, { type: K }>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Extract<SingleFrame, { type: K }>> {
    return waitUntil(
      () =>
        this.frames.find(
          (f): f is Extract<SingleFrame, { type: K }> =>
            f.type === type && match(f as Extract<SingleFrame, { type: K }>),
        ),
      timeoutMs,
      `a ${type} frame`,
    );
  }

  messages(): Extract<SingleFrame, { type: 'chat_message' }>[] {
    return this.frames.filter(
      (f): f is Extract<SingleFrame, { type: 'chat_message' }> => f.type === 'chat_message',
    );
  }

  close(): void {
    this.ws.close(1000, 'done');
  }
}

export async function openJson(channelId: string, token?: string): Promise<JsonClient> {
  const res = await SELF.fetch(`http://localhost/ws/${channelId}`, {
    headers: token
      ? { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': `chat, bearer.${token}` }
      : { Upgrade: 'websocket' },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no webSocket on the 101 response');
  const client = new JsonClient(ws);
  ws.accept();
  await client.next('welcome');
  await client.next('history');
  return client;
}

export class IrcClient {
  readonly lines: string[] = [];
  /** Each WebSocket message as it arrived: several lines joined by CR LF when batched. */
  readonly messages: string[] = [];
  closed: { code: number } | null = null;

  readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      this.messages.push(String(event.data));
      // Twitch ends every line with CR LF, the last one too: no empty line after it.
      this.lines.push(...String(event.data).split('\r\n').slice(0, -1));
    });
    ws.addEventListener('close', (event) => {
      this.closed = { code: event.code };
    });
  }

  send(...lines: string[]): void {
    this.ws.send(lines.join('\r\n'));
  }

  async next(pattern: RegExp, timeoutMs = 3000): Promise<string> {
    return waitUntil(
      () => this.lines.find((line) => pattern.test(line)),
      timeoutMs,
      `a line matching ${pattern}`,
    );
  }
}

export async function openIrc(path = '/irc'): Promise<IrcClient> {
  const res = await SELF.fetch(`http://localhost${path}`, {
    headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'irc' },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no webSocket on the 101 response');
  const client = new IrcClient(ws);
  ws.accept();
  return client;
}

/** A chat message as the room fans it out, for tests that call ChatShard.deliver directly. */
export function buildMessage(channelId: string, user: SeededUser, content: string): ChatMessage {
  return {
    type: 'chat_message',
    id: crypto.randomUUID(),
    channel_id: channelId,
    user: { id: user.id, name: user.name, display_name: user.name, color: '#FF0000', badges: [] },
    content,
    emotes: [],
    timestamp: new Date().toISOString(),
  };
}

/** The channel as a room describes it in a FanoutBatch. */
export function describeChannel(owner: SeededUser): ChannelInfo {
  return { id: owner.channelId, name: owner.name, displayName: owner.name, ownerId: owner.id, tier: 'none' };
}
