// Payment orders: what a user asked to buy, priced by the server when the checkout was created.
import { z } from 'zod';

export const OrderRow = z.object({
  id: z.string(),
  user_id: z.string(),
  channel_id: z.string().nullable(),
  kind: z.enum(['subscription', 'gift_subscription', 'bits', 'tip']),
  tier: z.union([z.literal(1000), z.literal(2000), z.literal(3000)]).nullable(),
  bits: z.number().int().nullable(),
  recipient_id: z.string().nullable(),
  message: z.string(),
  amount_cents: z.number().int(),
  currency: z.string(),
  provider_session_id: z.string().nullable(),
  return_path: z.string(),
  /** Gift orders: how many subscriptions (a named recipient: 1). */
  quantity: z.number().int().min(1),
  status: z.enum(['open', 'paid', 'refused']),
});
export type OrderRow = z.infer<typeof OrderRow>;

const ORDER_COLUMNS =
  'id, user_id, channel_id, kind, tier, bits, recipient_id, message, amount_cents, currency, provider_session_id, return_path, quantity, status';

export async function loadOrder(db: D1Database, orderId: string): Promise<OrderRow | null> {
  const raw = await db
    .prepare(`SELECT ${ORDER_COLUMNS} FROM payment_orders WHERE id = ?`)
    .bind(orderId)
    .first();
  return raw ? OrderRow.parse(raw) : null;
}

export async function loadOrderBySession(db: D1Database, sessionId: string): Promise<OrderRow | null> {
  const raw = await db
    .prepare(`SELECT ${ORDER_COLUMNS} FROM payment_orders WHERE provider_session_id = ?`)
    .bind(sessionId)
    .first();
  return raw ? OrderRow.parse(raw) : null;
}

/** The login shown in alerts. */
export async function loadLogin(db: D1Database, userId: string): Promise<string> {
  const row = await db
    .prepare('SELECT username FROM users WHERE id = ?')
    .bind(userId)
    .first<{ username: string }>();
  return row?.username.toLowerCase() ?? 'someone';
}
