// Categories with their live totals, busiest first.
import { createRoute, z } from '@hono/zod-openapi';
import { notFound } from '../../shared/errors.ts';
import { createApiRouter, describeErrors, jsonContent, pathParam } from '../lib/router.ts';
import { CategorySchema } from '../lib/views.ts';

const CategoryWithTotals = CategorySchema.extend({
  live_viewers: z.number().int(),
  live_streams: z.number().int(),
}).openapi('CategoryWithTotals');

const CATEGORY_TOTALS_SELECT = `
  SELECT cat.id, cat.slug, cat.name, cat.box_art_url,
         coalesce(sum(s.viewer_count), 0) AS live_viewers, count(s.id) AS live_streams
  FROM categories cat LEFT JOIN streams s ON s.category_id = cat.id AND s.status = 'live'`;

export const categoriesApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['categories'],
      summary: 'All categories, by live viewers',
      responses: { 200: jsonContent(z.object({ data: z.array(CategoryWithTotals) }), 'Categories') },
    }),
    async (c) => {
      const { results } = await c.env.DB.prepare(
        `${CATEGORY_TOTALS_SELECT} GROUP BY cat.id ORDER BY live_viewers DESC, live_streams DESC, cat.name ASC`,
      ).all();
      return c.json({ data: results.map((row) => CategoryWithTotals.parse(row)) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{slug}',
      tags: ['categories'],
      summary: 'One category by slug',
      request: {
        params: z.object({
          slug: pathParam('slug'),
        }),
      },
      responses: { 200: jsonContent(CategoryWithTotals, 'The category'), ...describeErrors(404) },
    }),
    async (c) => {
      const row = await c.env.DB.prepare(`${CATEGORY_TOTALS_SELECT} WHERE cat.slug = ? GROUP BY cat.id`)
        .bind(c.req.valid('param').slug)
        .first();
      if (!row) throw notFound('Category');
      return c.json(CategoryWithTotals.parse(row), 200);
    },
  );
