// The shard's per-user chat rate (durable-objects/chat-shard/flood-control.ts, ChatMessageRate):
// Twitch's 20 messages per 30 s (100 for the broadcaster and moderators) enforced before the room,
// so a signed-in flood costs the room nothing past the limit. The room's own 1.5 s rule answers
// with different words, which is how these tests tell what reached the room from what did not.
import { describe, expect, it } from 'vitest';
import {
  CHAT_MESSAGE_WINDOW_MS,
  CHAT_MESSAGES_PER_WINDOW,
  ELEVATED_CHAT_MESSAGES_PER_WINDOW,
  MAX_DROPPED_AFTER_NOTICE,
} from '../../durable-objects/chat-shard/flood-control.ts';
import { CHAT_RATE_NOTICE } from '../../durable-objects/chat-shard/socket-state.ts';
import { type JsonClient, openIrc, openJson, seedUser, waitUntil } from './chat-fixtures.ts';

/** The room's answer to a message inside its 1.5 s interval (chat/rules.ts). */
const ROOM_RATE_MESSAGE = 'You are sending messages too quickly.';

/**
 * Sends messages in bursts the socket's frame queue and line rate take (flood-control.ts: under
 * 20/s) until the shard's rate notice arrives or `max` are sent; returns how many were sent. The
 * bucket refills while the bursts are paced, so how many pass first depends on the machine.
 */
async function floodUntilNotice(
  client: JsonClient,
  channelId: string,
  max: number,
  prefix: string,
): Promise<number> {
  let sent = 0;
  while (sent < max && countErrors(client, CHAT_RATE_NOTICE) === 0 && !client.closed) {
    for (let i = 0; i < 5 && sent < max; i++) client.say(channelId, `${prefix} ${sent++}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await waitUntil(
    () => (countErrors(client, CHAT_RATE_NOTICE) > 0 ? true : undefined),
    5000,
    'the rate notice',
  );
  return sent;
}

function countErrors(client: JsonClient, message: string): number {
  return client.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited' && f.message === message)
    .length;
}

/** Every answer that came from the room: its acceptance (the echo) or its own rate refusal. */
function countRoomAnswers(client: JsonClient, prefix: string): number {
  return (
    client.messages().filter((m) => m.content.startsWith(prefix)).length +
    countErrors(client, ROOM_RATE_MESSAGE)
  );
}

describe('the shard-side chat rate', () => {
  it('drops a user past 20 messages per 30 s before the room, with one notice, and closes a socket that keeps flooding', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const client = await openJson(owner.channelId, viewer.token);
    const sent = await floodUntilNotice(client, owner.channelId, 60, 'flood');
    // The room answered at least the first 20 (one accepted, the rest refused by its 1.5 s rule);
    // the message that drew the notice never reached it.
    const answered = await waitUntil(() => {
      const count = countRoomAnswers(client, 'flood');
      return count >= CHAT_MESSAGES_PER_WINDOW && count < sent ? count : undefined;
    });
    expect(answered).toBeLessThan(sent);
    // The notice says how long until the next message would go (the web app holds its input).
    const notice = client.frames.find(
      (f) => f.type === 'error' && f.code === 'rate_limited' && f.message === CHAT_RATE_NOTICE,
    );
    const wait = notice?.type === 'error' ? notice.retry_after_ms : undefined;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(CHAT_MESSAGE_WINDOW_MS);
    // Ignoring the notice: what follows is dropped unanswered, then the socket is closed.
    for (let i = 0; i < MAX_DROPPED_AFTER_NOTICE + 1 && !client.closed; i++)
      client.say(owner.channelId, `more ${i}`);
    expect(await waitUntil(() => client.closed ?? undefined, 5000)).toEqual({
      code: 1008,
      reason: 'chat flood',
    });
    expect(countErrors(client, CHAT_RATE_NOTICE)).toBe(1);
  });

  it('lets the broadcaster send 100 messages per 30 s, learned from their badges, before the shard stops them', async () => {
    const owner = await seedUser('own');
    const client = await openJson(owner.channelId, owner.token);
    const sent = await floodUntilNotice(client, owner.channelId, 200, 'cast');
    // The room exempts the broadcaster from its own rate: everything the shard let through is chat.
    const accepted = await waitUntil(() => {
      const count = client.messages().length;
      return count === countRoomAnswers(client, 'cast') && count >= ELEVATED_CHAT_MESSAGES_PER_WINDOW
        ? count
        : undefined;
    }, 5000);
    expect(accepted).toBeLessThan(sent);
    expect(countErrors(client, ROOM_RATE_MESSAGE)).toBe(0);
    expect(client.closed).toBeNull();
  }, 30_000);

  it('answers an IRC PRIVMSG flood with msg_ratelimit at the shard and closes the socket that ignores it', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const irc = await openIrc();
    irc.send(
      'CAP REQ :twitch.tv/tags twitch.tv/commands',
      `PASS oauth:${viewer.ircToken}`,
      `NICK ${viewer.name}`,
    );
    await irc.next(/ 376 /);
    irc.send(`JOIN #${owner.name}`);
    await irc.next(/ ROOMSTATE #/);
    const lines = Array.from(
      { length: CHAT_MESSAGES_PER_WINDOW + 1 },
      (_, i) => `PRIVMSG #${owner.name} :flood ${i}`,
    );
    irc.send(...lines);
    await irc.next(new RegExp(`msg-id=msg_ratelimit .*NOTICE #${owner.name} :${CHAT_RATE_NOTICE}$`));
    irc.send(...lines.slice(0, MAX_DROPPED_AFTER_NOTICE + 1));
    expect(await waitUntil(() => irc.closed ?? undefined, 5000)).toEqual({ code: 1008 });
    expect(irc.lines.filter((line) => line.endsWith(CHAT_RATE_NOTICE))).toHaveLength(1);
  });
});
