// "Went live" notifications for a channel's followers, in bounded pieces. A channel may have more
// followers than one D1 statement, one batch or one queue invocation should write (D1 bounds a
// statement's run time and the queries of one invocation), so the fan-out walks the followers in
// pages ordered by user id: each statement inserts at most FANOUT_PAGE_ROWS rows, each queue
// message at most FANOUT_PAGES_PER_MESSAGE pages, and while followers remain it queues a
// continuation (the same stream.started event again, under a new id). notification_fanouts holds
// how far a stream's fan-out has got, so a continuation resumes there; UNIQUE (user_id, kind,
// stream_id) makes every follower's notification once, whatever is delivered twice.
import { createEvent, type EventOf } from '../../protocol/events.ts';
import { publishEvent } from '../shared/events.ts';

export const FANOUT_PAGE_ROWS = 500;
/** A queue batch holds up to 50 messages; 2 pages each keeps an invocation far below D1's query cap. */
export const FANOUT_PAGES_PER_MESSAGE = 2;

function prepareNotificationPage(
  db: D1Database,
  event: EventOf<'stream.started'>,
  afterUserId: string,
  lastUserId: string,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO notifications (id, user_id, kind, channel_id, stream_id, message, created_at)
       SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
                || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-'
                || hex(randomblob(6))),
              f.user_id, 'stream.live', c.id, ?2,
              c.display_name || ' went live' || CASE WHEN s.title <> '' THEN ': ' || s.title ELSE '' END, ?3
       FROM follows f JOIN channels c ON c.id = f.channel_id LEFT JOIN streams s ON s.id = ?2
       WHERE f.channel_id = ?1 AND f.user_id > ?4 AND f.user_id <= ?5 AND f.notifications = 1
       ON CONFLICT (user_id, kind, stream_id) DO NOTHING`,
    )
    .bind(event.channel_id, event.stream_id, event.occurred_at, afterUserId, lastUserId);
}

/**
 * The statements of this message's share of the fan-out (run with its dedupe record), queueing a
 * continuation first when followers remain beyond it.
 */
export async function prepareFollowerNotifications(
  env: Env,
  event: EventOf<'stream.started'>,
): Promise<D1PreparedStatement[]> {
  const db = env.DB;
  const progress = await db
    .prepare('SELECT after_user_id FROM notification_fanouts WHERE stream_id = ?')
    .bind(event.stream_id)
    .first<{ after_user_id: string }>();
  const after = progress?.after_user_id ?? '';
  const budget = FANOUT_PAGE_ROWS * FANOUT_PAGES_PER_MESSAGE;
  const { results } = await db
    .prepare('SELECT user_id FROM follows WHERE channel_id = ? AND user_id > ? ORDER BY user_id LIMIT ?')
    .bind(event.channel_id, after, budget)
    .all<{ user_id: string }>();
  const ids = results.map((row) => row.user_id);
  const last = ids.at(-1);
  if (last === undefined) return [];
  const statements: D1PreparedStatement[] = [];
  let pageStart = after;
  for (let end = FANOUT_PAGE_ROWS; end - FANOUT_PAGE_ROWS < ids.length; end += FANOUT_PAGE_ROWS) {
    const pageEnd = ids[Math.min(end, ids.length) - 1] ?? last;
    statements.push(prepareNotificationPage(db, event, pageStart, pageEnd));
    pageStart = pageEnd;
  }
  statements.push(
    db
      .prepare(
        `INSERT INTO notification_fanouts (stream_id, after_user_id, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (stream_id) DO UPDATE SET after_user_id = max(after_user_id, ?2), updated_at = ?3`,
      )
      .bind(event.stream_id, last, Date.now()),
  );
  if (ids.length === budget) {
    await publishEvent(
      env.STREAM_EVENTS,
      createEvent(
        'stream.started',
        { stream_id: event.stream_id, channel_id: event.channel_id },
        event.occurred_at,
      ),
    );
  }
  return statements;
}
