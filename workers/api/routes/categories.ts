// Categories with their live totals, busiest first, and their box art; operators (Authorization:
// Bearer ADMIN_TOKEN) create, rename, retire them and upload box art. A retired category leaves the
// listing and cannot be chosen for a stream any more, while the streams, VODs and chapters that had
// it keep showing it (their rows still join to it).
import { createRoute, z } from '@hono/zod-openapi';
import { BOX_ART_IMAGE_TYPES, MAX_BOX_ART_BYTES } from '../../../protocol/limits.ts';
import { ApiError, conflict, notFound, unauthorized, unprocessable } from '../../shared/errors.ts';
import { isBearerSecret } from '../../shared/operator-auth.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import { CategorySchema } from '../lib/views.ts';

/** Active categories at most: the listing is one unpaged answer and the pickers show them all. */
export const MAX_CATEGORIES = 500;
/** Box art never changes under its URL: a new upload gets a new one. */
const BOX_ART_CACHE = 'public, max-age=31536000, immutable';
type BoxArtType = (typeof BOX_ART_IMAGE_TYPES)[number];

const CategoryWithTotals = CategorySchema.extend({
  live_viewers: z.number().int(),
  live_streams: z.number().int(),
}).openapi('CategoryWithTotals');
const AdminCategory = CategorySchema.extend({ retired: z.boolean() }).openapi('AdminCategory');

const CATEGORY_TOTALS_SELECT = `
  SELECT cat.id, cat.slug, cat.name, cat.box_art_url,
         coalesce(sum(s.viewer_count), 0) AS live_viewers, count(s.id) AS live_streams
  FROM categories cat LEFT JOIN streams s ON s.category_id = cat.id AND s.status = 'live'`;

const CategoryRow = CategorySchema.extend({
  retired_at: z.number().nullable(),
  box_art_key: z.string().nullable(),
});

/** Letters, digits and single spaces or punctuation between them; no control or invisible characters. */
const CategoryName = z
  .string()
  .trim()
  .min(1)
  .max(50)
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} '&:.!+-]*$/u, "Letters, digits, spaces and ' & : . ! + - only");
const CategorySlug = z
  .string()
  .min(1)
  .max(60)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'Lowercase letters and digits separated by single hyphens');
const CreateBody = z
  .object({ name: CategoryName, slug: CategorySlug.optional() })
  .strict()
  .openapi('CategoryCreate');
const RenameBody = z
  .object({ name: CategoryName.optional(), slug: CategorySlug.optional() })
  .strict()
  .refine((body) => body.name !== undefined || body.slug !== undefined, 'Give a name or a slug')
  .openapi('CategoryRename');
const IdParams = z.object({
  id: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});

/** "Just Chatting" → "just-chatting". */
function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
}

function toAdminCategory(row: z.infer<typeof CategoryRow>): z.infer<typeof AdminCategory> {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    box_art_url: row.box_art_url,
    retired: row.retired_at !== null,
  };
}

async function requireOperator(header: string | undefined, secret: string | undefined): Promise<void> {
  if (!(await isBearerSecret(header, secret)))
    throw unauthorized('Operators only: Authorization: Bearer ADMIN_TOKEN');
}

async function readCategory(db: D1Database, id: number): Promise<z.infer<typeof CategoryRow>> {
  const row = await db
    .prepare('SELECT id, slug, name, box_art_url, retired_at, box_art_key FROM categories WHERE id = ?')
    .bind(id)
    .first();
  if (!row) throw notFound('Category');
  return CategoryRow.parse(row);
}

/** A name or slug another category has already (retired ones too: their streams still show them). */
async function assertUnique(
  db: D1Database,
  name: string | undefined,
  slug: string | undefined,
  id: number | null,
) {
  const clash = await db
    .prepare(
      `SELECT 1 FROM categories WHERE (name = ?1 COLLATE NOCASE OR slug = ?2) AND id IS NOT ?3 LIMIT 1`,
    )
    .bind(name ?? null, slug ?? null, id)
    .first();
  if (clash) throw conflict('A category with that name or slug exists');
}

/** The image type from its magic bytes: neither the declared type nor the file name is trusted. */
export function sniffBoxArtType(bytes: Uint8Array): BoxArtType | null {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (
    starts(0x52, 0x49, 0x46, 0x46) &&
    bytes[8] === 0x57 &&
    bytes[9] === 0x45 &&
    bytes[10] === 0x42 &&
    bytes[11] === 0x50
  )
    return 'image/webp';
  return null;
}

const unsupportedType = (message: string) => new ApiError(415, 'unsupported_media_type', message);

function getBoxArtKey(categoryId: number, token: string): string {
  return `box-art/${categoryId}/${token}`;
}

export const categoriesApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['categories'],
      summary: 'All categories in use, by live viewers',
      responses: { 200: jsonContent(z.object({ data: z.array(CategoryWithTotals) }), 'Categories') },
    }),
    async (c) => {
      const { results } = await c.env.DB.prepare(
        `${CATEGORY_TOTALS_SELECT} WHERE cat.retired_at IS NULL
         GROUP BY cat.id ORDER BY live_viewers DESC, live_streams DESC, cat.name ASC LIMIT ${MAX_CATEGORIES}`,
      ).all();
      return c.json({ data: results.map((row) => CategoryWithTotals.parse(row)) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{slug}',
      tags: ['categories'],
      summary: 'One category by slug (retired ones too: old links keep working)',
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
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/box-art/{token}',
      tags: ['categories'],
      summary: "A category's box art (immutable: a new upload has a new URL)",
      request: {
        params: z.object({
          id: z.coerce
            .number()
            .int()
            .positive()
            .max(2 ** 31),
          token: z.string().regex(/^[0-9a-f]{32}$/),
        }),
      },
      responses: { 200: { description: 'The image' }, ...describeErrors(400, 404) },
    }),
    async (c) => {
      const { id, token } = c.req.valid('param');
      const object = await c.env.MEDIA.get(getBoxArtKey(id, token));
      if (!object) throw notFound('Box art');
      const headers = new Headers({
        'Content-Type': object.httpMetadata?.contentType ?? 'application/octet-stream',
        'Content-Length': String(object.size),
        'Cache-Control': BOX_ART_CACHE,
        ETag: object.httpEtag,
        'X-Content-Type-Options': 'nosniff',
      });
      if (c.req.header('If-None-Match') === object.httpEtag) {
        await object.body.cancel();
        return new Response(null, { status: 304, headers });
      }
      return new Response(object.body, { status: 200, headers });
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/admin',
      tags: ['operators'],
      summary: 'Create a category (operators: Authorization: Bearer ADMIN_TOKEN)',
      security: BearerSecurity,
      request: { body: jsonBody(CreateBody) },
      responses: {
        201: jsonContent(AdminCategory, 'The new category'),
        ...describeErrors(400, 401, 409, 422),
      },
    }),
    async (c) => {
      await requireOperator(c.req.header('authorization'), c.env.ADMIN_TOKEN);
      const body = c.req.valid('json');
      const slug = body.slug ?? slugify(body.name);
      if (slug.length === 0) throw unprocessable('The name gives no slug; send one');
      const db = c.env.DB;
      await assertUnique(db, body.name, slug, null);
      // The count and the insert in one statement: two concurrent creates cannot pass the cap.
      const inserted = await db
        .prepare(
          `INSERT INTO categories (slug, name)
           SELECT ?1, ?2 WHERE (SELECT count(*) FROM categories WHERE retired_at IS NULL) < ?3
           RETURNING id, slug, name, box_art_url, retired_at, box_art_key`,
        )
        .bind(slug, body.name, MAX_CATEGORIES)
        .first()
        .catch((error: unknown) => {
          if (String(error).includes('UNIQUE')) throw conflict('A category with that name or slug exists');
          throw error;
        });
      if (!inserted) throw unprocessable(`At most ${MAX_CATEGORIES} categories; retire one first`);
      return c.json(toAdminCategory(CategoryRow.parse(inserted)), 201);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/admin/{id}',
      tags: ['operators'],
      summary: 'Rename a category or change its slug (operators)',
      security: BearerSecurity,
      request: { params: IdParams, body: jsonBody(RenameBody) },
      responses: { 200: jsonContent(AdminCategory, 'The category'), ...describeErrors(400, 401, 404, 409) },
    }),
    async (c) => {
      await requireOperator(c.req.header('authorization'), c.env.ADMIN_TOKEN);
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const db = c.env.DB;
      const current = await readCategory(db, id);
      await assertUnique(db, body.name, body.slug, id);
      const updated = await db
        .prepare(
          `UPDATE categories SET name = ?, slug = ? WHERE id = ?
           RETURNING id, slug, name, box_art_url, retired_at, box_art_key`,
        )
        .bind(body.name ?? current.name, body.slug ?? current.slug, id)
        .first()
        .catch((error: unknown) => {
          if (String(error).includes('UNIQUE')) throw conflict('A category with that name or slug exists');
          throw error;
        });
      if (!updated) throw notFound('Category');
      return c.json(toAdminCategory(CategoryRow.parse(updated)), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/admin/{id}/box-art',
      tags: ['operators'],
      summary: `Set a category's box art: the raw image as the body (PNG, JPEG or WebP, at most ${MAX_BOX_ART_BYTES} bytes; operators)`,
      security: BearerSecurity,
      request: { params: IdParams },
      responses: {
        200: jsonContent(AdminCategory, 'The category with its new box_art_url'),
        ...describeErrors(400, 401, 404),
        413: { description: 'The image is too large' },
        415: { description: 'Not a PNG, JPEG or WebP image, or not the type the Content-Type names' },
      },
    }),
    async (c) => {
      await requireOperator(c.req.header('authorization'), c.env.ADMIN_TOKEN);
      const { id } = c.req.valid('param');
      const declared = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!(BOX_ART_IMAGE_TYPES as readonly string[]).includes(declared))
        throw unsupportedType(`Content-Type must be one of ${BOX_ART_IMAGE_TYPES.join(', ')}`);
      const db = c.env.DB;
      const current = await readCategory(db, id);
      // The body limit middleware has refused a larger body before it was read (413).
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.byteLength > MAX_BOX_ART_BYTES)
        throw new ApiError(413, 'payload_too_large', `Box art is at most ${MAX_BOX_ART_BYTES} bytes`);
      if (bytes.byteLength === 0) throw unsupportedType('The body is empty');
      const sniffed = sniffBoxArtType(bytes);
      if (sniffed !== declared) throw unsupportedType(`The body is not a ${declared} image`);
      const token = [...crypto.getRandomValues(new Uint8Array(16))]
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('');
      const key = getBoxArtKey(id, token);
      await c.env.MEDIA.put(key, bytes, {
        httpMetadata: { contentType: sniffed, cacheControl: BOX_ART_CACHE },
      });
      const updated = CategoryRow.parse(
        await db
          .prepare(
            `UPDATE categories SET box_art_key = ?, box_art_url = ? WHERE id = ?
             RETURNING id, slug, name, box_art_url, retired_at, box_art_key`,
          )
          .bind(key, `/api/v1/categories/${id}/box-art/${token}`, id)
          .first(),
      );
      // The old image goes once nothing points at it (edge caches may keep it a while; it is immutable).
      if (current.box_art_key !== null) await c.env.MEDIA.delete(current.box_art_key);
      return c.json(toAdminCategory(updated), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/admin/{id}',
      tags: ['operators'],
      summary: 'Retire a category: off the listing and the pickers; streams that had it keep it (operators)',
      security: BearerSecurity,
      request: { params: IdParams },
      responses: {
        200: jsonContent(AdminCategory, 'The retired category'),
        ...describeErrors(400, 401, 404),
      },
    }),
    async (c) => {
      await requireOperator(c.req.header('authorization'), c.env.ADMIN_TOKEN);
      const { id } = c.req.valid('param');
      const updated = await c.env.DB.prepare(
        `UPDATE categories SET retired_at = coalesce(retired_at, ?) WHERE id = ?
         RETURNING id, slug, name, box_art_url, retired_at, box_art_key`,
      )
        .bind(Date.now(), id)
        .first();
      if (!updated) throw notFound('Category');
      return c.json(toAdminCategory(CategoryRow.parse(updated)), 200);
    },
  );
