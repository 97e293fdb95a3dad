// Community gift subscriptions (docs/payments.md, "Gift subscriptions"): a viewer buys N months of
// a tier for viewers present in the channel's chat, picked at random when the payment is applied.
// Eligible: signed-in viewers in the room now (the room's member list, chat-room.ts), not the
// broadcaster, not banned or timed out there, not the gifter, not already subscribed. Each gift is
// a slot `<payment intent>:gift:<n>` whose row and subscription month are written once, so a
// redelivered or concurrently delivered event grants each slot to one viewer only.
import { z } from 'zod';
import type { OrderRow } from './orders.ts';
import { DAY_MS, preparePaidMonth } from './subscription-rows.ts';

/** Twitch sells community gifts in bundles of up to 100; the order table's CHECK says the same. */
export const MAX_COMMUNITY_GIFTS = 100;

/** Who the present viewers are: the channel's chat room answers (a seam for tests). */
export type ListGiftCandidates = (channelId: string) => Promise<string[]>;

export function giftSlotId(paymentKey: string, index: number): string {
  return `${paymentKey}:gift:${index}`;
}

/** The present viewers who may receive a gift from `gifterId`: existing users, not yet subscribed. */
export async function filterGiftCandidates(
  db: D1Database,
  present: string[],
  channelId: string,
  gifterId: string,
  now: number,
): Promise<string[]> {
  if (present.length === 0) return [];
  const { results } = await db
    .prepare(
      `SELECT u.id FROM json_each(?1) AS p JOIN users u ON u.id = p.value
       WHERE u.id != ?2 AND u.id NOT IN (SELECT user_id FROM subscriptions WHERE channel_id = ?3 AND expires_at > ?4)`,
    )
    .bind(JSON.stringify(present), gifterId, channelId, now)
    .all();
  return z
    .array(z.object({ id: z.string() }))
    .parse(results)
    .map((row) => row.id);
}

/** `count` distinct items chosen uniformly at random (a partial Fisher-Yates shuffle). */
export function pickAtRandom<T>(items: readonly T[], count: number): T[] {
  const pool = [...items];
  const picked: T[] = [];
  const random = new Uint32Array(1);
  while (picked.length < count && pool.length > 0) {
    crypto.getRandomValues(random);
    const index = (random[0] ?? 0) % pool.length;
    const [item] = pool.splice(index, 1);
    if (item !== undefined) picked.push(item);
  }
  return picked;
}

export interface GiftSlot {
  id: string;
  recipientId: string | null;
  /** This batch's nonce on the slot row: what was granted here is known after the commit. */
  nonce: string;
}

/**
 * The gift slots of a paid community gift: a row each (recipient or none, when fewer eligible
 * viewers were present than gifts bought) and a month for each recipient, all under `guard`.
 */
export function prepareGiftSlots(
  db: D1Database,
  gift: {
    order: OrderRow & { channel_id: string; tier: 1000 | 2000 | 3000 };
    paymentKey: string;
    recipients: string[];
    now: number;
    guard: { sql: string; bindings: unknown[] };
  },
): { statements: D1PreparedStatement[]; slots: GiftSlot[] } {
  const { order, now } = gift;
  const statements: D1PreparedStatement[] = [];
  const slots: GiftSlot[] = [];
  for (let index = 0; index < order.quantity; index++) {
    const slot: GiftSlot = {
      id: giftSlotId(gift.paymentKey, index),
      recipientId: gift.recipients[index] ?? null,
      nonce: crypto.randomUUID(),
    };
    slots.push(slot);
    statements.push(
      db
        .prepare(
          `INSERT OR IGNORE INTO subscription_gifts (id, payment_intent, gifter_id, channel_id, recipient_id, tier, nonce, created_at)
           SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE ${gift.guard.sql}`,
        )
        .bind(
          slot.id,
          gift.paymentKey,
          order.user_id,
          order.channel_id,
          slot.recipientId,
          order.tier,
          slot.nonce,
          now,
          ...gift.guard.bindings,
        ),
    );
    if (!slot.recipientId) continue;
    statements.push(
      ...preparePaidMonth(db, {
        sourceId: slot.id,
        userId: slot.recipientId,
        channelId: order.channel_id,
        tier: order.tier,
        providerSubscriptionId: null,
        giftedBy: order.user_id,
        periodEndMs: now + 30 * DAY_MS,
        now,
        // Only the batch that wrote the slot grants its month.
        guard: {
          sql: 'EXISTS (SELECT 1 FROM subscription_gifts WHERE id = ? AND nonce = ?)',
          bindings: [slot.id, slot.nonce],
        },
      }).statements,
    );
  }
  return { statements, slots };
}
