// Helix subscriptions and the bits leaderboard (dev.twitch.tv/docs/api/reference: Get Broadcaster
// Subscriptions, Check User Subscription, Get Bits Leaderboard), read from the rows the payments
// consumer keeps (docs/payments.md): a subscription is active while `expires_at > now`; bits
// cheered are the ledger's cheer transactions into the channel's account.
import { Hono } from 'hono';
import { z } from 'zod';
import { HelixError, type HelixVariables, requireScope, requireSelf } from './auth.ts';
import { paginate, readAfter, readFirst, readList, readRequired, toRfc3339 } from './params.ts';

const Tier = z.union([z.literal(1000), z.literal(2000), z.literal(3000)]);
const ChannelRow = z.object({ id: z.string(), name: z.string(), display_name: z.string() });
const SubscriptionRow = z.object({
  user_id: z.string(),
  login: z.string(),
  display_name: z.string().nullable(),
  tier: Tier,
  gifted_by: z.string().nullable(),
  gifter_login: z.string().nullable(),
  gifter_display_name: z.string().nullable(),
});
const CountRow = z.object({ n: z.number(), points: z.number() });
const UserPosition = z.object({ id: z.string().max(100) });
const LeaderRow = z.object({
  user_id: z.string(),
  login: z.string(),
  display_name: z.string().nullable(),
  score: z.number(),
});

/** Twitch: "points ... Tier 1 is worth 1 point, Tier 2 2 points, Tier 3 6 points". */
const SUB_POINTS_SQL = 'CASE s.tier WHEN 3000 THEN 6 WHEN 2000 THEN 2 ELSE 1 END';
/** Twitch: count "The maximum is 100. The default is 10." */
const MAX_LEADERBOARD_COUNT = 100;

async function findChannel(db: D1Database, broadcasterId: string) {
  const row = await db
    .prepare('SELECT id, name, display_name FROM channels WHERE user_id = ?')
    .bind(broadcasterId)
    .first();
  if (row === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
  return ChannelRow.parse(row);
}

const SUBSCRIPTION_SELECT = `SELECT s.user_id, u.username AS login, uc.display_name, s.tier, s.gifted_by,
    g.username AS gifter_login, gc.display_name AS gifter_display_name
  FROM subscriptions s JOIN users u ON u.id = s.user_id LEFT JOIN channels uc ON uc.user_id = s.user_id
  LEFT JOIN users g ON g.id = s.gifted_by LEFT JOIN channels gc ON gc.user_id = s.gifted_by`;

function describeGifter(row: z.infer<typeof SubscriptionRow>) {
  return {
    gifter_id: row.gifted_by ?? '',
    gifter_login: row.gifter_login?.toLowerCase() ?? '',
    gifter_name: row.gifter_display_name ?? row.gifter_login ?? '',
    is_gift: row.gifted_by !== null,
  };
}

/** The [start, end) of a leaderboard period around `startedAt` (UTC; Twitch counts in PT). */
export function findPeriod(period: string, startedAt: number): { start: number; end: number } | null {
  const at = new Date(startedAt);
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  const d = at.getUTCDate();
  switch (period) {
    case 'day':
      return { start: Date.UTC(y, m, d), end: Date.UTC(y, m, d + 1) };
    case 'week': {
      // Weeks start on Monday.
      const monday = d - ((at.getUTCDay() + 6) % 7);
      return { start: Date.UTC(y, m, monday), end: Date.UTC(y, m, monday + 7) };
    }
    case 'month':
      return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    case 'year':
      return { start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) };
    default:
      return null;
  }
}

export const helixSubscriptionsBitsApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>()
  // "Requires a user access token that includes the channel:read:subscriptions scope"; the
  // broadcaster_id "must match the user ID in the auth token".
  .get('/subscriptions', async (c) => {
    requireScope(c, 'channel:read:subscriptions');
    const broadcasterId = requireSelf(c, 'broadcaster_id', readRequired(c, 'broadcaster_id'));
    const channel = await findChannel(c.env.DB, broadcasterId);
    const userIds = readList(c, 'user_id');
    const first = readFirst(c);
    const after = readAfter(c, UserPosition);
    const now = Date.now();
    const counts = CountRow.parse(
      await c.env.DB.prepare(
        `SELECT count(*) AS n, coalesce(sum(${SUB_POINTS_SQL}), 0) AS points FROM subscriptions s
         WHERE s.channel_id = ? AND s.expires_at > ?`,
      )
        .bind(channel.id, now)
        .first(),
    );
    const { results } = await c.env.DB.prepare(
      `${SUBSCRIPTION_SELECT}
       WHERE s.channel_id = ?1 AND s.expires_at > ?2
         AND (?3 IS NULL OR s.user_id IN (SELECT value FROM json_each(?3)))
         AND (?4 IS NULL OR s.user_id > ?4)
       ORDER BY s.user_id LIMIT ?5`,
    )
      .bind(
        channel.id,
        now,
        userIds.length > 0 ? JSON.stringify(userIds) : null,
        after?.id ?? null,
        first + 1,
      )
      .all();
    const rows = results.map((raw) => SubscriptionRow.parse(raw));
    const { page, pagination } = paginate(rows, first, (last) => ({ id: last.user_id }));
    const data = page.map((row) => ({
      broadcaster_id: broadcasterId,
      broadcaster_login: channel.name.toLowerCase(),
      broadcaster_name: channel.display_name,
      ...describeGifter(row),
      plan_name: `Channel Subscription (${channel.name.toLowerCase()})`,
      tier: String(row.tier),
      user_id: row.user_id,
      user_name: row.display_name ?? row.login,
      user_login: row.login.toLowerCase(),
    }));
    return c.json({ data, pagination, points: counts.points, total: counts.n });
  })
  // "Requires a user access token that includes the user:read:subscriptions scope"; 404 when the
  // user does not subscribe to the broadcaster.
  .get('/subscriptions/user', async (c) => {
    requireScope(c, 'user:read:subscriptions');
    const userId = requireSelf(c, 'user_id', readRequired(c, 'user_id'));
    const broadcasterId = readRequired(c, 'broadcaster_id');
    const channel = await findChannel(c.env.DB, broadcasterId);
    const raw = await c.env.DB.prepare(
      `${SUBSCRIPTION_SELECT} WHERE s.channel_id = ? AND s.user_id = ? AND s.expires_at > ?`,
    )
      .bind(channel.id, userId, Date.now())
      .first();
    if (raw === null) throw new HelixError(404, `${userId} has no subscription to ${broadcasterId}`);
    const row = SubscriptionRow.parse(raw);
    const gifter = describeGifter(row);
    return c.json({
      data: [
        {
          broadcaster_id: broadcasterId,
          broadcaster_login: channel.name.toLowerCase(),
          broadcaster_name: channel.display_name,
          // Twitch leaves the gifter fields out of a subscription that was not a gift.
          ...(gifter.is_gift
            ? {
                gifter_id: gifter.gifter_id,
                gifter_login: gifter.gifter_login,
                gifter_name: gifter.gifter_name,
              }
            : {}),
          is_gift: gifter.is_gift,
          tier: String(row.tier),
        },
      ],
    });
  })
  // "Requires a user access token that includes the bits:read scope": the token's broadcaster.
  .get('/bits/leaderboard', async (c) => {
    requireScope(c, 'bits:read');
    const token = c.get('token');
    if (token.userId === null) throw new HelixError(401, 'User access token required');
    const channel = await findChannel(c.env.DB, token.userId);
    const countRaw = c.req.query('count');
    const count = countRaw === undefined ? 10 : Number(countRaw);
    if (!Number.isInteger(count) || count < 1 || count > MAX_LEADERBOARD_COUNT)
      throw new HelixError(400, 'The parameter "count" was malformed: the value must be between 1 and 100');
    const periodName = c.req.query('period') ?? 'all';
    const startedRaw = c.req.query('started_at');
    const startedAt = startedRaw === undefined ? Date.now() : Date.parse(startedRaw);
    if (startedRaw !== undefined && (startedRaw.length > 40 || Number.isNaN(startedAt)))
      throw new HelixError(400, 'The parameter "started_at" was malformed');
    const period = periodName === 'all' ? null : findPeriod(periodName, startedAt);
    if (periodName !== 'all' && period === null)
      throw new HelixError(400, 'The parameter "period" was malformed');
    const userId = c.req.query('user_id');
    if (userId !== undefined && userId.length > 100)
      throw new HelixError(400, 'The parameter "user_id" was malformed');
    // Each cheer is a transfer from user_bits:<user> to channel_bits:<channel> (workers/payments/ledger.ts).
    const { results } = await c.env.DB.prepare(
      `WITH scores AS (
         SELECT substr(e.account_id, 11) AS user_id, -sum(e.amount) AS score
         FROM ledger_transactions t
         JOIN ledger_entries e ON e.transaction_id = t.id AND e.account_id LIKE 'user_bits:%'
         JOIN ledger_entries ch ON ch.transaction_id = t.id AND ch.account_id = ?1
         WHERE t.kind = 'cheer' AND (?2 IS NULL OR (t.created_at >= ?2 AND t.created_at < ?3))
         GROUP BY e.account_id)
       SELECT s.user_id, u.username AS login, uc.display_name, s.score
       FROM scores s JOIN users u ON u.id = s.user_id LEFT JOIN channels uc ON uc.user_id = s.user_id
       ORDER BY s.score DESC, s.user_id LIMIT 1000`,
    )
      .bind(`channel_bits:${channel.id}`, period?.start ?? null, period?.end ?? null)
      .all();
    const ranked = results.map((raw, i) => ({ ...LeaderRow.parse(raw), rank: i + 1 }));
    // "user_id: ... the response includes the user and the users ranked above and below them".
    let shown = ranked.slice(0, count);
    if (userId !== undefined) {
      const at = ranked.findIndex((row) => row.user_id === userId);
      shown =
        at < 0
          ? []
          : ranked.slice(
              Math.max(0, at - Math.floor((count - 1) / 2)),
              Math.max(0, at - Math.floor((count - 1) / 2)) + count,
            );
    }
    return c.json({
      data: shown.map((row) => ({
        user_id: row.user_id,
        user_login: row.login.toLowerCase(),
        user_name: row.display_name ?? row.login,
        rank: row.rank,
        score: row.score,
      })),
      date_range: {
        started_at: period ? toRfc3339(period.start) : '',
        ended_at: period ? toRfc3339(period.end) : '',
      },
      total: shown.length,
    });
  });
