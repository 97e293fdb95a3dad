// Emotes: global ones (channel_id NULL) and each channel's own, images in R2 under `emotes/{id}`.
// Chat parses them (durable-objects/chat/emotes.ts); subscriber-only channel emotes render only
// for the channel's subscribers.
import { createRoute, z } from '@hono/zod-openapi';
import { EMOTE_IMAGE_TYPES, EMOTE_NAME_PATTERN, MAX_EMOTE_BYTES } from '../../../protocol/limits.ts';
import { requireUser } from '../../shared/auth.ts';
import { ApiError, badRequest, conflict, forbidden, notFound, unprocessable } from '../../shared/errors.ts';
import { BearerSecurity, createApiRouter, describeErrors, jsonContent, pathParam } from '../lib/router.ts';

const EMOTE_NAME = new RegExp(`^${EMOTE_NAME_PATTERN}$`);
const IMAGE_TYPES = EMOTE_IMAGE_TYPES;
type ImageType = (typeof IMAGE_TYPES)[number];

const ChannelParams = z.object({
  id: pathParam('id'),
});
const EmoteParams = z.object({
  emote_id: pathParam('emote_id'),
});
const ChannelEmoteParams = ChannelParams.extend({
  emote_id: pathParam('emote_id'),
});

const EmoteSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    channel_id: z.string().nullable(),
    subscriber_only: z.boolean(),
    url: z.string(),
  })
  .openapi('Emote');

/** JSON upload: the image as base64. Multipart uploads carry the same fields with `image` as a file. */
const JsonEmoteUpload = z.object({
  name: z.string().regex(EMOTE_NAME),
  image_base64: z.string().min(1),
  content_type: z.enum(IMAGE_TYPES).optional(),
  subscriber_only: z.boolean().default(false),
});

interface EmoteRow {
  id: string;
  name: string;
  channel_id: string | null;
  subscriber_only: number;
}

function toEmote(row: EmoteRow): z.infer<typeof EmoteSchema> {
  return {
    id: row.id,
    name: row.name,
    channel_id: row.channel_id,
    subscriber_only: row.subscriber_only !== 0,
    url: `/api/v1/emotes/${row.id}/image`,
  };
}

/** The image type from its magic bytes: the declared type is not trusted. */
function sniffImageType(bytes: Uint8Array): ImageType | null {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (
    starts(0x52, 0x49, 0x46, 0x46) &&
    bytes[8] === 0x57 &&
    bytes[9] === 0x45 &&
    bytes[10] === 0x42 &&
    bytes[11] === 0x50
  ) {
    return 'image/webp';
  }
  return null;
}

function decodeBase64(text: string): Uint8Array {
  try {
    const binary = atob(text);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    throw badRequest('image_base64 is not base64');
  }
}

interface EmoteUpload {
  name: string;
  subscriberOnly: boolean;
  image: Uint8Array;
}

/** Reads a multipart form or a JSON body into one shape, validated with zod either way. */
async function readUpload(request: Request): Promise<EmoteUpload> {
  const type = request.headers.get('Content-Type') ?? '';
  if (type.startsWith('multipart/form-data')) {
    let form: FormData;
    try {
      form = await request.formData();
    } catch {
      // A missing or wrong boundary, or a truncated body: the client's mistake, never a 500.
      throw badRequest('Malformed multipart/form-data body');
    }
    const fields = z
      .object({
        name: z.string().regex(EMOTE_NAME),
        subscriber_only: z.enum(['true', 'false']).default('false'),
      })
      .safeParse({
        name: form.get('name') ?? undefined,
        subscriber_only: form.get('subscriber_only') ?? undefined,
      });
    if (!fields.success)
      throw new ApiError(400, 'validation_failed', 'Request validation failed', {
        details: fields.error.issues,
      });
    const image = form.get('image');
    if (!(image instanceof File)) throw badRequest('image must be a file');
    if (image.size > MAX_EMOTE_BYTES)
      throw new ApiError(413, 'payload_too_large', `Emote images are at most ${MAX_EMOTE_BYTES} bytes`);
    return {
      name: fields.data.name,
      subscriberOnly: fields.data.subscriber_only === 'true',
      image: new Uint8Array(await image.arrayBuffer()),
    };
  }
  let json: unknown;
  try {
    json = await request.json();
  } catch {
    throw badRequest('Malformed JSON');
  }
  const body = JsonEmoteUpload.safeParse(json);
  if (!body.success)
    throw new ApiError(400, 'validation_failed', 'Request validation failed', { details: body.error.issues });
  return {
    name: body.data.name,
    subscriberOnly: body.data.subscriber_only,
    image: decodeBase64(body.data.image_base64),
  };
}

async function requireChannelOwner(db: D1Database, channelId: string, userId: string): Promise<void> {
  const row = await db
    .prepare('SELECT user_id FROM channels WHERE id = ?')
    .bind(channelId)
    .first<{ user_id: string }>();
  if (!row) throw notFound('Channel');
  if (row.user_id !== userId) throw forbidden('Only the channel owner manages its emotes');
}

export const emotesApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/emotes/global',
      tags: ['emotes'],
      summary: 'Global emotes',
      responses: { 200: jsonContent(z.object({ emotes: z.array(EmoteSchema) }), 'Emotes') },
    }),
    async (c) => {
      const { results } = await c.env.DB.prepare(
        'SELECT id, name, channel_id, subscriber_only FROM emotes WHERE channel_id IS NULL ORDER BY name',
      ).all<EmoteRow>();
      return c.json({ emotes: results.map(toEmote) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/emotes/{emote_id}/image',
      tags: ['emotes'],
      summary: 'An emote image',
      request: { params: EmoteParams },
      responses: { 200: { description: 'The image (PNG, GIF or WebP)' }, ...describeErrors(404) },
    }),
    async (c) => {
      const { emote_id } = c.req.valid('param');
      const object = await c.env.MEDIA.get(`emotes/${emote_id}`);
      if (!object) throw notFound('Emote');
      return c.body(object.body, 200, {
        'Content-Type': object.httpMetadata?.contentType ?? 'application/octet-stream',
        // An emote id is never reused for another image.
        'Cache-Control': 'public, max-age=31536000, immutable',
      });
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/emotes',
      tags: ['emotes'],
      summary: "A channel's own emotes",
      request: { params: ChannelParams },
      responses: {
        200: jsonContent(z.object({ emotes: z.array(EmoteSchema) }), 'Emotes'),
        ...describeErrors(404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const channel = await c.env.DB.prepare('SELECT id FROM channels WHERE id = ?').bind(id).first();
      if (!channel) throw notFound('Channel');
      const { results } = await c.env.DB.prepare(
        'SELECT id, name, channel_id, subscriber_only FROM emotes WHERE channel_id = ? ORDER BY name',
      )
        .bind(id)
        .all<EmoteRow>();
      return c.json({ emotes: results.map(toEmote) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/emotes',
      tags: ['emotes'],
      summary: 'Upload a channel emote (owner): multipart (name, image, subscriber_only) or JSON with base64',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: {
        201: jsonContent(EmoteSchema, 'Created'),
        ...describeErrors(400, 401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await requireChannelOwner(c.env.DB, id, c.var.user.id);
      const upload = await readUpload(c.req.raw);
      if (upload.image.byteLength > MAX_EMOTE_BYTES) {
        throw new ApiError(413, 'payload_too_large', `Emote images are at most ${MAX_EMOTE_BYTES} bytes`);
      }
      const contentType = sniffImageType(upload.image);
      if (!contentType) throw unprocessable('Emote images are PNG, GIF or WebP');
      const existing = await c.env.DB.prepare('SELECT id FROM emotes WHERE channel_id = ? AND name = ?')
        .bind(id, upload.name)
        .first();
      if (existing) throw conflict(`The channel already has an emote named ${upload.name}`);
      const emoteId = crypto.randomUUID();
      await c.env.MEDIA.put(`emotes/${emoteId}`, upload.image, { httpMetadata: { contentType } });
      // Two uploads of one name can both pass the check above; the unique index picks one. The
      // loser removes its image, so no object is left without a row, and answers 409.
      const inserted = await c.env.DB.prepare(
        `INSERT INTO emotes (id, channel_id, name, image_key, subscriber_only, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      )
        .bind(emoteId, id, upload.name, `emotes/${emoteId}`, upload.subscriberOnly ? 1 : 0, Date.now())
        .run()
        .catch(async (error: unknown) => {
          await c.env.MEDIA.delete(`emotes/${emoteId}`);
          throw error;
        });
      if (inserted.meta.changes === 0) {
        await c.env.MEDIA.delete(`emotes/${emoteId}`);
        throw conflict(`The channel already has an emote named ${upload.name}`);
      }
      await c.env.CHAT_ROOM.getByName(id).invalidateEmotes();
      const row: EmoteRow = {
        id: emoteId,
        name: upload.name,
        channel_id: id,
        subscriber_only: upload.subscriberOnly ? 1 : 0,
      };
      return c.json(toEmote(row), 201);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}/emotes/{emote_id}',
      tags: ['emotes'],
      summary: 'Delete a channel emote (owner)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelEmoteParams },
      responses: { 204: { description: 'Deleted' }, ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const { id, emote_id } = c.req.valid('param');
      await requireChannelOwner(c.env.DB, id, c.var.user.id);
      const result = await c.env.DB.prepare('DELETE FROM emotes WHERE id = ? AND channel_id = ?')
        .bind(emote_id, id)
        .run();
      if (result.meta.changes === 0) throw notFound('Emote');
      await c.env.MEDIA.delete(`emotes/${emote_id}`);
      await c.env.CHAT_ROOM.getByName(id).invalidateEmotes();
      return c.body(null, 204);
    },
  );

export type EmotesApp = typeof emotesApp;
