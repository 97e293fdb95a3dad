// The machinery every consumer shares: parse, dedupe by event id, apply, ack or retry.
import { log } from '../../common/log.ts';
import { type EventOf, PlatformEvent, type PlatformEventType } from '../../protocol/events.ts';

/**
 * Applies one event. Returns the D1 statements of its effect; they run in one batch together with
 * the processed_events row, so the effect and the dedupe record commit (or fail) together.
 */
export type EventHandler<T extends PlatformEventType> = (
  event: EventOf<T>,
  env: Env,
) => Promise<D1PreparedStatement[]>;

/**
 * A handler whose effect is safe to repeat and to reorder by itself (an absolute value guarded by
 * the time it was measured): it runs without a processed_events row, which would otherwise cost a
 * write and a week of storage for every one of a stream of frequent events.
 */
export interface UndedupedHandler<T extends PlatformEventType> {
  dedupe: false;
  handle: EventHandler<T>;
}

export type EventHandlers = { [T in PlatformEventType]?: EventHandler<T> | UndedupedHandler<T> };

/** The queue consumers' logger: every line names the component. */
export const queueLog = log.child({ component: 'queues' });

/** Looks the handler up with its type intact (a plain index would widen it to a union of handlers). */
function findHandler<T extends PlatformEventType>(
  handlers: EventHandlers,
  type: T,
): EventHandler<T> | UndedupedHandler<T> | undefined {
  return handlers[type];
}

async function applyOnce<T extends PlatformEventType>(
  consumer: string,
  handler: EventHandler<T> | UndedupedHandler<T>,
  event: EventOf<T>,
  env: Env,
): Promise<'applied' | 'duplicate'> {
  const db = env.DB;
  if (typeof handler !== 'function') {
    const effects = await handler.handle(event, env);
    if (effects.length > 0) await db.batch(effects);
    return 'applied';
  }
  const seen = await db
    .prepare('SELECT 1 FROM processed_events WHERE event_id = ? AND consumer = ?')
    .bind(event.id, consumer)
    .first();
  if (seen) return 'duplicate';
  const effects = await handler(event, env);
  // A plain INSERT: if a concurrent delivery of the same event committed first, the primary key
  // fails this batch, the effect rolls back with it, and the retry finds the event processed.
  await db.batch([
    ...effects,
    db
      .prepare('INSERT INTO processed_events (event_id, consumer, processed_at) VALUES (?, ?, ?)')
      .bind(event.id, consumer, Date.now()),
  ]);
  return 'applied';
}

/** Runs a batch through `handlers`: acks applied, duplicate, unparseable and unhandled messages; retries failures. */
export async function consumeEvents(
  consumer: string,
  handlers: EventHandlers,
  batch: MessageBatch,
  env: Env,
): Promise<void> {
  for (const message of batch.messages) {
    const parsed = PlatformEvent.safeParse(message.body);
    if (!parsed.success) {
      // Retrying cannot fix a malformed message; keep it visible in the logs instead.
      queueLog.error('event_unparseable', {
        queue: batch.queue,
        message_id: message.id,
        issues: parsed.error.issues,
      });
      message.ack();
      continue;
    }
    const event = parsed.data;
    const handler = findHandler(handlers, event.type);
    if (!handler) {
      queueLog.warn('event_unhandled', { queue: batch.queue, type: event.type, event_id: event.id });
      message.ack();
      continue;
    }
    try {
      const outcome = await applyOnce(consumer, handler, event, env);
      queueLog.info(`event_${outcome}`, {
        consumer,
        type: event.type,
        event_id: event.id,
        trace_id: event.trace_id,
        attempts: message.attempts,
      });
      message.ack();
    } catch (error) {
      queueLog.error('event_failed', {
        consumer,
        type: event.type,
        event_id: event.id,
        trace_id: event.trace_id,
        attempts: message.attempts,
        error,
      });
      message.retry();
    }
  }
}
