// Twitch IRC beyond the basics, through the real Worker and objects: IRCv3 capability negotiation
// as tmi.twitch.tv answers it, twitch.tv/membership (others' JOIN/PART, NAMES), GLOBALUSERSTATE,
// 421, and RECONNECT when a shard gives its sockets up.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parseIrcLine } from '../../durable-objects/chat/irc.ts';
import { issueOAuthToken, openIrc, openJson, seedUser, waitUntil } from './chat-fixtures.ts';

const ALL_CAPS = 'twitch.tv/tags twitch.tv/commands twitch.tv/membership';

async function login(user: { name: string; ircToken: string }, caps = ALL_CAPS) {
  const irc = await openIrc('/irc');
  irc.send('CAP LS 302', `CAP REQ :${caps}`, `PASS oauth:${user.ircToken}`, `NICK ${user.name}`, 'CAP END');
  await irc.next(/ 376 /);
  return irc;
}

describe('Twitch IRC capability negotiation and membership', () => {
  it('answers CAP LS 302 with the three twitch.tv capabilities, ACKs known ones and NAKs a request naming an unknown one', async () => {
    const user = await seedUser('cap');
    const irc = await openIrc();
    irc.send('CAP LS 302');
    await irc.next(/ CAP \* LS /);
    expect(irc.lines).toContain(`:tmi.twitch.tv CAP * LS :${ALL_CAPS}`);
    irc.send('CAP REQ :twitch.tv/membership twitch.tv/bogus');
    await irc.next(/ CAP \* NAK /);
    expect(irc.lines).toContain(':tmi.twitch.tv CAP * NAK :twitch.tv/membership twitch.tv/bogus');
    // A NAKed request changes nothing.
    irc.send('CAP LIST');
    await irc.next(/ CAP \* LIST /);
    expect(irc.lines).toContain(':tmi.twitch.tv CAP * LIST :');
    irc.send('CAP REQ :twitch.tv/tags twitch.tv/membership', 'CAP REQ :-twitch.tv/tags', 'CAP LIST');
    await waitUntil(() => irc.lines.filter((l) => l.includes(' CAP * LIST ')).length >= 2 || undefined);
    expect(irc.lines).toContain(':tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/membership');
    expect(irc.lines).toContain(':tmi.twitch.tv CAP * LIST :twitch.tv/membership');
    irc.send('CAP FROB', `PASS oauth:${user.ircToken}`, `NICK ${user.name}`, 'CAP END');
    await irc.next(/ 376 /);
    expect(irc.lines).toContain(':tmi.twitch.tv 410 * FROB :Invalid CAP command');
  });

  it('sends GLOBALUSERSTATE with the user id after the welcome, and 421 for an unknown command', async () => {
    const user = await seedUser('gus');
    const irc = await login(user);
    const global = parseIrcLine(await irc.next(/ GLOBALUSERSTATE$/));
    expect(global?.tags.get('user-id')).toBe(user.id);
    expect(global?.tags.get('display-name')).toBe(user.name);
    irc.send('WHOIS somebody');
    await irc.next(/ 421 /);
    expect(irc.lines).toContain(`:tmi.twitch.tv 421 ${user.name} WHOIS :Unknown command`);
  });

  it('relays other chatters JOIN and PART and lists them in NAMES to sockets with twitch.tv/membership only', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const member = await login(owner);
    member.send(`JOIN #${owner.name}`);
    await member.next(/ ROOMSTATE #/);
    const plain = await login(owner, 'twitch.tv/tags twitch.tv/commands');
    plain.send(`JOIN #${owner.name}`);
    await plain.next(/ ROOMSTATE #/);

    const other = await login(viewer);
    other.send(`JOIN #${owner.name}`);
    await other.next(/ ROOMSTATE #/);
    // The joiner's NAMES list holds the chatters already there, itself first.
    const names = await other.next(/ 353 /);
    expect(parseIrcLine(names)?.params.at(-1)?.split(' ')).toEqual([viewer.name, owner.name]);
    await member.next(
      new RegExp(`^:${viewer.name}!${viewer.name}@${viewer.name}\\.tmi\\.twitch\\.tv JOIN #${owner.name}$`),
    );

    other.send(`PART #${owner.name}`);
    await member.next(new RegExp(`^:${viewer.name}!.* PART #${owner.name}$`));
    // Without the capability, nobody else's JOIN or PART arrives.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(plain.lines.some((l) => l.startsWith(`:${viewer.name}!`))).toBe(false);
    // The owner's second socket did not announce the owner again: one JOIN per user, not per socket.
    expect(
      member.lines.filter((l) => l.startsWith(`:${owner.name}!`) && l.endsWith(` JOIN #${owner.name}`)),
    ).toHaveLength(1);
  });

  it('sends RECONNECT to every IRC socket of a shard that must give its sockets up, then closes them', async () => {
    const user = await seedUser('mv');
    const irc = await login(user);
    irc.send(`JOIN #${user.name}`);
    await irc.next(/ ROOMSTATE #/);
    const stats = await env.CHAT_ROOM.getByName(user.channelId).readViewerStats();
    const shardName = Object.keys(stats.shards).find((name) => name.startsWith('irc:'));
    if (!shardName) throw new Error('the room knows no IRC shard');
    expect(await env.CHAT_SHARD.getByName(shardName).moveSockets()).toBeGreaterThanOrEqual(1);
    await irc.next(/^:tmi\.twitch\.tv RECONNECT$/);
    await waitUntil(() => irc.closed ?? undefined);
    expect(irc.closed?.code).toBe(1012);
  });

  it("refuses the account's full-power session token over IRC: PASS takes OAuth user tokens only", async () => {
    const user = await seedUser('sess');
    const irc = await openIrc();
    irc.send(`PASS oauth:${user.token}`, `NICK ${user.name}`);
    await irc.next(/NOTICE \* :Login authentication failed/);
    expect(irc.lines.some((l) => / 001 /.test(l))).toBe(false);
  });

  it('refuses an app access token, which names no user', async () => {
    const user = await seedUser('app');
    const grantId = crypto.randomUUID();
    const token = crypto.randomUUID().replaceAll('-', '');
    const hash = Array.from(
      new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))),
      (b) => b.toString(16).padStart(2, '0'),
    ).join('');
    await env.DB.batch([
      env.DB.prepare(
        'INSERT INTO oauth_grants (id, client_id, user_id, scopes, created_at) VALUES (?, ?, NULL, \'["chat:edit"]\', ?)',
      ).bind(grantId, user.clientId, Date.now()),
      env.DB.prepare(
        "INSERT INTO oauth_tokens (token_hash, grant_id, kind, created_at, expires_at) VALUES (?, ?, 'access', ?, ?)",
      ).bind(hash, grantId, Date.now(), Date.now() + 60_000),
    ]);
    const irc = await openIrc();
    irc.send(`PASS oauth:${token}`, `NICK ${user.name}`);
    await irc.next(/NOTICE \* :Login authentication failed/);
  });

  it('lets a token without chat:edit join and read, and stops what it sends before the room', async () => {
    const owner = await seedUser('own');
    const reader = await seedUser('rd');
    const readOnly = await issueOAuthToken(reader.clientId, reader.id, ['chat:read']);
    const irc = await login({ name: reader.name, ircToken: readOnly });
    irc.send(`JOIN #${owner.name}`);
    await irc.next(/ ROOMSTATE #/);
    const json = await openJson(owner.channelId, owner.token);
    json.say(owner.channelId, 'read me');
    await irc.next(/PRIVMSG #.* :read me$/);
    irc.send(`PRIVMSG #${owner.name} :let me write`);
    await irc.next(/msg-id=no_permission .* NOTICE #.*chat:edit/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(json.messages().some((m) => m.content === 'let me write')).toBe(false);
  });
});
