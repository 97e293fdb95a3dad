// EventSub subscriptions in D1 (migrations/0008_eventsub.sql): rows read back zod-parsed and shown
// as Twitch's subscription object (durable-objects/eventsub/messages.ts SubscriptionView).
import { z } from 'zod';
import { SubscriptionView } from '../../durable-objects/eventsub/messages.ts';

export const SubscriptionRow = z.object({
  id: z.string(),
  type: z.string(),
  version: z.string(),
  status: z.string(),
  condition: z.string(),
  broadcaster_id: z.string(),
  client_id: z.string(),
  user_id: z.string().nullable(),
  transport_method: z.enum(['webhook', 'websocket']),
  callback: z.string().nullable(),
  secret: z.string().nullable(),
  session_id: z.string().nullable(),
  created_at: z.number(),
});
export type SubscriptionRow = z.infer<typeof SubscriptionRow>;

export const SUBSCRIPTION_COLUMNS =
  'id, type, version, status, condition, broadcaster_id, client_id, user_id, transport_method, callback, secret, session_id, created_at';

const Condition = z.record(z.string(), z.string());

/**
 * Twitch's cost: 0 when a user authorized the subscription (a user token, or a condition naming a
 * user who granted the client), 1 otherwise; every subscription here is authorized, so 0, except
 * public types subscribed with an app token over webhooks.
 */
export function computeCost(row: Pick<SubscriptionRow, 'user_id'>): number {
  return row.user_id === null ? 1 : 0;
}

export function toSubscriptionView(row: SubscriptionRow): SubscriptionView {
  return SubscriptionView.parse({
    id: row.id,
    status: row.status,
    type: row.type,
    version: row.version,
    condition: Condition.parse(JSON.parse(row.condition)),
    transport:
      row.transport_method === 'webhook'
        ? { method: 'webhook', callback: row.callback ?? '' }
        : { method: 'websocket', session_id: row.session_id ?? '' },
    created_at: new Date(row.created_at).toISOString(),
    cost: computeCost(row),
  });
}

/** Rows zod-parsed. */
export function parseRows(results: unknown[]): SubscriptionRow[] {
  return results.map((row) => SubscriptionRow.parse(row));
}
