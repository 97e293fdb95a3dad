// The reconciliation the live path promises: a D1 stream row that still says live or pending
// while its channel's LiveStream object has ended it, or has moved past it, is settled here. The
// object ends streams itself (and retries until D1 and the queue have it), so this only catches
// what slipped through: retries exhausted, an object lost mid-end, a pending row nobody used.
import { z } from 'zod';
import type { SettleOutcome } from '../../durable-objects/live-stream/types.ts';
import { readSweepCursor, saveSweepCursor } from '../vod/sweep-cursors.ts';

/** Rows looked at per cron run: one LiveStream call each. */
export const STREAMS_PER_RECONCILE = 25;
/** A pending row this old that no publisher has taken is abandoned (POST /streams/start, no OBS). */
export const PENDING_STREAM_TTL_MS = 6 * 60 * 60 * 1000;
export const RECONCILE_CURSOR = 'stream-reconcile';

const LiveRow = z.object({ id: z.string(), channel_id: z.string(), created_at: z.number() });
const Cursor = z.object({ created_at: z.number(), id: z.string() });
type Cursor = z.infer<typeof Cursor>;
const START: Cursor = { created_at: 0, id: '' };

/**
 * Asks the LiveStream object of each live or pending row, STREAMS_PER_RECONCILE a run, in
 * (created_at, id) order from a saved cursor that wraps around: streams that really are live stay
 * live and do not starve the rows behind them. Returns what happened to each row looked at.
 */
export async function reconcileStreams(env: Env, now: number): Promise<Map<string, SettleOutcome>> {
  const db = env.DB;
  const cursor = await readSweepCursor(db, RECONCILE_CURSOR, Cursor, START);
  const { results: found } = await db
    .prepare(
      `SELECT id, channel_id, created_at FROM streams
       WHERE status IN ('live', 'pending') AND (created_at > ?1 OR (created_at = ?1 AND id > ?2))
       ORDER BY created_at, id LIMIT ?3`,
    )
    .bind(cursor.created_at, cursor.id, STREAMS_PER_RECONCILE)
    .all();
  const results = found.map((row) => LiveRow.parse(row));
  const outcomes = new Map<string, SettleOutcome>();
  for (const row of results) {
    const outcome = await env.LIVE_STREAM.getByName(row.channel_id).settleStream(
      row.id,
      now - PENDING_STREAM_TTL_MS,
    );
    outcomes.set(row.id, outcome);
  }
  const last = results.at(-1);
  const next =
    results.length < STREAMS_PER_RECONCILE || !last ? START : { created_at: last.created_at, id: last.id };
  await saveSweepCursor(db, RECONCILE_CURSOR, next, now);
  return outcomes;
}
