// The D1 side of a stream's life, as the LiveStream object drives it: the `streams` row created
// (or a pending one from POST /streams/start taken over), announced live with `stream.started`,
// ended with `stream.ended`, and stale rows settled for the cron's reconciliation. Each step is
// safe to repeat, so the object can retry it until it holds. Takes the two bindings it needs, not
// the object.
import { z } from 'zod';
import { log } from '../../common/log.ts';
import { createEvent } from '../../protocol/events.ts';
import type { BeginPublishInput, SettleOutcome, StreamRecord } from './types.ts';

export type StreamRowEnv = Pick<Env, 'DB' | 'STREAM_EVENTS'>;

const PendingRow = z.object({ id: z.string() });
const StreamState = z.object({
  channel_id: z.string(),
  status: z.string(),
  started_at: z.number().nullable(),
  created_at: z.number(),
});

function computeDurationSeconds(startedAt: number | null, endedAt: number): number {
  return startedAt === null ? 0 : Math.max(0, Math.round((endedAt - startedAt) / 1000));
}

/** The channel's newest pending row (POST /streams/start), else a new pending row with its defaults. */
export async function claimStreamRow(
  env: StreamRowEnv,
  input: BeginPublishInput,
  now: number,
): Promise<string> {
  const pending = await env.DB.prepare(
    `SELECT id FROM streams WHERE channel_id = ? AND status = 'pending' ORDER BY created_at DESC LIMIT 1`,
  )
    .bind(input.channelId)
    .first();
  if (pending) return PendingRow.parse(pending).id;
  const streamId = crypto.randomUUID();
  const { title, category_id, language, tags } = input.defaults;
  await env.DB.prepare(
    `INSERT INTO streams (id, channel_id, title, category_id, language, tags, status, created_at)
     VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`,
  )
    .bind(streamId, input.channelId, title, category_id, language, JSON.stringify(tags), now)
    .run();
  return streamId;
}

/**
 * The row goes live and `stream.started` is queued (notifications are unique per stream). The part
 * that triggered it is already listed, so a failure does not fail its upload: it is logged, false
 * is returned, and the next part tries again.
 */
export async function announceLive(
  env: StreamRowEnv,
  record: StreamRecord,
  startedAt: number,
  renditionsJson: string,
): Promise<boolean> {
  try {
    await sendStarted(env, record, startedAt, renditionsJson);
    return true;
  } catch (error) {
    log.error('stream_announce_failed', {
      class: 'LiveStream',
      channel_id: record.channelId,
      stream_id: record.streamId,
      trace_id: record.traceId ?? undefined,
      error,
    });
    return false;
  }
}

async function sendStarted(
  env: StreamRowEnv,
  record: StreamRecord,
  startedAt: number,
  renditionsJson: string,
): Promise<void> {
  await env.DB.prepare(
    `UPDATE streams SET status = 'live', started_at = ?, renditions = ? WHERE id = ? AND status <> 'ended'`,
  )
    .bind(startedAt, renditionsJson, record.streamId)
    .run();
  const event = createEvent(
    'stream.started',
    { stream_id: record.streamId, channel_id: record.channelId, trace_id: record.traceId ?? undefined },
    startedAt,
  );
  await env.STREAM_EVENTS.send(event, { contentType: 'json' });
}

export async function updateRenditions(
  env: StreamRowEnv,
  streamId: string,
  renditionsJson: string,
): Promise<void> {
  await env.DB.prepare('UPDATE streams SET renditions = ? WHERE id = ?').bind(renditionsJson, streamId).run();
}

export async function setThumbnailUrl(env: StreamRowEnv, streamId: string, url: string): Promise<void> {
  await env.DB.prepare('UPDATE streams SET thumbnail_url = ? WHERE id = ?').bind(url, streamId).run();
}

/** Ends the row and queues `stream.ended` (only for a stream that went live); throws on failure. */
export async function endStreamRow(env: StreamRowEnv, record: StreamRecord, endedAt: number): Promise<void> {
  const durationSeconds = computeDurationSeconds(record.startedAt, endedAt);
  await env.DB.prepare(`UPDATE streams SET status = 'ended', ended_at = ?, duration_seconds = ? WHERE id = ?`)
    .bind(endedAt, durationSeconds, record.streamId)
    .run();
  // A publish that never sent media never went live, so there is nothing to announce as ended.
  if (record.startedAt === null) return;
  const event = createEvent(
    'stream.ended',
    {
      stream_id: record.streamId,
      channel_id: record.channelId,
      duration_seconds: durationSeconds,
      trace_id: record.traceId ?? undefined,
    },
    endedAt,
  );
  await env.STREAM_EVENTS.send(event, { contentType: 'json' });
}

/**
 * Ends a D1 row that still says live or pending; queues `stream.ended` when it had gone live, so
 * its VOD is made (finalizing is idempotent per stream). True when the row changed.
 */
export async function settleStaleRow(
  env: StreamRowEnv,
  row: { streamId: string; channelId: string; startedAt: number | null; endedAt: number },
): Promise<boolean> {
  const durationSeconds = computeDurationSeconds(row.startedAt, row.endedAt);
  const result = await env.DB.prepare(
    `UPDATE streams SET status = 'ended', ended_at = ?, duration_seconds = ? WHERE id = ? AND status <> 'ended'`,
  )
    .bind(row.endedAt, durationSeconds, row.streamId)
    .run();
  if (result.meta.changes === 0) return false;
  log.warn('stale_stream_row_settled', {
    class: 'LiveStream',
    channel_id: row.channelId,
    stream_id: row.streamId,
  });
  if (row.startedAt !== null) {
    const event = createEvent(
      'stream.ended',
      { stream_id: row.streamId, channel_id: row.channelId, duration_seconds: durationSeconds },
      row.endedAt,
    );
    await env.STREAM_EVENTS.send(event, { contentType: 'json' });
  }
  return true;
}

/**
 * Settles a D1 row the object no longer holds (it has moved on to a newer stream, or never had it):
 * ended, unless it is a pending row newer than `staleBefore` (POST /streams/start, then OBS).
 */
export async function settleUnheldRow(
  env: StreamRowEnv,
  streamId: string,
  staleBefore: number,
  now: number,
): Promise<SettleOutcome> {
  const found = await env.DB.prepare(
    'SELECT channel_id, status, started_at, created_at FROM streams WHERE id = ?',
  )
    .bind(streamId)
    .first();
  const row = found ? StreamState.parse(found) : null;
  if (!row || row.status === 'ended') return 'unchanged';
  if (row.status === 'pending' && row.created_at >= staleBefore) return 'active';
  const changed = await settleStaleRow(env, {
    streamId,
    channelId: row.channel_id,
    startedAt: row.started_at,
    endedAt: now,
  });
  return changed ? 'settled' : 'unchanged';
}
