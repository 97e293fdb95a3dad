// Channels: public profile, owner edits, and the stream key (derived, never stored: see
// workers/shared/stream-keys.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { getFleetRegistry } from '../../origin/fleet.ts';
import { requireUser } from '../../shared/auth.ts';
import { forbidden, notFound, unprocessable } from '../../shared/errors.ts';
import { buildSrtUrl, deriveStreamKey, hashStreamKey } from '../../shared/stream-keys.ts';
import { revokeLivePublisher } from '../lib/live-control.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
  type RequestScope,
} from '../lib/router.ts';
import { updateStreamInfo } from '../lib/stream-info.ts';
import {
  CategoryRef,
  ChannelSchema,
  findCategory,
  findChannel,
  LanguageInput,
  TagsInput,
} from '../lib/views.ts';
import { markStreamKeyReissue } from '../middleware/idempotency.ts';

const ChannelParams = z.object({
  id: pathParam('id'),
});
const StreamKeySchema = z
  .object({
    stream_key: z.string(),
    ingest_url: z.string(),
    secure_ingest_url: z.string(),
    /**
     * The ingest fleet's second front, marked `?backup=1` (docs/deploy.md, "Dual publish"): an
     * encoder's backup server, or its second output for a dual publish.
     */
    backup_ingest_url: z.string(),
    /** WHIP endpoint (RFC 9725, docs/webrtc.md): the stream key is its bearer token. */
    whip_url: z.string(),
    /** SRT ingest (docs/srt.md): the address with the stream key as streamid and the passphrase. */
    srt_url: z.string(),
    /** Why the ingest fleet refused this channel's last publish, shown on the dashboard (docs/deploy.md). */
    ingest_notice: z.object({ code: z.string(), message: z.string(), at: z.number() }).nullable().optional(),
  })
  .openapi('StreamKey');
/**
 * Image URLs are rendered into <img src> (and CSS) by every client, so only http(s) is accepted:
 * `javascript:` and `data:` URLs would let a channel owner put script or arbitrary content there.
 */
const ImageUrl = z.url({ protocol: /^https?$/ }).max(2000);
/**
 * Control characters, and the format characters that reorder or hide text (zero-width U+200B-U+200D,
 * the bidi marks, embeddings and isolates of Unicode UAX #9 section 2, the BOM): with them a
 * display name could pass for another or flip the text shown beside it.
 */
const REFUSED_IN_NAMES = /[\p{Cc}\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/u;
const ChannelPatch = z
  .object({
    display_name: z
      .string()
      .trim()
      .min(1)
      .max(50)
      .refine(
        (name) => !REFUSED_IN_NAMES.test(name),
        'Display names may not contain control, bidirectional or zero-width characters',
      ),
    description: z.string().max(500),
    avatar_url: ImageUrl.nullable(),
    banner_url: ImageUrl.nullable(),
    title: z.string().trim().max(MAX_TITLE_LENGTH),
    category: CategoryRef.nullable(),
    language: LanguageInput,
    tags: TagsInput,
    clips_enabled: z.boolean(),
  })
  .partial()
  .strict()
  .openapi('ChannelPatch');

/** The channel's key facts, after checking that the signed-in user owns it (404, then 403). */
export async function requireOwnedChannel(
  c: RequestScope,
  channelId: string,
  userId: string,
): Promise<{ id: string; stream_key_version: number }> {
  const row = await c.env.DB.prepare('SELECT id, user_id, stream_key_version FROM channels WHERE id = ?')
    .bind(channelId)
    .first<{ id: string; user_id: string; stream_key_version: number }>();
  if (!row) throw notFound('Channel');
  if (row.user_id !== userId) throw forbidden('Only the channel owner may do that');
  return { id: row.id, stream_key_version: row.stream_key_version };
}

export const channelsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['channels'],
      summary: 'A channel by id or name',
      request: { params: ChannelParams },
      responses: { 200: jsonContent(ChannelSchema, 'The channel'), ...describeErrors(404) },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      return c.json(channel, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      tags: ['channels'],
      summary: 'Edit your channel',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(ChannelPatch) },
      responses: {
        200: jsonContent(ChannelSchema, 'The updated channel'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = await requireOwnedChannel(c, c.req.valid('param').id, c.var.user.id);
      const patch = c.req.valid('json');
      const profile: [string, string | number | null][] = [];
      if (patch.display_name !== undefined) profile.push(['display_name', patch.display_name]);
      if (patch.description !== undefined) profile.push(['description', patch.description]);
      if (patch.avatar_url !== undefined) profile.push(['avatar_url', patch.avatar_url]);
      if (patch.banner_url !== undefined) profile.push(['banner_url', patch.banner_url]);
      if (patch.clips_enabled !== undefined) profile.push(['clips_enabled', patch.clips_enabled ? 1 : 0]);
      let categoryId: number | null | undefined;
      if (patch.category !== undefined) {
        const category = patch.category === null ? null : await findCategory(c.env.DB, patch.category);
        if (patch.category !== null && !category) throw unprocessable(`Unknown category: ${patch.category}`);
        categoryId = category?.id ?? null;
      }
      const db = c.env.DB;
      // Column names come from the fixed list above, never from the request.
      const alongside =
        profile.length === 0
          ? []
          : [
              db
                .prepare(
                  `UPDATE channels SET ${profile.map(([column]) => `${column} = ?`).join(', ')} WHERE id = ?`,
                )
                .bind(...profile.map(([, value]) => value), id),
            ];
      // Title, category, tags and language are the stream info: a live stream takes them at once.
      await updateStreamInfo(
        c.env,
        id,
        { title: patch.title, category_id: categoryId, tags: patch.tags, language: patch.language },
        alongside,
      );
      const channel = await findChannel(c, id);
      if (!channel) throw notFound('Channel');
      return c.json(channel, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/stream-key',
      tags: ['channels'],
      summary: 'Your stream key and where to publish',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(StreamKeySchema, 'The stream key'), ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const channel = await requireOwnedChannel(c, c.req.valid('param').id, c.var.user.id);
      const streamKey = await deriveStreamKey(
        c.env.STREAM_KEY_SECRET,
        channel.id,
        channel.stream_key_version,
      );
      return c.json(
        {
          stream_key: streamKey,
          ingest_url: c.env.RTMP_INGEST_URL,
          secure_ingest_url: c.env.RTMPS_INGEST_URL,
          backup_ingest_url: c.env.BACKUP_RTMP_INGEST_URL,
          whip_url: c.env.WHIP_INGEST_URL,
          srt_url: await buildSrtUrl(c.env.SRT_INGEST_URL, c.env.STREAM_KEY_SECRET, streamKey),
          ingest_notice: await getFleetRegistry(c.env).lastRefusal(channel.id),
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/stream-key/reset',
      tags: ['channels'],
      summary: 'Replace your stream key; the old one stops working at once',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: {
        200: jsonContent(StreamKeySchema, 'The new stream key'),
        ...describeErrors(401, 403, 404),
      },
    }),
    async (c) => {
      const channel = await requireOwnedChannel(c, c.req.valid('param').id, c.var.user.id);
      const version = channel.stream_key_version + 1;
      const streamKey = await deriveStreamKey(c.env.STREAM_KEY_SECRET, channel.id, version);
      await c.env.DB.prepare('UPDATE channels SET stream_key_version = ?, stream_key_hash = ? WHERE id = ?')
        .bind(version, await hashStreamKey(streamKey), channel.id)
        .run();
      // A leaked key is the usual reason for a reset, so whoever is publishing with it is cut off too.
      await revokeLivePublisher(c.env, channel.id);
      markStreamKeyReissue(c, channel.id);
      return c.json(
        {
          stream_key: streamKey,
          ingest_url: c.env.RTMP_INGEST_URL,
          secure_ingest_url: c.env.RTMPS_INGEST_URL,
          backup_ingest_url: c.env.BACKUP_RTMP_INGEST_URL,
          whip_url: c.env.WHIP_INGEST_URL,
          srt_url: await buildSrtUrl(c.env.SRT_INGEST_URL, c.env.STREAM_KEY_SECRET, streamKey),
        },
        200,
      );
    },
  );
