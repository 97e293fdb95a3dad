// The affiliate/partner program (workers/api/lib/tier-program.ts): the cron sweep promotes a channel
// whose last 30 days reach the thresholds, the next publish is authorized with the new tier (and so
// its ladder), an operator's override wins both ways, only the owner reads the standing and only the
// operator token sets an override. Average viewers come from the viewer.count events themselves.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ViewerCountEvent } from '../../protocol/events.ts';
import { TIER_THRESHOLDS } from '../../workers/api/lib/tier-program.ts';
import { SWEEPS } from '../../workers/cron.ts';
import { viewerEventHandlers } from '../../workers/queues/viewer-events.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import { authorizePublish, createTestChannel } from './origin-fixtures.ts';

const DAY = 24 * 60 * 60 * 1000;
const ADMIN = { Authorization: 'Bearer test-admin-token' };

async function runTierSweep(now = Date.now()): Promise<void> {
  const sweep = SWEEPS.find((s) => s.name === 'evaluate-audience-tiers');
  if (!sweep) throw new Error('the tier sweep is missing');
  await sweep.run(env, now);
}

/** `days` ended streams, one a day, each `minutes` long with `average` viewers on average. */
async function seedHistory(channelId: string, days: number, minutes: number, average: number): Promise<void> {
  const now = Date.now();
  const rows = Array.from({ length: days }, (_, i) => {
    // The newest ended a minute ago: the sweep looks at channels whose streams ended lately.
    const ended = now - 60_000 - i * DAY;
    const started = ended - minutes * 60_000;
    return env.DB.prepare(
      `INSERT INTO streams (id, channel_id, status, started_at, ended_at, viewer_seconds, created_at)
       VALUES (?, ?, 'ended', ?, ?, ?, ?)`,
    ).bind(
      crypto.randomUUID(),
      channelId,
      started,
      i === 0 ? now - 60_000 : ended,
      average * minutes * 60,
      started,
    );
  });
  await env.DB.batch(rows);
}

async function setFollowers(channelId: string, count: number): Promise<void> {
  await env.DB.prepare('UPDATE channels SET follower_count = ? WHERE id = ?').bind(count, channelId).run();
}

async function readTier(channelId: string): Promise<{ tier: string; tier_override: string | null } | null> {
  return env.DB.prepare('SELECT tier, tier_override FROM channels WHERE id = ?')
    .bind(channelId)
    .first<{ tier: string; tier_override: string | null }>();
}

describe('the affiliate/partner program', () => {
  it('promotes a channel that reaches the affiliate thresholds at the next sweep, and its next publish gets that tier', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    await setFollowers(channel.channelId, TIER_THRESHOLDS.affiliate.followers);
    await seedHistory(channel.channelId, 7, 80, 4);
    await runTierSweep();
    expect(await readTier(channel.channelId)).toEqual({ tier: 'affiliate', tier_override: null });
    expect((await authorizePublish(channel.streamKey)).tier).toBe('affiliate');
  });

  it('leaves a channel one threshold short where it is, and never demotes by itself', async () => {
    const short = await createTestChannel({ tier: 'none' });
    await setFollowers(short.channelId, TIER_THRESHOLDS.affiliate.followers - 1);
    await seedHistory(short.channelId, 7, 80, 4);
    await runTierSweep();
    expect((await readTier(short.channelId))?.tier).toBe('none');

    const partner = await createTestChannel({ tier: 'partner' });
    await seedHistory(partner.channelId, 1, 10, 0);
    await runTierSweep();
    expect((await readTier(partner.channelId))?.tier).toBe('partner');
  });

  it('applies an operator override at once, both ways, and the sweep keeps it until it is cleared', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    const up = await callApi(`/admin/channels/${channel.channelId}/tier`, {
      method: 'PUT',
      headers: ADMIN,
      body: { override: 'partner' },
    });
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({ tier: 'partner', earned: 'none', override: 'partner' });
    expect((await authorizePublish(channel.streamKey)).tier).toBe('partner');

    await setFollowers(channel.channelId, 100);
    await seedHistory(channel.channelId, 7, 80, 4);
    const down = await callApi(`/admin/channels/${channel.channelId}/tier`, {
      method: 'PUT',
      headers: ADMIN,
      body: { override: 'none' },
    });
    expect(await down.json()).toMatchObject({ tier: 'none', earned: 'affiliate', override: 'none' });
    await runTierSweep(Date.now() + 1000);
    expect(await readTier(channel.channelId)).toEqual({ tier: 'none', tier_override: 'none' });

    const cleared = await callApi(`/admin/channels/${channel.channelId}/tier`, {
      method: 'PUT',
      headers: ADMIN,
      body: { override: null },
    });
    expect(await cleared.json()).toMatchObject({ tier: 'affiliate', override: null });
  });

  it('refuses an override without the operator token, with a wrong one, or for an unknown channel or tier', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    const owner = await signUp('own');
    const path = `/admin/channels/${channel.channelId}/tier`;
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${owner.token}` },
    ];
    for (const headers of attempts) {
      const res = await callApi(path, { method: 'PUT', headers, body: { override: 'partner' } });
      expect(res.status).toBe(401);
      expect((await readError(res)).code).toBe('unauthorized');
    }
    expect((await readTier(channel.channelId))?.tier).toBe('none');
    const unknown = await callApi(`/admin/channels/${crypto.randomUUID()}/tier`, {
      method: 'PUT',
      headers: ADMIN,
      body: { override: 'partner' },
    });
    expect(unknown.status).toBe(404);
    const bad = await callApi(path, { method: 'PUT', headers: ADMIN, body: { override: 'emperor' } });
    expect(bad.status).toBe(400);
  });

  it("shows the owner the channel's standing against the thresholds, and nobody else", async () => {
    const owner = await signUp('own');
    const other = await signUp('other');
    const res = await callApi(`/channels/${owner.channel.id}/tier-program`, { token: owner.token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      tier: 'none',
      earned: 'none',
      override: null,
      standing: { followers: 0, broadcast_minutes: 0, broadcast_days: 0, average_viewers: 0 },
      thresholds: {
        affiliate: { followers: 50, broadcast_minutes: 500, broadcast_days: 7, average_viewers: 3 },
      },
    });
    const foreign = await callApi(`/channels/${owner.channel.id}/tier-program`, { token: other.token });
    expect(foreign.status).toBe(403);
    const anonymous = await callApi(`/channels/${owner.channel.id}/tier-program`);
    expect(anonymous.status).toBe(401);
  });
});

describe('average viewers from viewer.count', () => {
  it('adds each count over the time to the next one, at most 30 s of it, and nothing for a redelivered or late count', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    const streamId = crypto.randomUUID();
    const t0 = Date.now() - 60_000;
    await env.DB.prepare(
      `INSERT INTO streams (id, channel_id, status, started_at, created_at) VALUES (?, ?, 'live', ?, ?)`,
    )
      .bind(streamId, channel.channelId, t0, t0)
      .run();
    const handler = viewerEventHandlers['viewer.count'];
    if (!handler || !('dedupe' in handler)) throw new Error('no undeduped viewer.count handler');
    const count = async (viewers: number, at: number) => {
      const event = ViewerCountEvent.parse({
        id: crypto.randomUUID(),
        type: 'viewer.count',
        channel_id: channel.channelId,
        stream_id: streamId,
        viewers,
        unique_viewers: viewers,
        occurred_at: at,
      });
      const statements = await handler.handle(event, env);
      await env.DB.batch(statements);
    };
    await count(10, t0);
    await count(20, t0 + 10_000); // +10 viewers x 10 s
    await count(20, t0 + 10_000); // redelivered: nothing
    await count(99, t0 + 5_000); // late: nothing
    await count(5, t0 + 70_000); // +20 viewers x 30 s (a 60 s gap counts 30 s)
    const row = await env.DB.prepare('SELECT viewer_seconds, viewer_count FROM streams WHERE id = ?')
      .bind(streamId)
      .first<{ viewer_seconds: number; viewer_count: number }>();
    expect(row).toEqual({ viewer_seconds: 10 * 10 + 20 * 30, viewer_count: 5 });
  });
});
