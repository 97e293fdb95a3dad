// Where a cron sweep left off (the retention_cursors table): the live-parts sweep and the stream
// reconciliation each keep one JSON position, read back through the sweep's own schema. A position
// that no longer parses (an older shape) starts the sweep over from `start`, which is always safe.
import { z } from 'zod';

const CursorRow = z.object({ cursor: z.string() });

export async function readSweepCursor<T>(
  db: D1Database,
  name: string,
  schema: z.ZodType<T>,
  start: T,
): Promise<T> {
  const row = await db.prepare('SELECT cursor FROM retention_cursors WHERE name = ?').bind(name).first();
  if (!row) return start;
  let json: unknown;
  try {
    json = JSON.parse(CursorRow.parse(row).cursor);
  } catch {
    return start;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : start;
}

export async function saveSweepCursor(
  db: D1Database,
  name: string,
  cursor: unknown,
  now: number,
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO retention_cursors (name, cursor, updated_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (name) DO UPDATE SET cursor = ?2, updated_at = ?3`,
    )
    .bind(name, JSON.stringify(cursor), now)
    .run();
}
