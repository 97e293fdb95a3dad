// What each verified provider event does (docs/payments.md, "Events"). A handler reads what it
// needs, then returns D1 statements; the consumer runs them in one batch with the event's dedupe
// row, so an event's effect commits once or not at all. Stripe retries and does not order events,
// so every effect is written to be right in any order: a refund that arrives before its payment is
// kept (payment_reversals) and the payment then grants nothing; subscription states carry the
// event's `created` time and an older one changes nothing.
import type { z } from 'zod';
import { ISSUANCE_ACCOUNT, prepareTransfer, readBalance, userBitsAccount } from './ledger.ts';
import { loadLogin, loadOrder, type OrderRow } from './orders.ts';
import type { PriceTable } from './prices.ts';
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
  prepareMonthReversal,
  preparePaidMonth,
  prepareSubscriptionState,
} from './subscription-rows.ts';

/** What an event did, recorded on its payment_events row. */
export type EventOutcome = 'applied' | 'unknown_order' | 'amount_mismatch' | 'unknown_payment' | 'ignored';

export interface AppliedEvent {
  outcome: EventOutcome;
  statements: D1PreparedStatement[];
  /** Chatters whose subscription this may change: their chat rooms forget the cached profile. */
  subscribers?: { channelId: string; userId: string }[];
}

interface Context {
  db: D1Database;
  prices: PriceTable;
  now: number;
}

const NOT_REVERSED = (paymentKey: string) => ({
  sql: 'NOT EXISTS (SELECT 1 FROM payment_reversals WHERE payment_intent = ?)',
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

/** The payment row: `paid`, or already refunded/disputed when the reversal came first. */
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
      `INSERT OR IGNORE INTO payments (payment_intent, source_id, order_id, kind, user_id, channel_id, amount_cents, status, created_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE((SELECT kind FROM payment_reversals WHERE payment_intent = ?1), 'paid'), ?8)`,
    )
    .bind(paymentKey, sourceId, order.id, order.kind, order.user_id, order.channel_id, amount, now);
}

const markOrder = (db: D1Database, orderId: string, status: 'paid' | 'refused') =>
  db.prepare(`UPDATE payment_orders SET status = ? WHERE id = ? AND status = 'open'`).bind(status, orderId);

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
  const statements = [
    markOrder(db, order.id, 'paid'),
    preparePayment(db, order, paymentKey, session.id, order.amount_cents, now),
  ];
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
    case 'gift_subscription':
      if (order.channel_id && order.recipient_id && order.tier) {
        statements.push(
          ...preparePaidMonth(db, {
            sourceId: paymentKey,
            userId: order.recipient_id,
            channelId: order.channel_id,
            tier: order.tier,
            providerSubscriptionId: null,
            giftedBy: order.user_id,
            periodEndMs: now + 30 * DAY_MS,
            now,
            guard,
          }),
          prepareAlert(
            db,
            order.channel_id,
            { kind: 'gift', login, amount: 1, message: await loadLogin(db, order.recipient_id), now },
            guard,
          ),
        );
      }
      break;
    case 'subscription':
      break;
  }
  const subscribers =
    order.kind === 'gift_subscription' && order.channel_id && order.recipient_id
      ? [{ channelId: order.channel_id, userId: order.recipient_id }]
      : [];
  return { outcome: 'applied', statements, subscribers };
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
  return {
    outcome: 'applied',
    subscribers: [{ channelId: order.channel_id, userId: order.user_id }],
    statements: [
      markOrder(db, order.id, 'paid'),
      preparePayment(db, order, paymentKey, invoice.id, invoice.amount_paid, now),
      ...preparePaidMonth(db, {
        sourceId: invoice.id,
        userId: order.user_id,
        channelId: order.channel_id,
        tier: order.tier,
        providerSubscriptionId: details.subscription,
        giftedBy: null,
        periodEndMs: periodEnd,
        now,
        guard,
      }),
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
  return {
    outcome: 'applied',
    subscribers: [{ channelId: order.channel_id, userId: order.user_id }],
    statements: prepareSubscriptionState(db, {
      userId: order.user_id,
      channelId: order.channel_id,
      tier: order.tier,
      providerSubscriptionId: subscription.id,
      status,
      endedAtMs: ended ? (subscription.ended_at ?? created) * 1000 || periodEnd : null,
      version: created,
      now,
    }),
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

/** A refund or dispute: recorded first, then the payment's effect is taken back once, if it exists yet. */
async function applyReversal(
  ctx: Context,
  kind: 'refunded' | 'disputed',
  paymentKey: string | null,
): Promise<AppliedEvent> {
  const { db, now } = ctx;
  if (!paymentKey) return { outcome: 'unknown_payment', statements: [] };
  const statements = [
    db
      .prepare('INSERT OR IGNORE INTO payment_reversals (payment_intent, kind, created_at) VALUES (?, ?, ?)')
      .bind(paymentKey, kind, now),
  ];
  const payment = await db
    .prepare(
      'SELECT source_id, order_id, kind, user_id, channel_id, status FROM payments WHERE payment_intent = ?',
    )
    .bind(paymentKey)
    .first<{
      source_id: string;
      order_id: string;
      kind: string;
      user_id: string;
      channel_id: string | null;
      status: string;
    }>();
  // No payment yet: it will find the reversal and grant nothing.
  if (payment?.status !== 'paid') return { outcome: 'applied', statements };
  statements.push(
    db
      .prepare(`UPDATE payments SET status = ? WHERE payment_intent = ? AND status = 'paid'`)
      .bind(kind, paymentKey),
  );
  const order = await loadOrder(db, payment.order_id);
  if (order?.kind === 'bits' && order.bits) {
    // Bits already cheered stay with the channel: the refund takes back what is left (docs/payments.md).
    const takeBack = Math.min(order.bits, await readBalance(db, userBitsAccount(order.user_id)));
    if (takeBack > 0) {
      statements.push(
        ...prepareTransfer(db, {
          id: `refund:${paymentKey}`,
          kind: 'refund',
          reference: paymentKey,
          from: userBitsAccount(order.user_id),
          to: ISSUANCE_ACCOUNT,
          amount: takeBack,
          now,
        }).statements,
      );
    }
  }
  if (order && payment.channel_id && (order.kind === 'subscription' || order.kind === 'gift_subscription')) {
    const subscriber = order.kind === 'gift_subscription' ? order.recipient_id : order.user_id;
    const sourceId = order.kind === 'gift_subscription' ? paymentKey : payment.source_id;
    if (subscriber) {
      statements.push(...prepareMonthReversal(db, sourceId, subscriber, payment.channel_id, now));
      return {
        outcome: 'applied',
        statements,
        subscribers: [{ channelId: payment.channel_id, userId: subscriber }],
      };
    }
  }
  return { outcome: 'applied', statements };
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
      return applyReversal(ctx, 'refunded', charge.payment_intent);
    }
    case 'charge.dispute.created': {
      const dispute: z.infer<typeof DisputeObject> = event.data.object;
      return applyReversal(ctx, 'disputed', dispute.payment_intent);
    }
  }
}
