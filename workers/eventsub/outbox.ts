// The EventSub outbox (migrations/0019): platform events that report a money effect (a paid
// month, a gift, an ended subscription, a cheer, a shared resub) are written in the same D1 batch
// as the effect, then sent to the stream-events queue, whose consumer hands them to EventSub
// (workers/eventsub/dispatch.ts). Written with the effect, an event cannot be lost between a commit
// and a send: the writer sends right after its commit, and the cron sends what a failed send or a
// crash left behind. Delivery is therefore at least once; each event's id is derived from the fact
// it reports, so a second write is ignored and a second send is the same event to the consumer
// (processed_events) and the same message id to EventSub clients.
import { z } from 'zod';
import { log } from '../../common/log.ts';
import {
  createEvent,
  type EventPayload,
  PlatformEvent,
  type PlatformEventType,
} from '../../protocol/events.ts';

const outboxLog = log.child({ component: 'eventsub_outbox' });

/** Events one flush sends; the queue's sendBatch takes at most 100 messages. */
export const OUTBOX_FLUSH_LIMIT = 100;
/** The cron sends rows older than this: younger ones are still their writer's to send. */
export const OUTBOX_CRON_AGE_MS = 60_000;

/** A UUID (version 8, RFC 9562 "custom") from SHA-256 of `name`: the same fact, the same event id. */
export async function deriveEventId(name: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(name)));
  const bytes = digest.slice(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** What a writer hands to its batch: the statement and the event's id, to send after the commit. */
export interface OutboxWrite {
  id: string;
  statement: D1PreparedStatement;
}

/**
 * The outbox row for one event, written only when `guard` holds inside the batch (e.g. the month
 * row carries this batch's nonce), and once per fact (`factKey`).
 */
export async function prepareOutboxEvent<T extends PlatformEventType>(
  db: D1Database,
  type: T,
  payload: EventPayload<T>,
  factKey: string,
  now: number,
  guard: { sql: string; bindings: unknown[] } = { sql: '1', bindings: [] },
): Promise<OutboxWrite> {
  const id = await deriveEventId(`${type}\u0000${factKey}`);
  const event = createEvent(type, payload, now, id);
  const statement = db
    .prepare(
      `INSERT OR IGNORE INTO eventsub_outbox (id, payload, created_at) SELECT ?, ?, ? WHERE ${guard.sql}`,
    )
    .bind(id, JSON.stringify(event), now, ...guard.bindings);
  return { id, statement };
}

const OutboxRow = z.object({ id: z.string(), payload: z.string() });

/**
 * Sends outbox rows to the stream-events queue and deletes them: `ids` (a writer's own, after its
 * commit) or, without ids, the rows older than `olderThan` (the cron). A row that does not parse
 * is logged and deleted: no retry can fix it. Returns the number sent.
 */
export async function flushOutbox(
  env: Pick<Env, 'DB' | 'STREAM_EVENTS'>,
  select: { ids: string[] } | { olderThan: number },
): Promise<number> {
  const db = env.DB;
  let rows: z.infer<typeof OutboxRow>[];
  if ('ids' in select) {
    if (select.ids.length === 0) return 0;
    const ids = select.ids.slice(0, OUTBOX_FLUSH_LIMIT);
    const { results } = await db
      .prepare(`SELECT id, payload FROM eventsub_outbox WHERE id IN (${ids.map(() => '?').join(', ')})`)
      .bind(...ids)
      .all();
    rows = results.map((row) => OutboxRow.parse(row));
  } else {
    const { results } = await db
      .prepare('SELECT id, payload FROM eventsub_outbox WHERE created_at < ? ORDER BY created_at LIMIT ?')
      .bind(select.olderThan, OUTBOX_FLUSH_LIMIT)
      .all();
    rows = results.map((row) => OutboxRow.parse(row));
  }
  if (rows.length === 0) return 0;
  const events: PlatformEvent[] = [];
  for (const row of rows) {
    let json: unknown = null;
    try {
      json = JSON.parse(row.payload);
    } catch {
      // kept null: refused below
    }
    const parsed = PlatformEvent.safeParse(json);
    if (parsed.success) events.push(parsed.data);
    else outboxLog.error('outbox_row_unparseable', { event_id: row.id });
  }
  if (events.length > 0) {
    await env.STREAM_EVENTS.sendBatch(events.map((body) => ({ body, contentType: 'json' as const })));
  }
  const ids = rows.map((row) => row.id);
  await db
    .prepare(`DELETE FROM eventsub_outbox WHERE id IN (${ids.map(() => '?').join(', ')})`)
    .bind(...ids)
    .run();
  return events.length;
}

/** After a commit: sends the writer's rows now; a failure is logged and left to the cron. */
export async function flushOutboxAfterCommit(
  env: Pick<Env, 'DB' | 'STREAM_EVENTS'>,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  try {
    await flushOutbox(env, { ids });
  } catch (error) {
    outboxLog.warn('outbox_flush_failed', { event_ids: ids, error });
  }
}
