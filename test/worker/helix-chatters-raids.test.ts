// Helix GET /chat/chatters (the room's signed-in chatters, for the broadcaster and its moderators,
// paged as Twitch pages them) and DELETE /raids (Twitch's checks, then its 404: raids here are never
// pending), against the real Worker, chat objects and D1.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { grantRole, issueOAuthToken, openJson, seedUser } from './chat-fixtures.ts';
import { helix } from './eventsub-fixtures.ts';

const ChattersPage = z.object({
  data: z.array(z.object({ user_id: z.string(), user_login: z.string(), user_name: z.string() })),
  pagination: z.object({ cursor: z.string().optional() }),
  total: z.number(),
});
const ErrorBody = z.object({ error: z.string(), status: z.number(), message: z.string() });

describe('Helix GET /chat/chatters', () => {
  it('lists the signed-in chatters to the broadcaster, a page at a time with a cursor, without anonymous readers', async () => {
    const owner = await seedUser('cht');
    const viewers = [await seedUser('va'), await seedUser('vb'), await seedUser('vc')];
    for (const viewer of viewers) await openJson(owner.channelId, viewer.token);
    await openJson(owner.channelId); // anonymous: never listed
    const token = await issueOAuthToken(owner.clientId, owner.id, ['moderator:read:chatters']);
    const path = `/chat/chatters?broadcaster_id=${owner.id}&moderator_id=${owner.id}`;
    const read = async (query = '') => {
      const res = await helix(`${path}${query}`, token, owner.clientId);
      expect(res.status).toBe(200);
      return ChattersPage.parse(await res.json());
    };
    let all = await read();
    for (let i = 0; i < 50 && all.total < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      all = await read();
    }
    expect(all.total).toBe(3);
    expect(all.data.map((c) => c.user_id).sort()).toEqual(viewers.map((v) => v.id).sort());
    const first = all.data.find((c) => c.user_id === viewers[0]?.id);
    expect(first).toEqual({
      user_id: viewers[0]?.id,
      user_login: viewers[0]?.name,
      user_name: viewers[0]?.name.toUpperCase(),
    });
    expect(all.pagination).toEqual({});

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 5; i++) {
      const page = await read(`&first=2${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.total).toBe(3);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((c) => c.user_id));
      cursor = page.pagination.cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(all.data.map((c) => c.user_id));
  });

  it('lets a moderator list, refuses a chatter who is not one (403), a token without the scope and another user id (401)', async () => {
    const owner = await seedUser('chm');
    const mod = await seedUser('mod');
    const stranger = await seedUser('str');
    await grantRole(owner.channelId, mod.id, 'moderator');
    await openJson(owner.channelId, stranger.token);
    const modToken = await issueOAuthToken(mod.clientId, mod.id, ['moderator:read:chatters']);
    const asMod = await helix(
      `/chat/chatters?broadcaster_id=${owner.id}&moderator_id=${mod.id}`,
      modToken,
      mod.clientId,
    );
    expect(asMod.status).toBe(200);
    expect(ChattersPage.parse(await asMod.json()).data.map((c) => c.user_id)).toEqual([stranger.id]);

    const strangerToken = await issueOAuthToken(stranger.clientId, stranger.id, ['moderator:read:chatters']);
    const refused = await helix(
      `/chat/chatters?broadcaster_id=${owner.id}&moderator_id=${stranger.id}`,
      strangerToken,
      stranger.clientId,
    );
    expect(refused.status).toBe(403);
    expect(ErrorBody.parse(await refused.json())).toEqual({
      error: 'Forbidden',
      status: 403,
      message: "The user in moderator_id is not one of the broadcaster's moderators",
    });

    const unscoped = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    const noScope = await helix(
      `/chat/chatters?broadcaster_id=${owner.id}&moderator_id=${owner.id}`,
      unscoped,
      owner.clientId,
    );
    expect(noScope.status).toBe(401);
    expect(ErrorBody.parse(await noScope.json()).message).toBe('Missing scope: moderator:read:chatters');

    // Posing as the broadcaster with one's own token is refused before any room is asked.
    const posing = await helix(
      `/chat/chatters?broadcaster_id=${owner.id}&moderator_id=${owner.id}`,
      strangerToken,
      stranger.clientId,
    );
    expect(posing.status).toBe(401);
    expect(ErrorBody.parse(await posing.json()).message).toBe(
      'The ID in moderator_id must match the user ID in the access token',
    );
  });

  it('refuses a missing broadcaster_id, first over 1,000 and a forged cursor with 400', async () => {
    const owner = await seedUser('chb');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['moderator:read:chatters']);
    const base = `/chat/chatters?broadcaster_id=${owner.id}&moderator_id=${owner.id}`;
    for (const path of [
      `/chat/chatters?moderator_id=${owner.id}`,
      `${base}&first=1001`,
      `${base}&first=0`,
      `${base}&after=not-a-cursor`,
    ]) {
      const res = await helix(path, token, owner.clientId);
      expect(res.status, path).toBe(400);
      expect(ErrorBody.parse(await res.json())).toMatchObject({ error: 'Bad Request', status: 400 });
    }
    expect((await helix(`${base}&first=1000`, token, owner.clientId)).status).toBe(200);
  });
});

describe('Helix DELETE /raids', () => {
  it("answers Twitch's 404 after a raid (raids here are never pending), and refuses a missing scope or another broadcaster with 401", async () => {
    const owner = await seedUser('rdc');
    const other = await seedUser('rdo');
    const scoped = await issueOAuthToken(owner.clientId, owner.id, ['channel:manage:raids']);
    const unscoped = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    const cancel = (broadcasterId: string, token: string) =>
      helix(`/raids?broadcaster_id=${broadcasterId}`, token, owner.clientId, { method: 'DELETE' });

    const noScope = await cancel(owner.id, unscoped);
    expect(noScope.status).toBe(401);
    expect(ErrorBody.parse(await noScope.json()).message).toBe('Missing scope: channel:manage:raids');
    const another = await cancel(other.id, scoped);
    expect(another.status).toBe(401);
    expect(ErrorBody.parse(await another.json()).message).toBe(
      'The ID in broadcaster_id must match the user ID in the access token',
    );
    const missing = await helix('/raids', scoped, owner.clientId, { method: 'DELETE' });
    expect(missing.status).toBe(400);

    const none = await cancel(owner.id, scoped);
    expect(none.status).toBe(404);
    expect(ErrorBody.parse(await none.json())).toEqual({
      error: 'Not Found',
      status: 404,
      message: "The broadcaster doesn't have a pending raid to cancel",
    });
  });
});
