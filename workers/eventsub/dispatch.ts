// The queue consumers' EventSub step: a platform event becomes EventSub events (notifications.ts),
// each is matched with the enabled subscriptions of its type and channel, and each match is handed
// to its transport's object: the session's EventSubSession (WebSocket) or the subscription's
// EventSubWebhook. It runs inside the consumer's handler (workers/queues/index.ts), before the
// event is marked processed, so a failure here retries the event: at least once. Message ids are
// derived from the event, the subscription and the item, so a retry carries the same ids and the
// objects send each once (durable-objects/eventsub/).
import { z } from 'zod';
import { log } from '../../common/log.ts';
import { deriveMessageId, type Notification } from '../../durable-objects/eventsub/messages.ts';
import type { PlatformEvent } from '../../protocol/events.ts';
import type { EventHandler, EventHandlers } from '../queues/consume.ts';
import { buildEventSubEvents } from './notifications.ts';
import { SUBSCRIPTION_COLUMNS, SubscriptionRow, toSubscriptionView } from './subscriptions.ts';

/** Subscriptions one EventSub event is delivered to; more are logged and left out (docs/twitch-compat.md). */
export const MAX_SUBSCRIPTIONS_PER_EVENT = 1_000;

const dispatchLog = log.child({ component: 'eventsub' });

/** Hands every notification `event` produces to its transport object. */
export async function dispatchToEventSub(event: PlatformEvent, env: Env): Promise<number> {
  const items = await buildEventSubEvents(env.DB, event);
  if (items.length === 0) return 0;
  const bySession = new Map<string, { objectName: string; notifications: Notification[] }>();
  const byWebhook = new Map<string, Notification[]>();
  const subscriptionsByKey = new Map<string, DispatchRow[]>();
  for (const item of items) {
    const key = `${item.type}\u0000${item.broadcasterId}`;
    let subscriptions = subscriptionsByKey.get(key);
    if (!subscriptions) {
      subscriptions = await findEnabledSubscriptions(env.DB, item.type, item.broadcasterId, event.id);
      subscriptionsByKey.set(key, subscriptions);
    }
    // The query matched the condition's channel; the other condition fields (the reading user of
    // channel.chat.*, the moderator of channel.follow) say who authorized it, not which events.
    // Where a type has several channel fields (channel.raid), the item says which one it is for.
    for (const subscription of subscriptions) {
      if (
        item.conditionField !== null &&
        !namesInCondition(subscription, item.conditionField, item.broadcasterId)
      )
        continue;
      const notification: Notification = {
        messageId: await deriveMessageId(event.id, subscription.id, item.itemKey),
        subscription: toSubscriptionView(subscription),
        event: item.event,
      };
      if (subscription.transport_method === 'webhook') {
        const list = byWebhook.get(subscription.id) ?? [];
        list.push(notification);
        byWebhook.set(subscription.id, list);
      } else if (subscription.session_id !== null && subscription.object_name !== null) {
        const entry = bySession.get(subscription.session_id) ?? {
          objectName: subscription.object_name,
          notifications: [],
        };
        entry.notifications.push(notification);
        bySession.set(subscription.session_id, entry);
      }
    }
  }
  let handed = 0;
  await Promise.all([
    ...[...bySession.values()].map(async ({ objectName, notifications }) => {
      if (notifications.length === 0) return;
      // A session that is gone has nobody to hear it; Twitch does not keep WebSocket notifications.
      handed += await env.EVENTSUB_SESSION.getByName(objectName).deliver(notifications);
    }),
    ...[...byWebhook].map(async ([subscriptionId, notifications]) => {
      handed += await env.EVENTSUB_WEBHOOK.getByName(subscriptionId).enqueue(notifications);
    }),
  ]);
  return handed;
}

const Condition = z.record(z.string(), z.string());

function namesInCondition(subscription: SubscriptionRow, field: string, broadcasterId: string): boolean {
  const condition = Condition.safeParse(JSON.parse(subscription.condition));
  return condition.success && condition.data[field] === broadcasterId;
}

const DispatchRow = SubscriptionRow.extend({ object_name: z.string().nullable() });
type DispatchRow = z.infer<typeof DispatchRow>;

async function findEnabledSubscriptions(
  db: D1Database,
  type: string,
  broadcasterId: string,
  eventId: string,
): Promise<DispatchRow[]> {
  const columns = SUBSCRIPTION_COLUMNS.split(', ')
    .map((column) => `s.${column}`)
    .join(', ');
  const { results } = await db
    .prepare(
      `SELECT ${columns}, x.object_name
       FROM eventsub_subscriptions s LEFT JOIN eventsub_sessions x ON x.id = s.session_id
       WHERE s.type = ? AND s.broadcaster_id = ? AND s.status = 'enabled' ORDER BY s.created_at LIMIT ?`,
    )
    .bind(type, broadcasterId, MAX_SUBSCRIPTIONS_PER_EVENT + 1)
    .all();
  if (results.length > MAX_SUBSCRIPTIONS_PER_EVENT)
    dispatchLog.warn('eventsub_fanout_truncated', { type, event_id: eventId });
  return results.slice(0, MAX_SUBSCRIPTIONS_PER_EVENT).map((row) => DispatchRow.parse(row));
}

/** The types whose events feed EventSub. */
const EVENTSUB_SOURCES = [
  'stream.started',
  'stream.ended',
  'stream.updated',
  'channel.followed',
  'moderation.ban',
  'moderation.unban',
  'chat.messages',
  'chat.message_deleted',
  'chat.cleared',
  'channel.role_changed',
  'channel.raided',
  'chat.announced',
  'subscription.started',
  'subscription.ended',
  'subscription.gifted',
  'subscription.message_shared',
  'bits.cheered',
] as const;

/**
 * A queue's handlers with the EventSub step added to every source type: the existing effect first
 * (its statements commit with the processed_events row), then the hand-off to the transports.
 */
export function withEventSub(handlers: EventHandlers): EventHandlers {
  const wrapped: EventHandlers = { ...handlers };
  for (const type of EVENTSUB_SOURCES) addStep(wrapped, handlers, type);
  return wrapped;
}

function addStep<T extends (typeof EVENTSUB_SOURCES)[number]>(
  target: EventHandlers,
  source: EventHandlers,
  type: T,
): void {
  const base = source[type];
  if (base !== undefined && typeof base !== 'function') return; // undeduped handlers stay as they are
  const handler: EventHandler<T> = async (event, env) => {
    const statements = base ? await base(event, env) : [];
    await dispatchToEventSub(event, env);
    return statements;
  };
  Object.assign(target, { [type]: handler });
}
