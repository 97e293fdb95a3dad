// What each verified provider event does (docs/payments.md, "Events"). A handler reads what it
// needs, then returns D1 statements; the consumer runs them in one batch with the event's dedupe
// row, so an event's effect commits once or not at all. Stripe retries and does not order events,
// so every effect is written to be right in any order: a refund that arrives before its payment is
// kept (payment_reversals) and the payment then grants nothing; subscription states carry the
// event's `created` time and an older one changes nothing.
import type { z } from 'zod';
import type { SubscriptionAnnouncement } from '../../durable-objects/chat/types.ts';
import { type OutboxWrite, prepareOutboxEvent } from '../eventsub/outbox.ts';
import {
  filterGiftCandidates,
  type GiftSlot,
  type ListGiftCandidates,
  pickAtRandom,
  prepareGiftSlots,
} from './community-gifts.ts';
import { ISSUANCE_ACCOUNT, prepareTransfer, userBitsAccount } from './ledger.ts';
import { loadLogin, loadOrder, type OrderRow } from './orders.ts';
import type { PriceTable } from './prices.ts';
import { prepareEarlyRefund, prepareReversal } from './refunds.ts';
import type {
  ChargeObject,
  DisputeObject,
  HandledEvent,
  InvoiceObject,
  SubscriptionObject,
} from './stripe-events.ts';
import { readInvoicePaymentKey } from './stripe-events.ts';
import {
  DAY_MS,
  prepareGracePeriod,
  preparePaidMonth,
  prepareSubscriptionState,
} from './subscription-rows.ts';

/** What an event did, recorded on its payment_events row. */
export type EventOutcome = 'applied' | 'unknown_order' | 'amount_mismatch' | 'unknown_payment' | 'ignored';

/**
 * A chat announcement for a month this event may grant. The consumer makes it after the commit,
 * only when the row named by `confirm` carries this batch's nonce (the month was granted here, not
 * by an earlier delivery, and not refused by a reversal), with the months read then.
 */
export interface PendingAnnouncement {
  channelId: string;
  confirm: { table: 'subscription_months' | 'subscription_gifts'; id: string; nonce: string };
  announcement: SubscriptionAnnouncement;
}

export interface AppliedEvent {
  outcome: EventOutcome;
  statements: D1PreparedStatement[];
  /** EventSub outbox rows (their statements are in `statements`): sent after the commit. */
  outbox?: OutboxWrite[];
  /** Chatters whose subscription this may change: their chat rooms forget the cached profile. */
  subscribers?: { channelId: string; userId: string }[];
  announcements?: PendingAnnouncement[];
}

export interface Context {
  db: D1Database;
  prices: PriceTable;
  now: number;
  /** The signed-in viewers present in a channel's chat (community gifts pick among them). */
  listGiftCandidates: ListGiftCandidates;
}

/** A payment's grants apply unless the whole payment was refunded or disputed (a partial refund is a step). */
const NOT_REVERSED = (paymentKey: string) => ({
  sql: 'NOT EXISTS (SELECT 1 FROM payment_reversals WHERE payment_intent = ? AND refunded_cents IS NULL)',
  bindings: [paymentKey],
});

function prepareAlert(
  db: D1Database,
  channelId: string,
  alert: {
    kind: 'sub' | 'resub' | 'gift' | 'cheer' | 'tip';
    login: string;
    amount: number;
    message: string;
    now: number;
  },
  guard: { sql: string; bindings: unknown[] },
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO channel_alerts (id, channel_id, kind, user_login, amount, message, created_at)
       SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${guard.sql}`,
    )
    .bind(
      crypto.randomUUID(),
      channelId,
      alert.kind,
      alert.login,
      alert.amount,
      alert.message,
      alert.now,
      ...guard.bindings,
    );
}

/** The payment row: `paid`, or already refunded/disputed when a full reversal came first. */
function preparePayment(
  db: D1Database,
  order: OrderRow,
  paymentKey: string,
  sourceId: string,
  amount: number,
  now: number,
) {
  return db
    .prepare(
      `INSERT OR IGNORE INTO payments (payment_intent, source_id, order_id, kind, user_id, channel_id, amount_cents, status, created_at, refunded_cents)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
         COALESCE((SELECT kind FROM payment_reversals WHERE payment_intent = ?1 AND refunded_cents IS NULL), 'paid'), ?8,
         CASE WHEN EXISTS (SELECT 1 FROM payment_reversals WHERE payment_intent = ?1 AND refunded_cents IS NULL) THEN ?7 ELSE 0 END)`,
    )
    .bind(paymentKey, sourceId, order.id, order.kind, order.user_id, order.channel_id, amount, now);
}

const markOrder = (db: D1Database, orderId: string, status: 'paid' | 'refused') =>
  db.prepare(`UPDATE payment_orders SET status = ? WHERE id = ? AND status = 'open'`).bind(status, orderId);

/**
 * EventSub's events for the gift announcements of this batch (channel.subscribe with is_gift for
 * each recipient, channel.subscription.gift once per gift), each written only if the batch granted
 * what the announcement names (its row carries the batch's nonce), keyed by that row.
 */
async function prepareGiftEvents(
  db: D1Database,
  pending: PendingAnnouncement[],
  now: number,
): Promise<OutboxWrite[]> {
  const writes: OutboxWrite[] = [];
  for (const item of pending) {
    const { table, id, nonce } = item.confirm;
    const key = table === 'subscription_months' ? 'source_id' : 'id';
    const guard = {
      sql: `EXISTS (SELECT 1 FROM ${table} WHERE ${key} = ? AND nonce = ?)`,
      bindings: [id, nonce],
    };
    const announcement = item.announcement;
    switch (announcement.kind) {
      case 'subgift':
        writes.push(
          await prepareOutboxEvent(
            db,
            'subscription.started',
            {
              channel_id: item.channelId,
              user_id: announcement.recipientId,
              tier: announcement.tier,
              gifter_id: announcement.userId,
            },
            `${table}:${id}`,
            now,
            guard,
          ),
        );
        // A named gift is its own gift of one; a community gift's slots are counted by its
        // submysterygift below.
        if (table === 'subscription_months') {
          writes.push(
            await prepareOutboxEvent(
              db,
              'subscription.gifted',
              {
                channel_id: item.channelId,
                user_id: announcement.userId,
                tier: announcement.tier,
                total: 1,
                community: false,
              },
              `${table}:${id}`,
              now,
              guard,
            ),
          );
        }
        break;
      case 'submysterygift':
        writes.push(
          await prepareOutboxEvent(
            db,
            'subscription.gifted',
            {
              channel_id: item.channelId,
              user_id: announcement.userId,
              tier: announcement.tier,
              total: announcement.count,
              community: true,
            },
            `community:${id}`,
            now,
            guard,
          ),
        );
        break;
      case 'sub':
        break;
    }
  }
  return writes;
}

/** A community gift: slots for viewers present now, one alert, the submysterygift and subgift notices. */
async function prepareCommunityGift(
  ctx: Context,
  order: OrderRow & { channel_id: string; tier: 1000 | 2000 | 3000 },
  paymentKey: string,
  login: string,
  guard: { sql: string; bindings: unknown[] },
): Promise<{ statements: D1PreparedStatement[]; slots: GiftSlot[]; announcements: PendingAnnouncement[] }> {
  const { db, now } = ctx;
  const present = await ctx.listGiftCandidates(order.channel_id);
  const eligible = await filterGiftCandidates(db, present, order.channel_id, order.user_id, now);
  const prepared = prepareGiftSlots(db, {
    order,
    paymentKey,
    recipients: pickAtRandom(eligible, order.quantity),
    now,
    guard,
  });
  const [first] = prepared.slots;
  if (!first) return { ...prepared, announcements: [] };
  const firstConfirm = { table: 'subscription_gifts' as const, id: first.id, nonce: first.nonce };
  const assigned = prepared.slots.filter((slot) => slot.recipientId !== null);
  const announcements: PendingAnnouncement[] = [
    ...(assigned.length > 0
      ? [
          {
            channelId: order.channel_id,
            confirm: firstConfirm,
            announcement: {
              kind: 'submysterygift' as const,
              userId: order.user_id,
              tier: order.tier,
              count: assigned.length,
            },
          },
        ]
      : []),
    ...assigned.map((slot) => ({
      channelId: order.channel_id,
      confirm: { table: 'subscription_gifts' as const, id: slot.id, nonce: slot.nonce },
      announcement: {
        kind: 'subgift' as const,
        userId: order.user_id,
        recipientId: slot.recipientId ?? '',
        tier: order.tier,
        recipientMonths: 0,
      },
    })),
  ];
  const alert = prepareAlert(
    db,
    order.channel_id,
    { kind: 'gift', login, amount: assigned.length, message: '', now },
    {
      sql: 'EXISTS (SELECT 1 FROM subscription_gifts WHERE id = ? AND nonce = ?)',
      bindings: [first.id, first.nonce],
    },
  );
  return { statements: [...prepared.statements, alert], slots: prepared.slots, announcements };
}

async function applyCheckoutCompleted(
  ctx: Context,
  session: z.infer<typeof import('./stripe-events.ts').CheckoutSessionObject>,
): Promise<AppliedEvent> {
  const { db, now } = ctx;
  const order = await loadOrder(db, session.metadata.order_id);
  if (!order) return { outcome: 'unknown_order', statements: [] };
  // The amount the server asked for, in its currency; anything else is refused with nothing changed.
  if (session.amount_total !== order.amount_cents || session.currency !== order.currency) {
    return { outcome: 'amount_mismatch', statements: [] };
  }
  // Subscriptions are granted by their invoices (invoice.paid), which carry the money.
  if (session.mode !== 'payment')
    return { outcome: 'applied', statements: [markOrder(db, order.id, 'paid')] };
  if (!session.payment_intent) return { outcome: 'unknown_payment', statements: [] };
  const paymentKey = session.payment_intent;
  const guard = NOT_REVERSED(paymentKey);
  // Read before the payment row is written: a partial refund recorded earlier applies after the grant.
  const early = await prepareEarlyRefund(db, {
    payment: {
      payment_intent: paymentKey,
      source_id: session.id,
      amount_cents: order.amount_cents,
      channel_id: order.channel_id,
    },
    order,
    creditedBits: order.kind === 'bits' ? (order.bits ?? 0) : 0,
    now,
  });
  const statements = [
    markOrder(db, order.id, 'paid'),
    preparePayment(db, order, paymentKey, session.id, order.amount_cents, now),
  ];
  const subscribers: { channelId: string; userId: string }[] = [];
  const announcements: PendingAnnouncement[] = [];
  const login = await loadLogin(db, order.user_id);
  switch (order.kind) {
    case 'bits': {
      const bits = order.bits ?? 0;
      statements.push(
        ...prepareTransfer(db, {
          id: `purchase:${paymentKey}`,
          kind: 'purchase',
          reference: paymentKey,
          from: ISSUANCE_ACCOUNT,
          to: userBitsAccount(order.user_id),
          amount: bits,
          now,
          guard,
        }).statements,
      );
      break;
    }
    case 'tip':
      if (order.channel_id) {
        statements.push(
          prepareAlert(
            db,
            order.channel_id,
            { kind: 'tip', login, amount: order.amount_cents, message: order.message, now },
            guard,
          ),
        );
      }
      break;
    case 'gift_subscription': {
      const { channel_id: channelId, tier } = order;
      if (!channelId || !tier) break;
      if (!order.recipient_id) {
        const gift = await prepareCommunityGift(
          ctx,
          { ...order, channel_id: channelId, tier },
          paymentKey,
          login,
          guard,
        );
        statements.push(...gift.statements);
        announcements.push(...gift.announcements);
        for (const slot of gift.slots) {
          if (slot.recipientId) subscribers.push({ channelId, userId: slot.recipientId });
        }
        break;
      }
      const month = preparePaidMonth(db, {
        sourceId: paymentKey,
        userId: order.recipient_id,
        channelId,
        tier,
        providerSubscriptionId: null,
        giftedBy: order.user_id,
        periodEndMs: now + 30 * DAY_MS,
        now,
        guard,
      });
      statements.push(
        ...month.statements,
        prepareAlert(
          db,
          channelId,
          { kind: 'gift', login, amount: 1, message: await loadLogin(db, order.recipient_id), now },
          guard,
        ),
      );
      subscribers.push({ channelId, userId: order.recipient_id });
      announcements.push({
        channelId,
        confirm: { table: 'subscription_months', id: paymentKey, nonce: month.nonce },
        announcement: {
          kind: 'subgift',
          userId: order.user_id,
          recipientId: order.recipient_id,
          tier,
          recipientMonths: 0,
        },
      });
      break;
    }
    case 'subscription':
      break;
  }
  statements.push(...early.statements);
  const outbox = await prepareGiftEvents(db, announcements, now);
  statements.push(...outbox.map((write) => write.statement));
  return {
    outcome: 'applied',
    statements,
    subscribers: [...subscribers, ...early.subscribers],
    announcements,
    outbox,
  };
}

async function applyInvoicePaid(ctx: Context, invoice: z.infer<typeof InvoiceObject>): Promise<AppliedEvent> {
  const { db, now } = ctx;
  const details = invoice.parent.subscription_details;
  const order = await loadOrder(db, details.metadata.order_id);
  if (order?.kind !== 'subscription' || !order.channel_id || !order.tier) {
    return { outcome: 'unknown_order', statements: [] };
  }
  // Each month is charged the tier's price as ordered; a renewal at another amount is refused.
  if (invoice.amount_paid !== order.amount_cents || invoice.currency !== order.currency) {
    return { outcome: 'amount_mismatch', statements: [] };
  }
  const paymentKey = readInvoicePaymentKey(invoice);
  const guard = NOT_REVERSED(paymentKey);
  const periodEnd = Math.max(...invoice.lines.data.map((line) => line.period.end)) * 1000;
  const previous = await db
    .prepare(
      'SELECT cumulative_months FROM subscriptions WHERE user_id = ? AND channel_id = ? AND expires_at > 0',
    )
    .bind(order.user_id, order.channel_id)
    .first<{ cumulative_months: number }>();
  const months = (previous?.cumulative_months ?? 0) + 1;
  const early = await prepareEarlyRefund(db, {
    payment: {
      payment_intent: paymentKey,
      source_id: invoice.id,
      amount_cents: invoice.amount_paid,
      channel_id: order.channel_id,
    },
    order,
    creditedBits: 0,
    now,
  });
  const month = preparePaidMonth(db, {
    sourceId: invoice.id,
    userId: order.user_id,
    channelId: order.channel_id,
    tier: order.tier,
    providerSubscriptionId: details.subscription,
    giftedBy: null,
    periodEndMs: periodEnd,
    now,
    guard,
  });
  // A first month is a new subscriber (channel.subscribe); a renewal is not, until its resub is
  // shared (channel.subscription.message, durable-objects/chat-room/resub-share.ts).
  const outbox =
    months === 1
      ? [
          await prepareOutboxEvent(
            db,
            'subscription.started',
            { channel_id: order.channel_id, user_id: order.user_id, tier: order.tier, gifter_id: null },
            `subscription_months:${invoice.id}`,
            now,
            {
              sql: 'EXISTS (SELECT 1 FROM subscription_months WHERE source_id = ? AND nonce = ?)',
              bindings: [invoice.id, month.nonce],
            },
          ),
        ]
      : [];
  return {
    outcome: 'applied',
    subscribers: [{ channelId: order.channel_id, userId: order.user_id }],
    outbox,
    announcements: [
      {
        channelId: order.channel_id,
        confirm: { table: 'subscription_months', id: invoice.id, nonce: month.nonce },
        announcement: {
          kind: 'sub',
          userId: order.user_id,
          tier: order.tier,
          cumulativeMonths: 0,
          streakMonths: 0,
        },
      },
    ],
    statements: [
      markOrder(db, order.id, 'paid'),
      preparePayment(db, order, paymentKey, invoice.id, invoice.amount_paid, now),
      ...month.statements,
      prepareAlert(
        db,
        order.channel_id,
        {
          kind: months > 1 ? 'resub' : 'sub',
          login: await loadLogin(db, order.user_id),
          amount: months,
          message: '',
          now,
        },
        {
          sql: `${guard.sql} AND NOT EXISTS (SELECT 1 FROM payments WHERE source_id = ? AND status != 'paid')`,
          bindings: [...guard.bindings, invoice.id],
        },
      ),
      ...early.statements,
      ...outbox.map((write) => write.statement),
    ],
  };
}

async function applySubscriptionEvent(
  ctx: Context,
  type: 'created' | 'updated' | 'deleted',
  subscription: z.infer<typeof SubscriptionObject>,
  created: number,
): Promise<AppliedEvent> {
  const { db, now } = ctx;
  const order = await loadOrder(db, subscription.metadata.order_id);
  if (order?.kind !== 'subscription' || !order.channel_id || !order.tier) {
    return { outcome: 'unknown_order', statements: [] };
  }
  const ended = type === 'deleted' || subscription.status === 'canceled' || subscription.status === 'unpaid';
  const status = ended
    ? 'ended'
    : subscription.status === 'past_due'
      ? 'past_due'
      : subscription.cancel_at_period_end
        ? 'canceling'
        : 'active';
  const periodEnd = Math.max(...subscription.items.data.map((item) => item.current_period_end)) * 1000;
  // channel.subscription.end, once per provider subscription, only if this event's state applied.
  const outbox = ended
    ? [
        await prepareOutboxEvent(
          db,
          'subscription.ended',
          { channel_id: order.channel_id, user_id: order.user_id, tier: order.tier, is_gift: false },
          subscription.id,
          now,
          {
            sql: `EXISTS (SELECT 1 FROM subscriptions WHERE provider_subscription_id = ? AND status = 'ended' AND state_version = ?)`,
            bindings: [subscription.id, created],
          },
        ),
      ]
    : [];
  return {
    outcome: 'applied',
    subscribers: [{ channelId: order.channel_id, userId: order.user_id }],
    outbox,
    statements: [
      ...prepareSubscriptionState(db, {
        userId: order.user_id,
        channelId: order.channel_id,
        tier: order.tier,
        providerSubscriptionId: subscription.id,
        status,
        endedAtMs: ended ? (subscription.ended_at ?? created) * 1000 || periodEnd : null,
        version: created,
        now,
      }),
      ...outbox.map((write) => write.statement),
    ],
  };
}

async function applyPaymentFailed(
  ctx: Context,
  invoice: z.infer<typeof InvoiceObject>,
  created: number,
): Promise<AppliedEvent> {
  const order = await loadOrder(ctx.db, invoice.parent.subscription_details.metadata.order_id);
  if (!order?.channel_id) return { outcome: 'unknown_order', statements: [] };
  const graceEnds = created * 1000 + ctx.prices.grace_period_days * DAY_MS;
  const subscription = invoice.parent.subscription_details.subscription;
  return {
    outcome: 'applied',
    subscribers: [{ channelId: order.channel_id, userId: order.user_id }],
    statements: prepareGracePeriod(ctx.db, subscription, order.channel_id, graceEnds, created, ctx.now),
  };
}

/** A refund or dispute (refunds.ts): recorded first, then applied once, in proportion for a partial refund. */
async function applyReversal(
  ctx: Context,
  kind: 'refunded' | 'disputed',
  reversal: { paymentKey: string | null; chargeAmount: number; refundedCents: number },
): Promise<AppliedEvent> {
  if (!reversal.paymentKey) return { outcome: 'unknown_payment', statements: [] };
  const prepared = await prepareReversal(ctx.db, {
    kind,
    paymentKey: reversal.paymentKey,
    chargeAmount: reversal.chargeAmount,
    refundedCents: reversal.refundedCents,
    now: ctx.now,
  });
  return { outcome: 'applied', statements: prepared.statements, subscribers: prepared.subscribers };
}

export async function applyPaymentEvent(ctx: Context, event: HandledEvent): Promise<AppliedEvent> {
  switch (event.type) {
    case 'checkout.session.completed':
      return applyCheckoutCompleted(ctx, event.data.object);
    case 'invoice.paid':
      return applyInvoicePaid(ctx, event.data.object);
    case 'invoice.payment_failed':
      return applyPaymentFailed(ctx, event.data.object, event.created);
    case 'customer.subscription.created':
      return applySubscriptionEvent(ctx, 'created', event.data.object, event.created);
    case 'customer.subscription.updated':
      return applySubscriptionEvent(ctx, 'updated', event.data.object, event.created);
    case 'customer.subscription.deleted':
      return applySubscriptionEvent(ctx, 'deleted', event.data.object, event.created);
    case 'charge.refunded': {
      const charge: z.infer<typeof ChargeObject> = event.data.object;
      return applyReversal(ctx, 'refunded', {
        paymentKey: charge.payment_intent,
        chargeAmount: charge.amount,
        refundedCents: charge.amount_refunded,
      });
    }
    case 'charge.dispute.created': {
      const dispute: z.infer<typeof DisputeObject> = event.data.object;
      return applyReversal(ctx, 'disputed', {
        paymentKey: dispute.payment_intent,
        chargeAmount: dispute.amount,
        refundedCents: dispute.amount,
      });
    }
  }
}
