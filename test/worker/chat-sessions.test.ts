// Chat sockets end with their session (durable-objects/chat-shard/session-sweep.ts): after
// log-out-everywhere, a revoked session or expiry, a socket that signed in with that token is
// closed by the shard's next sweep, whichever way it signed in (bearer subprotocol, auth frame,
// IRC PASS with an OAuth token, closed once that token is revoked). The attack: keep chatting on an
// open socket after the account owner logged out or revoked the bot's token.
import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { revokeToken } from '../../workers/oauth/tokens.ts';
import { callApi } from './api-helpers.ts';
import {
  type IrcClient,
  issueOAuthToken,
  type JsonClient,
  openIrc,
  openJson,
  seedUser,
  waitUntil,
} from './chat-fixtures.ts';

/** One sweep of every shard these tests use: the channel's first JSON shard and the IRC pool. */
async function sweep(channelId: string): Promise<void> {
  const names = [`${channelId}:0`, ...Array.from({ length: 16 }, (_, n) => `irc:${n}`)];
  for (const name of names) await runDurableObjectAlarm(env.CHAT_SHARD.getByName(name));
}

async function joinIrc(user: { name: string; ircToken: string }, channel: string): Promise<IrcClient> {
  const irc = await openIrc();
  irc.send('CAP REQ :twitch.tv/tags twitch.tv/commands', `PASS oauth:${user.ircToken}`, `NICK ${user.name}`);
  await irc.next(/ 376 /);
  irc.send(`JOIN #${channel}`);
  await irc.next(/ ROOMSTATE #/);
  return irc;
}

async function signInWithFrame(channelId: string, token: string, userId: string): Promise<JsonClient> {
  const client = await openJson(channelId);
  client.send({ type: 'auth', token });
  await client.next('welcome', (f) => f.user?.id === userId);
  return client;
}

describe('chat sockets and revoked sessions', () => {
  it('closes every socket of a session within one sweep after log-out-everywhere, and no other', async () => {
    const owner = await seedUser('own');
    const other = await seedUser('oth');
    const bySubprotocol = await openJson(owner.channelId, owner.token);
    const byFrame = await signInWithFrame(owner.channelId, owner.token, owner.id);
    const bystander = await openJson(owner.channelId, other.token);
    const anonymous = await openJson(owner.channelId);

    expect((await callApi('/auth/logout-all', { method: 'POST', token: owner.token })).status).toBe(204);
    await sweep(owner.channelId);

    for (const client of [bySubprotocol, byFrame]) {
      expect(await waitUntil(() => client.closed ?? undefined)).toMatchObject({ code: 1008 });
      expect(client.frames.some((f) => f.type === 'error' && f.code === 'unauthorized')).toBe(true);
    }
    // Someone else's session and anonymous readers are untouched and still hear chat.
    bystander.say(owner.channelId, 'still signed in');
    await anonymous.next('chat_message', (m) => m.content === 'still signed in');
    expect(bystander.closed).toBeNull();
    expect(anonymous.closed).toBeNull();
  });

  it('closes an IRC socket within one sweep once the OAuth token it signed in with is revoked, and no other', async () => {
    const owner = await seedUser('own');
    const irc = await joinIrc(owner, owner.name);
    const otherToken = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    const bystander = await joinIrc({ name: owner.name, ircToken: otherToken }, owner.name);
    expect(await revokeToken(env.DB, owner.clientId, owner.ircToken)).toEqual({ kind: 'revoked' });
    await sweep(owner.channelId);
    await irc.next(/NOTICE \* :Login authentication failed$/);
    expect(await waitUntil(() => irc.closed ?? undefined)).toMatchObject({ code: 1008 });
    expect(bystander.closed).toBeNull();
  });

  it('closes a socket whose session expired', async () => {
    const owner = await seedUser('own');
    const expiring = await seedUser('exp');
    const socket = await openJson(owner.channelId, expiring.token);
    const hash = Array.from(
      new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(expiring.token))),
      (b) => b.toString(16).padStart(2, '0'),
    ).join('');
    await env.DB.prepare('UPDATE sessions SET expires_at = ? WHERE token_hash = ?')
      .bind(Date.now() - 1, hash)
      .run();
    await sweep(owner.channelId);
    expect(await waitUntil(() => socket.closed ?? undefined)).toMatchObject({ code: 1008 });
  });
});
