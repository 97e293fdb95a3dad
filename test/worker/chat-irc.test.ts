import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parseIrcLine } from '../../durable-objects/chat/irc.ts';
import {
  buildMessage,
  describeChannel,
  goLive,
  grantRole,
  openIrc,
  openJson,
  seedUser,
  waitUntil,
} from './chat-fixtures.ts';

async function login(path: string, user: { name: string; ircToken: string }) {
  const irc = await openIrc(path);
  irc.send('CAP REQ :twitch.tv/tags twitch.tv/commands', `PASS oauth:${user.ircToken}`, `NICK ${user.name}`);
  await irc.next(/ 376 /);
  return irc;
}

describe('Twitch IRC over WebSocket', () => {
  it('acknowledges capabilities and sends the welcome numerics on a good PASS and NICK', async () => {
    const user = await seedUser('irc');
    const irc = await login('/irc', user);
    expect(irc.lines).toContain(':tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands');
    for (const numeric of ['001', '002', '003', '004', '375', '372', '376']) {
      expect(irc.lines.some((line) => line.startsWith(`:tmi.twitch.tv ${numeric} ${user.name} `))).toBe(true);
    }
  });

  it('serves IRC on a WebSocket upgrade of / while a plain GET / stays the web app', async () => {
    const user = await seedUser('irc');
    await login('/', user);
    const page = await SELF.fetch('http://localhost/');
    expect(page.headers.get('Content-Type') ?? '').not.toContain('application/json');
  });

  it('refuses a bad token with "Login authentication failed"', async () => {
    const user = await seedUser('irc');
    const irc = await openIrc();
    irc.send('PASS oauth:wrong', `NICK ${user.name}`);
    await irc.next(/NOTICE \* :Login authentication failed/);
  });

  it('joins a channel by name with JOIN echo, NAMES, USERSTATE and ROOMSTATE, and relays PRIVMSG with tags', async () => {
    const owner = await seedUser('own', 'partner');
    const mod = await seedUser('mod');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const listener = await login('/irc', owner);
    listener.send(`JOIN #${owner.name}`);
    await listener.next(new RegExp(`ROOMSTATE #${owner.name}$`));
    expect(listener.lines).toContain(
      `:${owner.name}!${owner.name}@${owner.name}.tmi.twitch.tv JOIN #${owner.name}`,
    );
    expect(listener.lines.some((l) => l.includes(` 353 ${owner.name} = #${owner.name} :`))).toBe(true);
    expect(
      listener.lines.some((l) => l.includes(` 366 ${owner.name} #${owner.name} :End of /NAMES list`)),
    ).toBe(true);
    const userstate = await listener.next(/ USERSTATE #/);
    expect(parseIrcLine(userstate)?.tags.get('badges')).toBe('broadcaster/1,partner/1');

    const speaker = await login('/irc', mod);
    speaker.send(`JOIN #${owner.name}`);
    await speaker.next(/ ROOMSTATE #/);
    speaker.send(`PRIVMSG #${owner.name} :hello from irc`);
    const line = await listener.next(/PRIVMSG #.* :hello from irc$/);
    const parsed = parseIrcLine(line);
    expect(parsed?.prefix).toBe(`${mod.name}!${mod.name}@${mod.name}.tmi.twitch.tv`);
    expect(parsed?.tags.get('badges')).toBe('moderator/1');
    expect(parsed?.tags.get('mod')).toBe('1');
    expect(parsed?.tags.get('user-type')).toBe('mod');
    expect(parsed?.tags.get('user-id')).toBe(mod.id);
    expect(parsed?.tags.get('room-id')).toBe(owner.channelId);
    expect(parsed?.tags.get('display-name')).toBe(mod.name.toUpperCase());
    expect(parsed?.tags.get('color')).toMatch(/^#[0-9A-F]{6}$/);
    expect(Number(parsed?.tags.get('tmi-sent-ts'))).toBeGreaterThan(Date.now() - 10_000);
    // Twitch answers the sender with USERSTATE and never echoes their own PRIVMSG.
    await speaker.next(/ USERSTATE #/);
    expect(speaker.lines.some((l) => l.includes('hello from irc'))).toBe(false);
  });

  it('carries the same messages between IRC and JSON sockets', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const json = await openJson(owner.channelId, viewer.token);
    const irc = await login('/irc', owner);
    irc.send(`JOIN #${owner.name}`);
    await irc.next(/ ROOMSTATE #/);
    json.say(owner.channelId, 'from json');
    await irc.next(/PRIVMSG #.* :from json$/);
    irc.send(`PRIVMSG #${owner.name} :from irc`);
    await json.next('chat_message', (m) => m.content === 'from irc' && m.user.id === owner.id);
  });

  it('answers PING with PONG, refusals with NOTICE msg-ids, and bans with CLEARCHAT', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const ownerIrc = await login('/irc', owner);
    ownerIrc.send('PING :tmi.twitch.tv', `JOIN #${owner.name}`);
    await ownerIrc.next(/^PONG :tmi\.twitch\.tv$/);
    await ownerIrc.next(/ ROOMSTATE #/);
    const viewerIrc = await login('/irc', viewer);
    viewerIrc.send(`JOIN #${owner.name}`);
    await viewerIrc.next(/ ROOMSTATE #/);
    viewerIrc.send(`PRIVMSG #${owner.name} :${'x'.repeat(501)}`);
    await viewerIrc.next(/msg-id=msg_rejected .* NOTICE #/);
    viewerIrc.send(`PRIVMSG #${owner.name} :/ban ${owner.name}`);
    await viewerIrc.next(/msg-id=no_permission .* NOTICE #/);
    ownerIrc.send(`PRIVMSG #${owner.name} :/timeout ${viewer.name} 60`);
    await ownerIrc.next(/msg-id=timeout_success /);
    const clear = await viewerIrc.next(/ CLEARCHAT #/);
    expect(parseIrcLine(clear)?.tags.get('ban-duration')).toBe('60');
    expect(parseIrcLine(clear)?.params).toEqual([`#${owner.name}`, viewer.name]);
    viewerIrc.send(`PRIVMSG #${owner.name} :let me talk`);
    await viewerIrc.next(/msg-id=msg_timedout /);
    ownerIrc.send(`PRIVMSG #${owner.name} :/slow 10`);
    const roomstate = await viewerIrc.next(/slow=10.* ROOMSTATE #/);
    expect(parseIrcLine(roomstate)?.tags.get('subs-only')).toBe('0');
  });

  it('lets an anonymous justinfan read but drops what it sends', async () => {
    const owner = await seedUser('own');
    const anon = await openIrc();
    anon.send('PASS SCHMOOPIIE', 'NICK justinfan12345');
    await anon.next(/ 376 justinfan12345 /);
    anon.send(`JOIN #${owner.name}`);
    await anon.next(/ ROOMSTATE #/);
    anon.send(`PRIVMSG #${owner.name} :anonymous words`);
    const json = await openJson(owner.channelId, owner.token);
    json.say(owner.channelId, 'owner speaks');
    await anon.next(/PRIVMSG #.* :owner speaks$/);
    expect(
      (await openJson(owner.channelId)).frames.some(
        (f) => f.type === 'history' && f.messages.some((m) => m.content === 'anonymous words'),
      ),
    ).toBe(false);
  });

  it('joins several channels on one socket and tells unknown channels apart', async () => {
    const a = await seedUser('a');
    const b = await seedUser('b');
    const irc = await login('/irc', a);
    irc.send(`JOIN #${a.name},#${b.name},#nosuchchannel`);
    await irc.next(new RegExp(`ROOMSTATE #${a.name}$`));
    await irc.next(new RegExp(`ROOMSTATE #${b.name}$`));
    await irc.next(/msg-id=msg_channel_suspended .* NOTICE #nosuchchannel/);
    const json = await openJson(b.channelId, b.token);
    json.say(b.channelId, 'to b');
    await irc.next(new RegExp(`PRIVMSG #${b.name} :to b$`));
    irc.send(`PART #${b.name}`);
    await irc.next(new RegExp(`PART #${b.name}$`));
  });

  it('announces an incoming raid with USERNOTICE msg-id=raid', async () => {
    const from = await seedUser('from');
    const to = await seedUser('to');
    const irc = await login('/irc', to);
    irc.send(`JOIN #${to.name}`);
    await irc.next(/ ROOMSTATE #/);
    await goLive(from.channelId);
    const raider = await openJson(from.channelId, from.token);
    raider.say(from.channelId, `/raid ${to.name}`);
    const notice = parseIrcLine(await irc.next(/ USERNOTICE #/));
    expect(notice?.tags.get('msg-id')).toBe('raid');
    expect(notice?.tags.get('msg-param-displayName')).toBe(from.name.toUpperCase());
    expect(notice?.tags.get('user-id')).toBe(from.id);
    expect(notice?.tags.get('login')).toBe(from.name);
    expect(Number(notice?.tags.get('msg-param-viewerCount'))).toBeGreaterThanOrEqual(1);
  });

  it('closes an IRC socket that sends a line over 16 KiB with 1008', async () => {
    const user = await seedUser('irc');
    const irc = await login('/irc', user);
    irc.send(`PRIVMSG #x :${'y'.repeat(17 * 1024)}`);
    for (let i = 0; i < 100 && !irc.closed; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(irc.closed?.code).toBe(1008);
  });

  it('sends a fan-out batch as one WebSocket message of CR LF-separated lines, as Twitch does', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const irc = await login('/irc', viewer);
    irc.send(`JOIN #${owner.name}`);
    await irc.next(/ ROOMSTATE #/);
    const stats = await env.CHAT_ROOM.getByName(owner.channelId).readViewerStats();
    const shardName = Object.keys(stats.shards).find((name) => name.startsWith('irc:'));
    if (!shardName) throw new Error('the room knows no IRC shard');
    const before = irc.messages.length;
    const first = buildMessage(owner.channelId, owner, 'first line');
    const second = buildMessage(owner.channelId, owner, 'second line');
    await env.CHAT_SHARD.getByName(shardName).deliver({
      channel: describeChannel(owner),
      windowMs: 100,
      events: [
        { kind: 'message', message: first, priority: true },
        { kind: 'viewer_count', count: 3 },
        { kind: 'delete', messageId: first.id, login: owner.name, content: 'first line' },
        { kind: 'message', message: second, priority: true },
      ],
    });
    const payload = await waitUntil(() => irc.messages[before]);
    expect(payload.endsWith('\r\n')).toBe(true);
    const lines = payload.split('\r\n').slice(0, -1);
    expect(lines.map((line) => parseIrcLine(line)?.command)).toEqual(['PRIVMSG', 'CLEARMSG', 'PRIVMSG']);
    expect(lines.map((line) => parseIrcLine(line)?.params.at(-1))).toEqual([
      'first line',
      'first line',
      'second line',
    ]);
    expect(parseIrcLine(lines[1] ?? '')?.tags.get('target-msg-id')).toBe(first.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(irc.messages.length).toBe(before + 1);
  });
});
