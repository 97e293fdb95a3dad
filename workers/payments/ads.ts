// Ad breaks (docs/payments.md, "Ads"): the streamer starts one (30/60/90/180 s) while live; the
// LiveStream object lists it in every media playlist as an HLS interstitial whose X-ASSET-LIST
// points here. Each player fetches that list when it reaches the break: a subscriber (any tier is
// ad-free) gets no assets, so the player skips the break and nothing is counted; anyone else gets
// the pool's assets filling the break and counts one impression per viewer per break (a signed-in
// user, else a client network, so that a script cannot mint impressions).
import { z } from 'zod';

export const AD_BREAK_SECONDS = [30, 60, 90, 180] as const;

const AdPool = z.object({
  assets: z
    .array(z.object({ uri: z.string().min(1).max(500), duration: z.number().positive().max(180) }))
    .min(1)
    .max(50),
});
export type AdPool = z.infer<typeof AdPool>;

/** Throws on a malformed pool: a deploy that cannot play ads must not start breaks. */
export function readAdPool(env: Env): AdPool {
  const raw: unknown = env.AD_POOL;
  return AdPool.parse(typeof raw === 'string' ? JSON.parse(raw) : raw);
}

/** The asset list of a break: the pool's assets in order, repeated until the break is filled. */
export function buildAssetList(pool: AdPool, durationSeconds: number): { URI: string; DURATION: number }[] {
  const assets: { URI: string; DURATION: number }[] = [];
  let filled = 0;
  for (let i = 0; filled < durationSeconds && i < 1000; i++) {
    const asset = pool.assets[i % pool.assets.length];
    if (!asset) break;
    const duration = Math.min(asset.duration, durationSeconds - filled);
    assets.push({ URI: asset.uri, DURATION: duration });
    filled += duration;
  }
  return assets;
}

export const AdBreakRow = z.object({
  id: z.string(),
  channel_id: z.string(),
  duration_seconds: z.number().int(),
});

export async function loadAdBreak(db: D1Database, breakId: string) {
  const raw = await db
    .prepare('SELECT id, channel_id, duration_seconds FROM ad_breaks WHERE id = ?')
    .bind(breakId)
    .first();
  return raw ? AdBreakRow.parse(raw) : null;
}

/** Whether the user's subscription to the channel is active (every tier skips ads). */
export async function isAdFree(
  db: D1Database,
  userId: string,
  channelId: string,
  now: number,
): Promise<boolean> {
  const row = await db
    .prepare('SELECT 1 AS yes FROM subscriptions WHERE user_id = ? AND channel_id = ? AND expires_at > ?')
    .bind(userId, channelId, now)
    .first();
  return row !== null;
}
