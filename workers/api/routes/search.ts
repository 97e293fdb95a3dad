// Full-text search over channel names and live titles/tags (the FTS5 search_index).
import { createRoute, z } from '@hono/zod-openapi';
import { buildFtsQuery } from '../../shared/search-index.ts';
import { createApiRouter, describeErrors, jsonContent } from '../lib/router.ts';
import {
  CHANNEL_SELECT,
  ChannelRow,
  ChannelSchema,
  LiveStreamSchema,
  STREAM_SELECT,
  StreamRow,
  toChannel,
  toLiveStream,
} from '../lib/views.ts';

const SEARCH_LIMIT = 20;

export const searchApp = createApiRouter().openapi(
  createRoute({
    method: 'get',
    path: '/',
    tags: ['search'],
    summary: 'Search channels and live streams (prefix match on every term)',
    request: { query: z.object({ q: z.string().trim().min(1).max(100) }) },
    responses: {
      200: jsonContent(
        z
          .object({ channels: z.array(ChannelSchema), streams: z.array(LiveStreamSchema) })
          .openapi('SearchResults'),
        'Matching channels and the live streams among them',
      ),
      ...describeErrors(400),
    },
  }),
  async (c) => {
    const match = buildFtsQuery(c.req.valid('query').q);
    if (match === null) return c.json({ channels: [], streams: [] }, 200);
    const db = c.env.DB;
    // Two queries, each limited after its own filter: limiting the matches first and then keeping
    // the live ones would lose a live stream whenever enough offline channels outrank it.
    const [channels, streams] = await db.batch([
      db
        .prepare(
          `${CHANNEL_SELECT}
           JOIN (SELECT channel_id, rank FROM search_index WHERE search_index MATCH ?1
                 ORDER BY rank LIMIT ${SEARCH_LIMIT}) m ON m.channel_id = c.id
           ORDER BY m.rank`,
        )
        .bind(match),
      db
        .prepare(
          `${STREAM_SELECT}
           JOIN search_index m ON m.channel_id = s.channel_id
           WHERE m.search_index MATCH ?1 AND s.status = 'live'
           ORDER BY m.rank LIMIT ${SEARCH_LIMIT}`,
        )
        .bind(match),
    ]);
    return c.json(
      {
        channels: (channels?.results ?? []).map((row) => toChannel(c, ChannelRow.parse(row))),
        streams: (streams?.results ?? []).map((row) => toLiveStream(c, StreamRow.parse(row))),
      },
      200,
    );
  },
);
