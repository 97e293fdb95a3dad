// How the API shows a clip: the row it reads (with its channel and stream), the public shape, and
// the lookup every clip route starts from.
import { z } from '@hono/zod-openapi';
import { getClipPath, getClipThumbnailPath } from '../../../media/vod-keys.ts';
import { notFound } from '../../shared/errors.ts';
import { type RequestScope, readRequestOrigin } from './router.ts';

export const ClipSchema = z
  .object({
    id: z.string(),
    stream_id: z.string(),
    vod_id: z.string().nullable(),
    channel: z.object({ id: z.string(), name: z.string(), display_name: z.string() }),
    creator_id: z.string(),
    title: z.string(),
    duration_seconds: z.number(),
    offset_seconds: z.number(),
    status: z.enum(['processing', 'ready', 'failed']),
    failure_reason: z.string().nullable(),
    url: z.string(),
    thumbnail_url: z.string().nullable(),
    view_count: z.number().int(),
    created_at: z.string(),
    ready_at: z.string().nullable(),
  })
  .openapi('Clip');

export const ClipRow = z.object({
  id: z.string(),
  stream_id: z.string(),
  vod_id: z.string().nullable(),
  channel_id: z.string(),
  channel_name: z.string(),
  channel_display_name: z.string(),
  creator_id: z.string(),
  title: z.string(),
  duration_seconds: z.number(),
  offset_seconds: z.number(),
  status: z.enum(['processing', 'ready', 'failed']),
  failure_reason: z.string().nullable(),
  thumbnail_url: z.string().nullable(),
  view_count: z.number().int(),
  created_at: z.number(),
  ready_at: z.number().nullable(),
});
export type ClipRow = z.infer<typeof ClipRow>;

export const CLIP_SELECT = `
  SELECT cl.id, cl.stream_id, cl.vod_id, cl.channel_id, ch.name AS channel_name,
         ch.display_name AS channel_display_name, cl.creator_id, cl.title, cl.duration_seconds,
         cl.offset_seconds, cl.status, cl.failure_reason, s.thumbnail_url, cl.view_count,
         cl.created_at, cl.ready_at
  FROM clips cl JOIN channels ch ON ch.id = cl.channel_id JOIN streams s ON s.id = cl.stream_id`;

/**
 * A ready clip shows its own copy of the stream's thumbnail (the clip job made it; clips outlive
 * the VOD and its media); one still processing shows the stream's. Null when the stream had none.
 */
function readClipThumbnail(origin: string, row: ClipRow): string | null {
  if (row.thumbnail_url === null) return null;
  return `${origin}${row.status === 'ready' ? getClipThumbnailPath(row.id) : row.thumbnail_url}`;
}

export function toClip(c: RequestScope, row: ClipRow): z.infer<typeof ClipSchema> {
  const origin = readRequestOrigin(c);
  return {
    id: row.id,
    stream_id: row.stream_id,
    vod_id: row.vod_id,
    channel: { id: row.channel_id, name: row.channel_name, display_name: row.channel_display_name },
    creator_id: row.creator_id,
    title: row.title,
    duration_seconds: row.duration_seconds,
    offset_seconds: row.offset_seconds,
    status: row.status,
    failure_reason: row.failure_reason,
    url: `${origin}${getClipPath(row.id)}`,
    thumbnail_url: readClipThumbnail(origin, row),
    view_count: row.view_count,
    created_at: new Date(row.created_at).toISOString(),
    ready_at: row.ready_at === null ? null : new Date(row.ready_at).toISOString(),
  };
}

export async function requireClip(
  db: D1Database,
  c: RequestScope,
  id: string,
): Promise<z.infer<typeof ClipSchema>> {
  const found = await db.prepare(`${CLIP_SELECT} WHERE cl.id = ?`).bind(id).first();
  if (!found) throw notFound('Clip');
  return toClip(c, ClipRow.parse(found));
}
