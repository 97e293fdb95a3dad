// Chat fuzz suite (docs/security.md): generated JSON frames and IRC lines, well-formed and not,
// sent through the real Worker to real shards and rooms in workerd. Seeded and reproducible
// (SEED below); at least 5,000 frames a run. Passes when no handler or
// alarm duty logged an error, and a normal client can still chat in the room afterwards.
// A signed-in lane whose user was closed for flooding carries the flood penalty (seats.ts), so
// the lane goes on as a fresh user with the same role, as a new attacker account would.
import { SELF } from 'cloudflare:test';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  grantRole,
  type IrcClient,
  JsonClient,
  openIrc,
  openJson,
  type SeededUser,
  seedUser,
  waitUntil,
} from './chat-fixtures.ts';

/** Every run replays the same inputs; change the seed to explore others (a failure names its seed). */
const SEED = 20261202;
const JSON_FRAMES = 2_500;
const IRC_FRAMES = 2_500;
/** Parallel sockets per protocol; each sends a burst under the flood limit, then waits a second. */
const LANES = 20;
const BURST = 18;

/** Any text, control characters and lone surrogates included. */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\r\n', '\u0000', '\u2028', '\u0001ACTION hi\u0001', 'x'.repeat(600)),
);

function jsonFrames(channelId: string): fc.Arbitrary<string> {
  const command = fc
    .tuple(
      fc.constantFrom(
        '/ban',
        '/timeout',
        '/unban',
        '/slow',
        '/slowoff',
        '/clear',
        '/mod',
        '/raid',
        '/delete',
        '/me',
        '/x',
      ),
      text,
    )
    .map(([name, arg]) => `${name} ${arg}`);
  const frame = fc.oneof(
    fc.record({
      type: fc.constant('chat_message'),
      channel_id: fc.constantFrom(channelId, 'other'),
      content: text,
    }),
    fc.record({ type: fc.constant('chat_message'), channel_id: fc.constant(channelId), content: command }),
    fc.record({ type: fc.constant('auth'), token: text }),
    fc.record({ type: fc.constant('ping') }),
    fc.record({ type: text, content: text }),
    fc.json(),
  );
  return fc.oneof(
    { weight: 8, arbitrary: frame.map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: fc.constant('x'.repeat(3000)) },
  );
}

function ircFrames(channelName: string): fc.Arbitrary<string> {
  const target = fc.oneof(
    fc.constant(`#${channelName}`),
    text.map((t) => `#${t}`),
  );
  const line = fc.oneof(
    fc.tuple(target, text).map(([to, body]) => `PRIVMSG ${to} :${body}`),
    fc.array(target, { maxLength: 4 }).map((targets) => `JOIN ${targets.join(',')}`),
    target.map((to) => `PART ${to}`),
    text.map((t) => `PING :${t}`),
    fc.constantFrom('CAP LS', 'CAP REQ :twitch.tv/tags', 'PONG :x', 'QUIT'),
    text.map((t) => `PASS ${t}`),
    text.map((t) => `NICK ${t}`),
    fc.tuple(fc.dictionary(text, text, { maxKeys: 3 }), text, text).map(([tags, command, rest]) => {
      const tagText = Object.entries(tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(';');
      return `@${tagText} :${rest} ${command} ${rest}`;
    }),
    text,
  );
  return fc.array(line, { minLength: 1, maxLength: 3 }).map((lines) => lines.join('\r\n'));
}

/** What the objects logged at error level while the fuzz ran: each one is a handler that threw. */
const errors: string[] = [];
let restore: () => void = () => {};

beforeAll(() => {
  const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    errors.push(args.map(String).join(' '));
  });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

async function runLanes(
  items: readonly string[],
  open: () => Promise<{ closed: unknown; send(text: string): void }>,
): Promise<{ sent: number; reopened: number }> {
  let next = 0;
  let sent = 0;
  let reopened = 0;
  await Promise.all(
    Array.from({ length: LANES }, async () => {
      let socket = await open();
      while (next < items.length) {
        if (socket.closed) {
          socket = await open();
          reopened++;
        }
        for (let i = 0; i < BURST && next < items.length && !socket.closed; i++) {
          socket.send(items[next++] ?? '');
          sent++;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }),
  );
  return { sent, reopened };
}

describe('chat fuzz', () => {
  it(`handles ${JSON_FRAMES + IRC_FRAMES} generated JSON frames and IRC lines without an error, and the room still serves (seed ${SEED})`, async () => {
    const owner = await seedUser('fuzz');
    const chatters: SeededUser[] = await Promise.all(Array.from({ length: 4 }, () => seedUser('fz')));
    const mod = chatters[0];
    if (mod) await grantRole(owner.channelId, mod.id, 'moderator');
    const json = fc.sample(jsonFrames(owner.channelId), { seed: SEED, numRuns: JSON_FRAMES });
    const irc = fc.sample(ircFrames(owner.name), { seed: SEED + 1, numRuns: IRC_FRAMES });

    let lane = 0;
    /** Opens a signed-in socket, or a fresh moderator or chatter's when the user is under the flood penalty. */
    const openJsonAs = async (user: SeededUser, moderator: boolean): Promise<JsonClient> => {
      const res = await SELF.fetch(`http://localhost/ws/${owner.channelId}`, {
        headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': `chat, bearer.${user.token}` },
      });
      if (res.status === 429) {
        const fresh = await seedUser('fz');
        if (moderator) await grantRole(owner.channelId, fresh.id, 'moderator');
        return openJsonAs(fresh, moderator);
      }
      const ws = res.webSocket;
      if (res.status !== 101 || !ws) throw new Error(`chat upgrade answered ${res.status}`);
      const client = new JsonClient(ws);
      ws.accept();
      await client.next('welcome');
      return client;
    };
    const openJsonLane = async (): Promise<JsonClient> => {
      const index = lane++ % (chatters.length + 2);
      const user = [owner, ...chatters, undefined][index];
      if (!user) return openJson(owner.channelId);
      // The broadcaster (index 0) and the moderator (index 1) keep their powers in a fresh account.
      return openJsonAs(user, index <= 1);
    };
    const openIrcAs = async (user: SeededUser | undefined, retry = true): Promise<IrcClient> => {
      const client = await openIrc();
      client.send(
        'CAP REQ :twitch.tv/tags twitch.tv/commands',
        user ? `PASS oauth:${user.ircToken}` : 'PASS SCHMOOPIIE',
        `NICK ${user ? user.name : `justinfan${lane}`}`,
        `JOIN #${owner.name}`,
      );
      await waitUntil(() =>
        client.closed || client.lines.some((l) => / ROOMSTATE #/.test(l)) ? true : undefined,
      );
      // Refused at sign-in (the user is under the flood penalty): go on as a fresh account.
      if (client.closed && user && retry) return openIrcAs(await seedUser('fz'), false);
      return client;
    };
    const openIrcLane = async (): Promise<IrcClient> =>
      openIrcAs([...chatters, undefined][lane++ % (chatters.length + 1)]);
    const [jsonRun, ircRun] = await Promise.all([runLanes(json, openJsonLane), runLanes(irc, openIrcLane)]);
    expect(jsonRun.sent + ircRun.sent).toBeGreaterThanOrEqual(5_000);
    // Let the last frames and the room's batches settle.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(errors).toEqual([]);

    // A normal client still chats: a moderator who did not take part clears any modes the fuzz set
    // (the broadcaster's own account may be under the flood penalty), then talks.
    const bystander = await seedUser('mod');
    await grantRole(owner.channelId, bystander.id, 'moderator');
    const normal = await openJson(owner.channelId, bystander.token);
    normal.say(owner.channelId, '/slowoff');
    normal.say(owner.channelId, '/emoteonlyoff');
    normal.say(owner.channelId, 'still standing');
    await normal.next('chat_message', (m) => m.content === 'still standing', 5000);
    const reader = await openIrc();
    reader.send('PASS SCHMOOPIIE', 'NICK justinfan99', `JOIN #${owner.name}`);
    await reader.next(/ ROOMSTATE #/);
    normal.say(owner.channelId, 'and heard on IRC');
    await reader.next(/PRIVMSG #\S+ :and heard on IRC$/, 5000);
  }, 120_000);
});
