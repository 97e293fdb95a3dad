// A VOD's chapters: the categories its stream had, placed on the VOD's own clock. The rows are
// wall-clock moments (stream_chapters, written when a live stream's category changes); the VOD's
// runs map them to positions the same way chat replay does, so a chapter that began during a
// reconnect gap starts with the run after it. The first chapter always starts at 0: it is what the
// stream went live with, whatever the first sample's time.
import { z } from '@hono/zod-openapi';
import { mapWallClockToPosition, type VodRun } from '../../media/hls/vod-playlist.ts';
import { MAX_CHAPTERS_PER_STREAM } from '../api/lib/stream-info.ts';
import { type Category, CategorySchema } from '../api/lib/views.ts';

export const ChapterSchema = z
  .object({
    start_seconds: z.number(),
    duration_seconds: z.number(),
    category: CategorySchema.nullable(),
  })
  .openapi('VodChapter');
export type Chapter = z.infer<typeof ChapterSchema>;

const ChapterRow = z.object({
  at: z.number(),
  category_id: z.number().nullable(),
  slug: z.string().nullable(),
  name: z.string().nullable(),
  box_art_url: z.string().nullable(),
});

export async function readVodChapters(
  db: D1Database,
  streamId: string,
  runs: readonly VodRun[],
  durationSeconds: number,
): Promise<Chapter[]> {
  const { results } = await db
    .prepare(
      `SELECT sc.at, sc.category_id, c.slug, c.name, c.box_art_url FROM stream_chapters sc
       LEFT JOIN categories c ON c.id = sc.category_id
       WHERE sc.stream_id = ? ORDER BY sc.at LIMIT ?`,
    )
    .bind(streamId, MAX_CHAPTERS_PER_STREAM + 1)
    .all();
  const placed: { start: number; category: Category | null }[] = [];
  for (const [index, raw] of results.entries()) {
    const row = ChapterRow.parse(raw);
    const start = index === 0 ? 0 : Number(mapWallClockToPosition(runs, row.at).toFixed(3));
    if (start >= durationSeconds) break;
    const category =
      row.category_id === null || row.slug === null || row.name === null
        ? null
        : { id: row.category_id, slug: row.slug, name: row.name, box_art_url: row.box_art_url };
    const previous = placed.at(-1);
    // Two changes at one position (in one reconnect gap): the later category is the one shown.
    if (previous && previous.start === start) placed.pop();
    // A change back to the category already shown continues that chapter.
    if (placed.at(-1)?.category?.id === category?.id && placed.length > 0) continue;
    placed.push({ start, category });
  }
  return placed.map((chapter, i) => ({
    start_seconds: chapter.start,
    duration_seconds: Number(((placed[i + 1]?.start ?? durationSeconds) - chapter.start).toFixed(3)),
    category: chapter.category,
  }));
}
