import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { follow, goLive, grantRole, openJson, seedUser, subscribe, waitUntil } from './chat-fixtures.ts';

async function seedEmote(channelId: string | null, name: string, subscriberOnly: boolean): Promise<string> {
  const id = crypto.randomUUID();
  await env.DB.prepare(
    'INSERT INTO emotes (id, channel_id, name, image_key, subscriber_only, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  )
    .bind(id, channelId, name, `emotes/${id}`, subscriberOnly ? 1 : 0, Date.now())
    .run();
  return id;
}

describe('chat rules', () => {
  it('refuses messages over 500 characters with msg_too_long', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const client = await openJson(owner.channelId, viewer.token);
    client.say(owner.channelId, 'x'.repeat(501));
    expect(await client.next('error')).toMatchObject({ code: 'msg_too_long' });
  });

  it('rate-limits a viewer to one message per 1.5 s but not the broadcaster or moderators', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const mod = await seedUser('m');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const v = await openJson(owner.channelId, viewer.token);
    v.say(owner.channelId, 'one');
    v.say(owner.channelId, 'two');
    const error = await v.next('error');
    expect(error.code).toBe('rate_limited');
    expect(error.retry_after_ms).toBeGreaterThan(0);
    expect(error.retry_after_ms).toBeLessThanOrEqual(1500);
    for (const user of [owner, mod]) {
      const client = await openJson(owner.channelId, user.token);
      client.say(owner.channelId, `a from ${user.name}`);
      client.say(owner.channelId, `b from ${user.name}`);
      await client.next('chat_message', (m) => m.content === `b from ${user.name}`);
      expect(client.frames.some((f) => f.type === 'error')).toBe(false);
    }
  });

  it('applies slow mode, subscribers-only, emote-only, followers-only and unique-chat, with their exemptions', async () => {
    const owner = await seedUser('own');
    const sub = await seedUser('sub');
    const fan = await seedUser('fan');
    const newFan = await seedUser('newfan');
    const stranger = await seedUser('str');
    await subscribe(owner.channelId, sub.id);
    await follow(owner.channelId, fan.id, Date.now() - 3_600_000);
    await follow(owner.channelId, newFan.id, Date.now());
    const kappa = await seedEmote(null, 'Kappa', false);
    const broadcaster = await openJson(owner.channelId, owner.token);
    const s = await openJson(owner.channelId, sub.token);
    const f = await openJson(owner.channelId, fan.token);
    const nf = await openJson(owner.channelId, newFan.token);
    const x = await openJson(owner.channelId, stranger.token);

    broadcaster.say(owner.channelId, '/subscribers');
    await broadcaster.next('notice', (n) => n.code === 'subs_on');
    await x.next('room_state', (r) => r.subscribers_only);
    x.say(owner.channelId, 'let me in');
    expect(await x.next('error')).toMatchObject({ code: 'subs_only' });
    s.say(owner.channelId, 'subscriber talking');
    await x.next('chat_message', (m) => m.content === 'subscriber talking');
    broadcaster.say(owner.channelId, '/subscribersoff');
    await broadcaster.next('notice', (n) => n.code === 'subs_off');

    broadcaster.say(owner.channelId, '/followers 30');
    await broadcaster.next('notice', (n) => n.code === 'followers_on');
    nf.say(owner.channelId, 'just followed');
    expect(await nf.next('error')).toMatchObject({ code: 'followers_only' });
    f.say(owner.channelId, 'long time fan');
    await f.next('chat_message', (m) => m.content === 'long time fan');
    broadcaster.say(owner.channelId, '/followersoff');
    await broadcaster.next('notice', (n) => n.code === 'followers_off');

    broadcaster.say(owner.channelId, '/emoteonly');
    await broadcaster.next('notice', (n) => n.code === 'emote_only_on');
    nf.say(owner.channelId, 'words words');
    expect(await nf.next('error', (e) => e.code === 'emote_only')).toBeTruthy();
    x.say(owner.channelId, 'Kappa Kappa');
    const emoteMessage = await broadcaster.next('chat_message', (m) => m.content === 'Kappa Kappa');
    expect(emoteMessage.emotes).toEqual([
      {
        id: kappa,
        name: 'Kappa',
        positions: [
          [0, 4],
          [6, 10],
        ],
        url: `/api/v1/emotes/${kappa}/image`,
      },
    ]);
    broadcaster.say(owner.channelId, '/emoteonlyoff');
    await broadcaster.next('notice', (n) => n.code === 'emote_only_off');

    broadcaster.say(owner.channelId, '/uniquechat');
    await broadcaster.next('notice', (n) => n.code === 'r9k_on');
    // Fresh chatters, so the per-user rate limit cannot answer first.
    const first = await openJson(owner.channelId, (await seedUser('r9ka')).token);
    const second = await openJson(owner.channelId, (await seedUser('r9kb')).token);
    first.say(owner.channelId, 'Original Thought');
    await first.next('chat_message', (m) => m.content === 'Original Thought');
    second.say(owner.channelId, 'original   thought');
    expect(await second.next('error')).toMatchObject({ code: 'duplicate' });
    broadcaster.say(owner.channelId, '/uniquechatoff');
    await broadcaster.next('notice', (n) => n.code === 'r9k_off');

    broadcaster.say(owner.channelId, '/slow 60');
    await broadcaster.next('notice', (n) => n.code === 'slow_on');
    s.say(owner.channelId, 'slow one');
    const slow = await s.next('error', (e) => e.code === 'slow_mode');
    expect(slow.retry_after_ms).toBeGreaterThan(50_000);
  });

  it('blocks banned words set through the room settings, except for moderators', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    const result = await room.moderate(owner.channelId, owner.id, {
      kind: 'settings',
      patch: { banned_words: ['Spoiler'] },
    });
    expect(result.kind).toBe('done');
    const v = await openJson(owner.channelId, viewer.token);
    v.say(owner.channelId, 'big SPOILERS ahead');
    expect(await v.next('error')).toMatchObject({ code: 'banned_word' });
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, 'spoiler from the broadcaster');
    await b.next('chat_message', (m) => m.content === 'spoiler from the broadcaster');
  });

  it('renders subscriber-only channel emotes only for subscribers', async () => {
    const owner = await seedUser('own');
    const sub = await seedUser('sub');
    const viewer = await seedUser('v');
    await subscribe(owner.channelId, sub.id, 14);
    const emoteId = await seedEmote(owner.channelId, 'ownHype', true);
    const s = await openJson(owner.channelId, sub.token);
    const v = await openJson(owner.channelId, viewer.token);
    s.say(owner.channelId, 'ownHype yes');
    const fromSub = await v.next('chat_message', (m) => m.user.id === sub.id);
    expect(fromSub.emotes.map((e) => e.id)).toEqual([emoteId]);
    expect(fromSub.user.badges).toContainEqual({ id: 'subscriber', version: '14' });
    v.say(owner.channelId, 'ownHype no');
    const fromViewer = await s.next('chat_message', (m) => m.user.id === viewer.id);
    expect(fromViewer.emotes).toEqual([]);
  });
});

describe('moderation commands', () => {
  it('bans a user: their messages are cleared everywhere, they cannot talk, and the ban is in the room SQLite', async () => {
    const owner = await seedUser('own');
    const troll = await seedUser('troll');
    const watcher = await openJson(owner.channelId);
    const t = await openJson(owner.channelId, troll.token);
    t.say(owner.channelId, 'trolling');
    await watcher.next('chat_message', (m) => m.content === 'trolling');
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, `/ban ${troll.name} spam`);
    expect(await b.next('notice')).toMatchObject({ code: 'ban_success' });
    expect(await watcher.next('clear_user')).toEqual({
      type: 'clear_user',
      user_id: troll.id,
      duration_seconds: null,
    });
    t.say(owner.channelId, 'still here?');
    expect(await t.next('error')).toMatchObject({ code: 'banned' });
    const late = await openJson(owner.channelId);
    expect((await late.next('history')).messages.some((m) => m.user.id === troll.id)).toBe(false);

    const room = env.CHAT_ROOM.getByName(owner.channelId);
    await runInDurableObject(room, async (_instance, state) => {
      const rows = state.storage.sql.exec('SELECT user_id, kind FROM bans').toArray();
      expect(rows).toEqual([{ user_id: troll.id, kind: 'ban' }]);
    });
  });

  it('times out for a number of seconds and lifts it with /untimeout', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const v = await openJson(owner.channelId, viewer.token);
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, `/timeout ${viewer.name} 120`);
    expect(await b.next('notice')).toMatchObject({ code: 'timeout_success' });
    expect(await v.next('clear_user')).toMatchObject({ user_id: viewer.id, duration_seconds: 120 });
    v.say(owner.channelId, 'hello?');
    const error = await v.next('error');
    expect(error.code).toBe('timed_out');
    expect(error.retry_after_ms).toBeGreaterThan(110_000);
    b.say(owner.channelId, `/untimeout ${viewer.name}`);
    await b.next('notice', (n) => n.code === 'untimeout_success');
    v.say(owner.channelId, 'back');
    await v.next('chat_message', (m) => m.content === 'back');
  });

  it('lets moderators ban and delete but not mod, unmod or raid; viewers may do nothing', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    const other = await seedUser('other');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const m = await openJson(owner.channelId, mod.token);
    const v = await openJson(owner.channelId, viewer.token);
    v.say(owner.channelId, `/ban ${other.name}`);
    expect(await v.next('error')).toMatchObject({ code: 'forbidden' });
    m.say(owner.channelId, `/mod ${other.name}`);
    expect(await m.next('error')).toMatchObject({ code: 'forbidden' });
    m.say(owner.channelId, `/raid ${other.name}`);
    await waitUntil(() =>
      m.frames.filter((f) => f.type === 'error' && f.code === 'forbidden').length === 2 ? true : undefined,
    );
    v.say(owner.channelId, 'delete me');
    const doomed = await m.next('chat_message', (msg) => msg.content === 'delete me');
    m.say(owner.channelId, `/delete ${doomed.id}`);
    expect(await m.next('notice')).toMatchObject({ code: 'delete_message_success' });
    expect(await v.next('delete_message')).toEqual({ type: 'delete_message', id: doomed.id });
    m.say(owner.channelId, `/ban ${other.name}`);
    await m.next('notice', (n) => n.code === 'ban_success');
  });

  it('grants moderator and VIP roles from chat, writing channel_roles in D1', async () => {
    const owner = await seedUser('own');
    const friend = await seedUser('friend');
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, `/mod ${friend.name}`);
    await b.next('notice', (n) => n.code === 'mod_success');
    b.say(owner.channelId, `/vip ${friend.name}`);
    await b.next('notice', (n) => n.code === 'vip_success');
    const roles = await env.DB.prepare(
      'SELECT role FROM channel_roles WHERE channel_id = ? AND user_id = ? ORDER BY role',
    )
      .bind(owner.channelId, friend.id)
      .all<{ role: string }>();
    expect(roles.results.map((r) => r.role)).toEqual(['moderator', 'vip']);
    const f = await openJson(owner.channelId, friend.token);
    f.say(owner.channelId, 'now a mod');
    const message = await f.next('chat_message');
    expect(message.user.badges.map((badge) => badge.id)).toEqual(['moderator', 'vip']);
    b.say(owner.channelId, `/unmod ${friend.name}`);
    await b.next('notice', (n) => n.code === 'unmod_success');
  });

  it('answers unknown commands with unknown_command and /clear with clear_chat', async () => {
    const owner = await seedUser('own');
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, '/dance');
    expect(await b.next('error')).toMatchObject({ code: 'unknown_command' });
    b.say(owner.channelId, 'before clear');
    await b.next('chat_message');
    b.say(owner.channelId, '/clear');
    await b.next('clear_chat');
    const late = await openJson(owner.channelId);
    expect((await late.next('history')).messages).toEqual([]);
  });

  it('raids another channel: raiders see a raid frame and the target sees who arrives', async () => {
    const owner = await seedUser('own');
    const target = await seedUser('target');
    const raider = await openJson(owner.channelId);
    const targetViewer = await openJson(target.channelId);
    await goLive(owner.channelId);
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, `/raid ${target.name}`);
    await b.next('notice', (n) => n.code === 'raid_success');
    const raid = await raider.next('raid');
    expect(raid).toMatchObject({
      from_channel: owner.channelId,
      to_channel: { id: target.channelId, name: target.name },
    });
    expect(raid.viewers).toBeGreaterThanOrEqual(2);
    const notice = await targetViewer.next('notice', (n) => n.code === 'raid');
    expect(notice.message).toContain(owner.name.toUpperCase());
  });

  it('lets a channel raid only while live, once per five minutes, and never into a chat that banned its owner', async () => {
    const attacker = await seedUser('att');
    const victim = await seedUser('victim');
    const bystander = await seedUser('by');
    const victimViewer = await openJson(victim.channelId);
    const chat = await openJson(attacker.channelId, attacker.token);
    // Not live: no raid, and nothing reaches the victim.
    chat.say(attacker.channelId, `/raid ${victim.name}`);
    await chat.next('notice', (n) => n.code === 'raid_error_not_live');
    await goLive(attacker.channelId);
    // The attack: raids into one chat as fast as the socket may send (its queue holds 10 frames).
    // One gets through; the rest wait out the cooldown.
    for (let i = 0; i < 8; i++) chat.say(attacker.channelId, `/raid ${victim.name}`);
    await chat.next('notice', (n) => n.code === 'raid_success');
    const refusals = await waitUntil(() => {
      const limited = chat.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited');
      return limited.length === 7 ? limited : undefined;
    }, 10_000);
    for (const refusal of refusals) {
      expect(refusal).toMatchObject({ code: 'rate_limited' });
      if (refusal.type === 'error') expect(refusal.retry_after_ms).toBeGreaterThan(4 * 60_000);
    }
    await victimViewer.next('notice', (n) => n.code === 'raid');
    // Another batch of the victim's chat goes by without a second raid notice.
    const owner = await openJson(victim.channelId, victim.token);
    owner.say(victim.channelId, 'still here');
    await victimViewer.next('chat_message', (m) => m.content === 'still here');
    expect(victimViewer.frames.filter((f) => f.type === 'notice' && f.code === 'raid')).toHaveLength(1);

    // A chat that banned the raider's owner hears nothing from them, even from a live channel.
    const room = env.CHAT_ROOM.getByName(bystander.channelId);
    const bystanderViewer = await openJson(bystander.channelId);
    const fresh = await seedUser('fresh');
    await goLive(fresh.channelId);
    const ban = await room.moderate(bystander.channelId, bystander.id, {
      kind: 'ban',
      target: fresh.name,
      reason: 'raids',
    });
    expect(ban.kind).toBe('done');
    const freshChat = await openJson(fresh.channelId, fresh.token);
    freshChat.say(fresh.channelId, `/raid ${bystander.name}`);
    expect(await freshChat.next('error')).toMatchObject({ code: 'forbidden' });
    const bystanderOwner = await openJson(bystander.channelId, bystander.token);
    bystanderOwner.say(bystander.channelId, 'quiet here');
    await bystanderViewer.next('chat_message', (m) => m.content === 'quiet here');
    expect(bystanderViewer.frames.some((f) => f.type === 'notice' && f.code === 'raid')).toBe(false);
  });

  it('mirrors a timeout to the D1 bans table through the moderation queue, and the unban removes it', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    const timeout = await room.moderate(owner.channelId, owner.id, {
      kind: 'timeout',
      target: viewer.id,
      seconds: 30,
      reason: 'calm',
    });
    expect(timeout).toMatchObject({ kind: 'done', code: 'timeout_success' });
    const readBan = () =>
      env.DB.prepare(
        'SELECT kind, reason, moderator_id, expires_at FROM bans WHERE channel_id = ? AND user_id = ?',
      )
        .bind(owner.channelId, viewer.id)
        .first<{ kind: string; reason: string; moderator_id: string; expires_at: number }>();
    let row = await readBan();
    for (let i = 0; i < 100 && !row; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      row = await readBan();
    }
    expect(row).toMatchObject({ kind: 'timeout', reason: 'calm', moderator_id: owner.id });
    expect(row?.expires_at).toBeGreaterThan(Date.now());
    expect(
      await room.moderate(owner.channelId, owner.id, { kind: 'unban', target: viewer.id }),
    ).toMatchObject({ kind: 'done' });
    for (let i = 0; i < 100 && row; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      row = await readBan();
    }
    expect(row).toBeNull();
  });
});
