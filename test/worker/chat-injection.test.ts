// Chat line injection (docs/security.md): a JSON chat message carrying CR/LF and a forged IRC line
// must never reach IRC clients as a line of its own, and a display name must never pass for
// someone else. Attacks run through the real Worker, room and shards; the serializer is also
// checked on its own with generated input, whatever a caller passes it.
import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDisplayName } from '../../durable-objects/chat/badges.ts';
import {
  escapeTagValue,
  formatIrcLine,
  parseIrcLine,
  renderPrivmsg,
} from '../../durable-objects/chat/irc.ts';
import { renderFanoutEvent } from '../../durable-objects/chat/irc-fanout.ts';
import { buildMessage, openIrc, openJson, seedUser, waitUntil } from './chat-fixtures.ts';

async function joinIrc(user: { name: string; ircToken: string }, channel: string) {
  const irc = await openIrc();
  irc.send('CAP REQ :twitch.tv/tags twitch.tv/commands', `PASS oauth:${user.ircToken}`, `NICK ${user.name}`);
  await irc.next(/ 376 /);
  irc.send(`JOIN #${channel}`);
  await irc.next(/ ROOMSTATE #/);
  return irc;
}

const FORGED = (owner: string) =>
  `@badges=broadcaster/1;mod=1 :${owner}!${owner}@${owner}.tmi.twitch.tv PRIVMSG #${owner} :send your password to me`;

describe('chat line injection', () => {
  it('refuses a JSON message carrying CR LF and a forged IRC line with invalid_message, and IRC clients never see it', async () => {
    const owner = await seedUser('own');
    const attacker = await seedUser('att');
    const listener = await joinIrc(owner, owner.name);
    const json = await openJson(owner.channelId, attacker.token);
    // A refused message does not count against the sender's rate limit: all five are judged.
    for (const separator of ['\r\n', '\r', '\n', '\u0000', '\u2028'])
      json.say(owner.channelId, `hi${separator}${FORGED(owner.name)}`);
    await waitUntil(() =>
      json.frames.filter((f) => f.type === 'error' && f.code === 'invalid_message').length === 5
        ? true
        : undefined,
    );
    json.say(owner.channelId, 'an honest line');
    await listener.next(/PRIVMSG #\S+ :an honest line$/);
    // Nothing the attacker sent became a line, and no line claims the broadcaster sent it.
    expect(listener.lines.some((line) => line.includes('send your password'))).toBe(false);
    expect(
      listener.lines
        .filter((line) => line.includes(' PRIVMSG '))
        .map((l) => parseIrcLine(l)?.tags.get('user-id')),
    ).toEqual([attacker.id]);
  });

  it('refuses control characters in chat commands too', async () => {
    const owner = await seedUser('own');
    const client = await openJson(owner.channelId, owner.token);
    client.say(owner.channelId, `/ban nobody\r\n${FORGED(owner.name)}`);
    expect(await client.next('error')).toMatchObject({ code: 'invalid_message' });
  });

  it('refuses bidi overrides and isolates in messages with invalid_message and keeps emoji ZWJ sequences', async () => {
    const owner = await seedUser('own');
    const listener = await openJson(owner.channelId);
    const client = await openJson(owner.channelId, owner.token);
    const bidi = ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'];
    for (const character of bidi) client.say(owner.channelId, `gg ${character}(admin) reversed`);
    await waitUntil(() =>
      client.frames.filter((f) => f.type === 'error' && f.code === 'invalid_message').length === bidi.length
        ? true
        : undefined,
    );
    // Woman technologist: U+1F469 ZWJ U+1F4BB, and a family joined by three ZWJs.
    const emoji = 'hi \u{1F469}\u200D\u{1F4BB} \u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}';
    client.say(owner.channelId, emoji);
    expect((await listener.next('chat_message')).content).toBe(emoji);
    expect(listener.messages().map((m) => m.content)).toEqual([emoji]);
  });

  it('drops bidi controls and zero-width characters from display names, so an RLO cannot reorder the login', async () => {
    const owner = await seedUser('own');
    const impostor = await seedUser('imp');
    await env.DB.prepare('UPDATE channels SET display_name = ? WHERE user_id = ?')
      .bind(`\u202E\u200B${owner.name}\uFEFF\u2066\u200F`, impostor.id)
      .run();
    const listener = await joinIrc(owner, owner.name);
    const client = await openJson(owner.channelId, impostor.token);
    client.say(owner.channelId, 'look at my name');
    const message = await client.next('chat_message');
    expect(message.user.display_name).toBe(`${owner.name} (${impostor.name})`);
    const line = await listener.next(/PRIVMSG #\S+ :look at my name$/);
    expect(parseIrcLine(line)?.tags.get('display-name')).toBe(`${owner.name} (${impostor.name})`);
    expect(formatDisplayName('\u202Eevil\u200B\u200C\u200D\u200E\uFEFF', 'someone')).toBe('evil (someone)');
  });

  it('shows the login beside a display name that is not the login in another case', async () => {
    const owner = await seedUser('own');
    const impostor = await seedUser('imp');
    // The impostor names their channel after the broadcaster, with a control character for luck.
    await env.DB.prepare('UPDATE channels SET display_name = ? WHERE user_id = ?')
      .bind(`${owner.name.toUpperCase()}\r\n`, impostor.id)
      .run();
    const listener = await joinIrc(owner, owner.name);
    const client = await openJson(owner.channelId, impostor.token);
    client.say(owner.channelId, 'i am the streamer');
    const message = await client.next('chat_message');
    expect(message.user.display_name).toBe(`${owner.name.toUpperCase()} (${impostor.name})`);
    const line = await listener.next(/PRIVMSG #\S+ :i am the streamer$/);
    expect(parseIrcLine(line)?.tags.get('display-name')).toBe(
      `${owner.name.toUpperCase()} (${impostor.name})`,
    );
    // A display name that is the login in other letter case shows alone, as on Twitch.
    expect(formatDisplayName('SomeOne', 'someone')).toBe('SomeOne');
    expect(formatDisplayName('\u0007', 'someone')).toBe('someone');
  });
});

describe('the IRC serializer', () => {
  const anything = fc.string({ unit: 'binary', maxLength: 64 });

  it('never emits CR, LF or NUL and keeps the command and parameters it was given, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), anything, { maxKeys: 4 }),
        anything,
        fc.array(anything, { maxLength: 3 }),
        anything,
        (tags, prefix, params, trailing) => {
          const line = formatIrcLine({ tags, prefix, command: 'PRIVMSG', params, trailing });
          expect(line).not.toMatch(/[\r\n\0]/);
          const parsed = parseIrcLine(line);
          expect(parsed?.command).toBe('PRIVMSG');
          expect(parsed?.params).toHaveLength(params.length + 1);
          expect(parsed?.params.at(-1)).toBe(trailing.replace(/[\r\n\0]/g, ' '));
          for (const [key, value] of Object.entries(tags)) {
            const safeKey = key.replace(/[^A-Za-z0-9\-/.+]/g, '');
            if (
              safeKey.length > 0 &&
              Object.keys(tags).filter((k) => k.replace(/[^A-Za-z0-9\-/.+]/g, '') === safeKey).length === 1
            )
              expect(parsed?.tags.get(safeKey)).toBe(value.replace(/\0/g, ''));
          }
        },
      ),
      { seed: 20261202, numRuns: 2000 },
    );
  });

  it('escapes tag values as IRCv3 message-tags says', () => {
    expect(escapeTagValue('a; b\\c\r\nd\0')).toBe('a\\:\\sb\\\\c\\r\\nd');
  });

  it('renders a message whose content, names and ids all carry line breaks as exactly one line', async () => {
    const owner = await seedUser('own');
    const message = buildMessage(owner.channelId, owner, `x\r\n${FORGED(owner.name)}`);
    message.user = { ...message.user, name: 'a\r\nb c', display_name: 'd\ne', id: 'f\rg' };
    message.id = 'h\ni';
    const line = renderPrivmsg('chan\r\nnel', 'room\0id', message);
    expect(line).not.toMatch(/[\r\n\0]/);
    expect(parseIrcLine(line)?.command).toBe('PRIVMSG');
    const deleted = renderFanoutEvent(
      { kind: 'delete', messageId: 'm\r\n', login: 'l\n', content: `c\r\n${FORGED(owner.name)}` },
      'chan',
      'room',
      Date.now(),
    );
    expect(deleted).not.toMatch(/[\r\n\0]/);
  });
});
