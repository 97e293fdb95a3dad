// Discovery: GET /recommendations ("recommended for you" on the home page) and
// GET /channels/{id}/similar (the watch page). Both answer from bounded queries (lib/discovery.ts):
//
// Recommendations for a signed-in viewer, in this order, each card with the reason it is there:
//   1. live channels that followers of the viewer's SEED_CHANNELS most recently followed channels
//      also follow ("Because you follow X", X the seed most of their followers share);
//   2. the busiest live streams of the categories the viewer watched (category_views, bumped by the
//      player's presence signal) and of the channels they follow ("Popular in <category>");
//   3. the busiest live streams ("Popular now"): the cold start, and all a signed-out viewer gets.
// Channels the viewer follows are left out (the Following rail shows them), as is their own.
//
// Cost, signed in: 3 round trips, at most 2 + SEED_CHANNELS + SEED_CATEGORIES + 2 statements;
// rows read at most FOLLOWS_READ + categories watched (≤ MAX_CATEGORIES) + SEED_CHANNELS *
// (FOLLOWER_SAMPLE + CO_FOLLOW_ROWS) + SEED_CATEGORIES * MAX_RECOMMENDATIONS + POPULAR_READ + 100,
// all through indexes. Signed out: one statement of POPULAR_READ rows.
import { createRoute, z } from '@hono/zod-openapi';
import { optionalUser } from '../../shared/auth.ts';
import { notFound } from '../../shared/errors.ts';
import {
  type CoFollow,
  FOLLOWS_READ,
  MAX_RECOMMENDATIONS,
  prepareCategoryLive,
  prepareCoFollows,
  prepareLiveOfChannels,
  preparePopularLive,
  readCoFollows,
  readStreams,
  SEED_CATEGORIES,
  SEED_CHANNELS,
} from '../lib/discovery.ts';
import { createApiRouter, describeErrors, jsonContent, pathParam } from '../lib/router.ts';
import {
  CategorySchema,
  CHANNEL_SELECT,
  ChannelRow,
  ChannelSchema,
  findChannel,
  LiveStreamSchema,
  type StreamRow,
  toChannel,
  toLiveStream,
} from '../lib/views.ts';

/** Popular streams read to fill the rail after the followed ones are left out. */
const POPULAR_READ = 100;

const ReasonSchema = z
  .object({
    kind: z.enum(['co_follow', 'category', 'popular']),
    /** What the card says: "Because you follow X", "Popular in Just Chatting", "Popular now". */
    text: z.string(),
    /** co_follow: the followed channel the viewer's taste is read from. */
    channel: z.object({ id: z.string(), name: z.string(), display_name: z.string() }).nullable(),
    /** category: the category. */
    category: CategorySchema.nullable(),
  })
  .openapi('RecommendationReason');
type Reason = z.infer<typeof ReasonSchema>;

const RecommendationSchema = z
  .object({ stream: LiveStreamSchema, reason: ReasonSchema })
  .openapi('Recommendation');
const SimilarChannelSchema = z
  .object({ channel: ChannelSchema, reason: ReasonSchema })
  .openapi('SimilarChannel');

const LimitQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_RECOMMENDATIONS).default(12),
});

const FollowRow = z.object({
  channel_id: z.string(),
  created_at: z.number(),
  name: z.string(),
  display_name: z.string(),
  category_id: z.number().int().nullable(),
  category_slug: z.string().nullable(),
  category_name: z.string().nullable(),
  category_box_art_url: z.string().nullable(),
});
const WatchedRow = z.object({
  id: z.number().int(),
  slug: z.string(),
  name: z.string(),
  box_art_url: z.string().nullable(),
});

const POPULAR: Reason = { kind: 'popular', text: 'Popular now', channel: null, category: null };

function categoryReason(
  category: z.infer<typeof CategorySchema>,
  text = `Popular in ${category.name}`,
): Reason {
  return { kind: 'category', text, channel: null, category };
}

/** The categories to draw from: watched ones first, then those most of the followed channels are in. */
function pickSeedCategories(
  watched: z.infer<typeof WatchedRow>[],
  follows: z.infer<typeof FollowRow>[],
): z.infer<typeof CategorySchema>[] {
  const picked = new Map<number, z.infer<typeof CategorySchema>>();
  for (const row of watched) picked.set(row.id, row);
  const counts = new Map<number, { category: z.infer<typeof CategorySchema>; n: number }>();
  for (const f of follows) {
    if (f.category_id === null || f.category_slug === null || f.category_name === null) continue;
    const entry = counts.get(f.category_id) ?? {
      category: {
        id: f.category_id,
        slug: f.category_slug,
        name: f.category_name,
        box_art_url: f.category_box_art_url,
      },
      n: 0,
    };
    entry.n += 1;
    counts.set(f.category_id, entry);
  }
  for (const { category } of [...counts.values()].sort((a, b) => b.n - a.n)) {
    if (!picked.has(category.id)) picked.set(category.id, category);
  }
  return [...picked.values()].slice(0, SEED_CATEGORIES);
}

export const recommendationsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/recommendations',
      tags: ['discovery'],
      summary: 'Live streams recommended for the viewer, each with the reason (popular ones when signed out)',
      middleware: [optionalUser] as const,
      request: { query: LimitQuery },
      responses: {
        200: jsonContent(z.object({ data: z.array(RecommendationSchema) }), 'Recommended live streams'),
        ...describeErrors(400),
      },
    }),
    async (c) => {
      const { limit } = c.req.valid('query');
      const db = c.env.DB;
      const user = c.var.user;
      const picked = new Map<string, { stream: StreamRow; reason: Reason }>();
      const excluded = new Set<string>();
      const offer = (rows: StreamRow[], reason: (row: StreamRow) => Reason) => {
        for (const row of rows) {
          if (picked.size >= limit) return;
          if (excluded.has(row.channel_id) || picked.has(row.channel_id)) continue;
          picked.set(row.channel_id, { stream: row, reason: reason(row) });
        }
      };
      if (user) {
        excluded.add(user.channel_id);
        const [followsResult, watchedResult] = await db.batch([
          db
            .prepare(
              `SELECT f.channel_id, f.created_at, ch.name, ch.display_name, ch.category_id,
                      cat.slug AS category_slug, cat.name AS category_name, cat.box_art_url AS category_box_art_url
               FROM follows f JOIN channels ch ON ch.id = f.channel_id
               LEFT JOIN categories cat ON cat.id = ch.category_id AND cat.retired_at IS NULL
               WHERE f.user_id = ? LIMIT ${FOLLOWS_READ}`,
            )
            .bind(user.id),
          db
            .prepare(
              `SELECT cat.id, cat.slug, cat.name, cat.box_art_url FROM category_views cv
               JOIN categories cat ON cat.id = cv.category_id
               WHERE cv.user_id = ? AND cat.retired_at IS NULL
               ORDER BY cv.watches DESC, cv.watched_at DESC LIMIT ${SEED_CATEGORIES}`,
            )
            .bind(user.id),
        ]);
        const follows = (followsResult?.results ?? []).map((row) => FollowRow.parse(row));
        const watched = (watchedResult?.results ?? []).map((row) => WatchedRow.parse(row));
        for (const f of follows) excluded.add(f.channel_id);
        const seeds = [...follows].sort((a, b) => b.created_at - a.created_at).slice(0, SEED_CHANNELS);
        const categories = pickSeedCategories(watched, follows);
        const results = await db.batch([
          ...seeds.map((seed) => prepareCoFollows(db, seed.channel_id, user.id)),
          ...categories.map((category) => prepareCategoryLive(db, category.id, MAX_RECOMMENDATIONS)),
          preparePopularLive(db, POPULAR_READ),
        ]);
        // Each candidate channel: how many sampled followers of each seed follow it; the reason
        // names the seed with the most.
        const coFollows = new Map<string, { total: number; best: CoFollow; seed: (typeof seeds)[number] }>();
        seeds.forEach((seed, index) => {
          for (const row of readCoFollows(results[index])) {
            if (excluded.has(row.channel_id)) continue;
            const entry = coFollows.get(row.channel_id);
            if (!entry) coFollows.set(row.channel_id, { total: row.n, best: row, seed });
            else {
              entry.total += row.n;
              if (row.n > entry.best.n) Object.assign(entry, { best: row, seed });
            }
          }
        });
        if (coFollows.size > 0) {
          const ranked = [...coFollows.entries()].sort((a, b) => b[1].total - a[1].total);
          const live = readStreams(
            (
              await db.batch([
                prepareLiveOfChannels(
                  db,
                  ranked.map(([id]) => id),
                ),
              ])
            )[0],
          );
          const byChannel = new Map(live.map((row) => [row.channel_id, row]));
          for (const [channelId, entry] of ranked) {
            const row = byChannel.get(channelId);
            if (!row) continue;
            offer([row], () => ({
              kind: 'co_follow',
              text: `Because you follow ${entry.seed.display_name}`,
              channel: {
                id: entry.seed.channel_id,
                name: entry.seed.name,
                display_name: entry.seed.display_name,
              },
              category: null,
            }));
          }
        }
        categories.forEach((category, index) => {
          offer(readStreams(results[seeds.length + index]), () => categoryReason(category));
        });
        offer(readStreams(results.at(-1)), () => POPULAR);
      } else {
        offer(readStreams((await db.batch([preparePopularLive(db, limit)]))[0]), () => POPULAR);
      }
      return c.json(
        {
          data: [...picked.values()].map(({ stream, reason }) => ({
            stream: toLiveStream(c, stream),
            reason,
          })),
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/similar',
      tags: ['discovery'],
      summary: 'Channels like this one: followed by its followers, and live in its category',
      request: { params: z.object({ id: pathParam('id') }), query: LimitQuery },
      responses: {
        200: jsonContent(
          z.object({ data: z.array(SimilarChannelSchema) }),
          'Similar channels, live ones first',
        ),
        ...describeErrors(400, 404),
      },
    }),
    async (c) => {
      const { limit } = c.req.valid('query');
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      const db = c.env.DB;
      const statements = [prepareCoFollows(db, channel.id, null)];
      if (channel.category)
        statements.push(prepareCategoryLive(db, channel.category.id, MAX_RECOMMENDATIONS));
      const [coResult, categoryResult] = await db.batch(statements);
      const reasons = new Map<string, Reason>();
      const peerReason: Reason = {
        kind: 'co_follow',
        text: `Followed by people who follow ${channel.display_name}`,
        channel: { id: channel.id, name: channel.name, display_name: channel.display_name },
        category: null,
      };
      for (const row of readCoFollows(coResult)) reasons.set(row.channel_id, peerReason);
      const category = channel.category;
      if (category) {
        for (const row of readStreams(categoryResult)) {
          if (!reasons.has(row.channel_id) && row.channel_id !== channel.id)
            reasons.set(row.channel_id, categoryReason(category, `Also live in ${category.name}`));
        }
      }
      const ids = [...reasons.keys()].slice(0, 100);
      const { results } = await db
        .prepare(`${CHANNEL_SELECT} WHERE c.id IN (SELECT value FROM json_each(?))`)
        .bind(JSON.stringify(ids))
        .all();
      const channels = new Map(
        results.map((row) => {
          const parsed = ChannelRow.parse(row);
          return [parsed.id, toChannel(c, parsed)];
        }),
      );
      // Live first, then in the order found (co-following by count, then the category by viewers).
      const ordered = ids
        .map((id) => channels.get(id))
        .filter((found) => found !== undefined)
        .sort((a, b) => Number(b.is_live) - Number(a.is_live));
      return c.json(
        {
          data: ordered.slice(0, limit).map((found) => ({
            channel: found,
            reason: reasons.get(found.id) ?? peerReason,
          })),
        },
        200,
      );
    },
  );
