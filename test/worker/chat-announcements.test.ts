// Announcements, as Twitch makes them: a moderator's /announce (and /announceblue, ...) or Helix
// POST /chat/announcements reaches IRC as USERNOTICE msg-id=announcement with msg-param-color and
// the announcer's tags, and JSON sockets as a notice. Refusals: viewers, a missing scope, an
// over-long message, and a line break smuggled in to forge IRC lines.
import { describe, expect, it } from 'vitest';
import { parseIrcLine } from '../../durable-objects/chat/irc.ts';
import { grantRole, issueOAuthToken, openIrc, openJson, seedUser } from './chat-fixtures.ts';
import { helix } from './eventsub-fixtures.ts';

async function joinIrc(viewer: { name: string; ircToken: string }, channel: string) {
  const irc = await openIrc();
  irc.send(
    'CAP REQ :twitch.tv/tags twitch.tv/commands',
    `PASS oauth:${viewer.ircToken}`,
    `NICK ${viewer.name}`,
  );
  await irc.next(/ 376 /);
  irc.send(`JOIN #${channel}`);
  await irc.next(/ ROOMSTATE #/);
  return irc;
}

describe('announcements', () => {
  it("sends a moderator's /announceblue to IRC as USERNOTICE msg-id=announcement with the announcer's tags, and to JSON as a notice", async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const irc = await joinIrc(viewer, owner.name);
    const reader = await openJson(owner.channelId);
    const announcer = await openJson(owner.channelId, mod.token);
    announcer.say(owner.channelId, '/announceblue Giveaway at the top of the hour');
    const line = await irc.next(/ USERNOTICE #/);
    const notice = parseIrcLine(line);
    expect(notice?.command).toBe('USERNOTICE');
    expect(notice?.params).toEqual([`#${owner.name}`, 'Giveaway at the top of the hour']);
    expect(Object.fromEntries(notice?.tags ?? [])).toMatchObject({
      'msg-id': 'announcement',
      'msg-param-color': 'BLUE',
      login: mod.name,
      'user-id': mod.id,
      'display-name': mod.name.toUpperCase(),
      mod: '1',
      'room-id': owner.channelId,
    });
    expect(line.startsWith('@')).toBe(true);
    expect(line).toContain(` :tmi.twitch.tv USERNOTICE #${owner.name} :Giveaway`);
    expect(await reader.next('notice', (n) => n.code === 'announcement')).toMatchObject({
      message: `${mod.name.toUpperCase()}: Giveaway at the top of the hour`,
    });
  });

  it('refuses /announce from a viewer and without a message', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const irc = await joinIrc(viewer, owner.name);
    const chatter = await openJson(owner.channelId, viewer.token);
    chatter.say(owner.channelId, '/announce hello everyone');
    expect(await chatter.next('error')).toMatchObject({ code: 'forbidden' });
    const broadcaster = await openJson(owner.channelId, owner.token);
    broadcaster.say(owner.channelId, '/announce');
    expect(await broadcaster.next('notice', (n) => n.code === 'usage_announce')).toBeTruthy();
    broadcaster.say(owner.channelId, 'after the refusals');
    await irc.next(/PRIVMSG #.* :after the refusals$/);
    expect(irc.lines.some((l) => l.includes(' USERNOTICE '))).toBe(false);
  });

  it('announces through Helix POST /chat/announcements (204, colour primary by default), and refuses a missing scope, a non-moderator, 501 characters and a forged line break', async () => {
    const owner = await seedUser('own');
    const stranger = await seedUser('str');
    const viewer = await seedUser('v');
    const irc = await joinIrc(viewer, owner.name);
    const token = await issueOAuthToken(owner.clientId, owner.id, ['moderator:manage:announcements']);
    const announce = (body: unknown, auth = token, as = owner) =>
      helix(`/chat/announcements?broadcaster_id=${owner.id}&moderator_id=${as.id}`, auth, as.clientId, {
        method: 'POST',
        body,
      });

    const sent = await announce({ message: 'We are live' });
    expect(sent.status).toBe(204);
    const notice = parseIrcLine(await irc.next(/ USERNOTICE #.* :We are live$/));
    expect(notice?.tags.get('msg-param-color')).toBe('PRIMARY');
    expect(notice?.tags.get('user-id')).toBe(owner.id);
    expect((await announce({ message: 'In purple', color: 'purple' })).status).toBe(204);
    expect(parseIrcLine(await irc.next(/ :In purple$/))?.tags.get('msg-param-color')).toBe('PURPLE');

    const unscoped = await issueOAuthToken(owner.clientId, owner.id, ['chat:edit']);
    const noScope = await announce({ message: 'x' }, unscoped);
    expect(noScope.status).toBe(401);
    expect(await noScope.json()).toMatchObject({ message: 'Missing scope: moderator:manage:announcements' });
    const strangerToken = await issueOAuthToken(stranger.clientId, stranger.id, [
      'moderator:manage:announcements',
    ]);
    expect((await announce({ message: 'hijack' }, strangerToken, stranger)).status).toBe(403);
    expect((await announce({ message: 'y'.repeat(501) })).status).toBe(400);
    expect((await announce({ message: 'z', color: 'red' })).status).toBe(400);
    // A line break would end the USERNOTICE and start a line of the attacker's choosing.
    const forged = await announce({ message: 'hi\r\n:evil!evil@evil PRIVMSG #x :pwned' });
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({ error: 'Bad Request', status: 400 });
    expect((await announce({ message: 'last one' })).status).toBe(204);
    await irc.next(/ :last one$/);
    expect(irc.lines.some((l) => l.includes('pwned') || l.includes('hijack'))).toBe(false);
  });
});
