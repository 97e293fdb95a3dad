// Refunds and disputes (docs/payments.md, "Refunds"). Stripe's charge.refunded carries the
// cumulative amount refunded, so a payment moves in steps: each step goes from the amount refunded
// before to the new total, and takes back exactly that share of what the payment bought. A step is
// a compare-and-set (payment_refunds' key is the starting amount), so two deliveries computed from
// the same state cannot both commit, and an older, smaller refund arriving late changes nothing.
//
// What a step takes back: bits in proportion to the cents refunded (rounded down, the whole pack at
// the full amount), but never more than the buyer still holds: bits already cheered stay with the
// channel and the step records them as unrecovered. A partial refund of a subscription month or a
// gift keeps the access it paid for (the earnings drop by the amount); a full refund or a dispute
// ends the months now. Tips: the earnings drop by exactly the amount.
import { ISSUANCE_ACCOUNT, prepareTransfer, readBalance, userBitsAccount } from './ledger.ts';
import { loadOrder, type OrderRow } from './orders.ts';
import { prepareMonthReversal } from './subscription-rows.ts';

export interface PaymentRow {
  payment_intent: string;
  source_id: string;
  order_id: string;
  user_id: string;
  channel_id: string | null;
  amount_cents: number;
  refunded_cents: number;
  status: string;
}

export interface ReversalOutcome {
  statements: D1PreparedStatement[];
  subscribers: { channelId: string; userId: string }[];
}

/**
 * A statement that fails its whole D1 batch when the query finds a row: SQLite's json() raises on
 * text that is not JSON, and the value comes from the row, so nothing runs unless the row exists.
 * The consumer then retries the event, which reads the state again.
 */
export function prepareFailIfFound(db: D1Database, query: { sql: string; bindings: unknown[] }) {
  return db.prepare(`SELECT json(found) FROM (${query.sql})`).bind(...query.bindings);
}

export async function loadPayment(db: D1Database, paymentKey: string): Promise<PaymentRow | null> {
  return db
    .prepare(
      `SELECT payment_intent, source_id, order_id, user_id, channel_id, amount_cents, refunded_cents, status
       FROM payments WHERE payment_intent = ?`,
    )
    .bind(paymentKey)
    .first<PaymentRow>();
}

/** The bits of a `bits`-cent share of a pack bought for `amount` cents: rounded down, all at the full amount. */
export function bitsForCents(packBits: number, amountCents: number, cents: number): number {
  if (cents >= amountCents) return packBits;
  return Math.floor((packBits * cents) / amountCents);
}

/** The gift months a payment bought: the named recipient's, or each assigned slot of a community gift. */
async function listGiftMonths(
  db: D1Database,
  order: OrderRow,
  paymentKey: string,
): Promise<{ sourceId: string; userId: string }[]> {
  if (order.recipient_id) return [{ sourceId: paymentKey, userId: order.recipient_id }];
  const { results } = await db
    .prepare(
      'SELECT id, recipient_id FROM subscription_gifts WHERE payment_intent = ? AND recipient_id IS NOT NULL',
    )
    .bind(paymentKey)
    .all<{ id: string; recipient_id: string }>();
  return results.map((row) => ({ sourceId: row.id, userId: row.recipient_id }));
}

/**
 * One refund step of `payment` to `toCents` (the cumulative amount refunded). `full` marks the
 * payment refunded or disputed and ends the months it paid. `creditedBits` counts bits this same
 * batch credits before the step (a payment applied with a refund that arrived before it).
 */
export async function prepareRefundStep(
  db: D1Database,
  step: {
    payment: Pick<
      PaymentRow,
      'payment_intent' | 'source_id' | 'amount_cents' | 'refunded_cents' | 'channel_id'
    >;
    order: OrderRow;
    toCents: number;
    full: { kind: 'refunded' | 'disputed' } | null;
    creditedBits?: number;
    now: number;
  },
): Promise<ReversalOutcome> {
  const { payment, order, now } = step;
  const paymentKey = payment.payment_intent;
  const fromCents = payment.refunded_cents;
  const toCents = step.full ? payment.amount_cents : Math.min(step.toCents, payment.amount_cents);
  const statements: D1PreparedStatement[] = [];
  const subscribers: ReversalOutcome['subscribers'] = [];
  let bitsTaken = 0;
  let bitsUnrecovered = 0;
  if (order.kind === 'bits' && order.bits) {
    const owed =
      bitsForCents(order.bits, payment.amount_cents, toCents) -
      bitsForCents(order.bits, payment.amount_cents, fromCents);
    const held = (await readBalance(db, userBitsAccount(order.user_id))) + (step.creditedBits ?? 0);
    bitsTaken = Math.max(0, Math.min(owed, held));
    bitsUnrecovered = Math.max(0, owed - bitsTaken);
  }
  statements.push(
    // A plain INSERT: the compare-and-set. Another step from the same amount fails this batch.
    db
      .prepare(
        `INSERT INTO payment_refunds (payment_intent, from_cents, to_cents, bits_taken, bits_unrecovered, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .bind(paymentKey, fromCents, toCents, bitsTaken, bitsUnrecovered, now),
    db
      .prepare(
        `UPDATE payments SET refunded_cents = ?, status = COALESCE(?, status) WHERE payment_intent = ? AND status = 'paid'`,
      )
      .bind(toCents, step.full?.kind ?? null, paymentKey),
  );
  if (bitsTaken > 0) {
    statements.push(
      ...prepareTransfer(db, {
        id: `refund:${paymentKey}:${toCents}`,
        kind: 'refund',
        reference: paymentKey,
        from: userBitsAccount(order.user_id),
        to: ISSUANCE_ACCOUNT,
        amount: bitsTaken,
        now,
      }).statements,
    );
  }
  const channelId = payment.channel_id;
  if (step.full && channelId) {
    const months =
      order.kind === 'subscription'
        ? [{ sourceId: payment.source_id, userId: order.user_id }]
        : order.kind === 'gift_subscription'
          ? await listGiftMonths(db, order, paymentKey)
          : [];
    for (const month of months) {
      statements.push(...prepareMonthReversal(db, month.sourceId, month.userId, channelId, now));
      subscribers.push({ channelId, userId: month.userId });
    }
  }
  return { statements, subscribers };
}

/** A refund (cumulative `refundedCents` of `chargeAmount`) or a dispute: recorded, then applied once. */
export async function prepareReversal(
  db: D1Database,
  reversal: {
    kind: 'refunded' | 'disputed';
    paymentKey: string;
    chargeAmount: number;
    refundedCents: number;
    now: number;
  },
): Promise<ReversalOutcome> {
  const { kind, paymentKey, now } = reversal;
  const full = kind === 'disputed' || reversal.refundedCents >= reversal.chargeAmount;
  const statements = [
    // Kept for a payment that has not arrived yet: a full reversal wins over a partial one, and a
    // partial one keeps the largest total (null is the whole payment).
    db
      .prepare(
        `INSERT INTO payment_reversals (payment_intent, kind, created_at, refunded_cents) VALUES (?, ?, ?, ?)
         ON CONFLICT (payment_intent) DO UPDATE SET
           kind = CASE WHEN payment_reversals.refunded_cents IS NOT NULL AND excluded.refunded_cents IS NULL
             THEN excluded.kind ELSE payment_reversals.kind END,
           refunded_cents = CASE WHEN payment_reversals.refunded_cents IS NULL OR excluded.refunded_cents IS NULL
             THEN NULL ELSE MAX(payment_reversals.refunded_cents, excluded.refunded_cents) END`,
      )
      .bind(paymentKey, kind, now, full ? null : Math.max(0, reversal.refundedCents)),
  ];
  const payment = await loadPayment(db, paymentKey);
  if (!payment) {
    // The payment will find the reversal and apply it. Should it commit while this runs, this
    // batch fails and the retry finds it, so neither misses the other.
    statements.push(
      prepareFailIfFound(db, {
        sql: 'SELECT status AS found FROM payments WHERE payment_intent = ?',
        bindings: [paymentKey],
      }),
    );
    return { statements, subscribers: [] };
  }
  if (payment.status !== 'paid') return { statements, subscribers: [] };
  if (!full && reversal.refundedCents <= payment.refunded_cents) return { statements, subscribers: [] };
  const order = await loadOrder(db, payment.order_id);
  if (!order) return { statements, subscribers: [] };
  const step = await prepareRefundStep(db, {
    payment,
    order,
    toCents: reversal.refundedCents,
    full: full ? { kind } : null,
    now,
  });
  return { statements: [...statements, ...step.statements], subscribers: step.subscribers };
}

/**
 * For a payment being applied now: a partial refund recorded before it arrived (Stripe does not
 * order events) is applied in the same batch, after the grant. A full one needs nothing here: the
 * grant's guard already refuses it. Should a reversal commit meanwhile, this batch fails and the
 * retry sees it.
 */
export async function prepareEarlyRefund(
  db: D1Database,
  early: {
    payment: Pick<PaymentRow, 'payment_intent' | 'source_id' | 'amount_cents' | 'channel_id'>;
    order: OrderRow;
    creditedBits: number;
    now: number;
  },
): Promise<ReversalOutcome> {
  const paymentKey = early.payment.payment_intent;
  if (await loadPayment(db, paymentKey)) return { statements: [], subscribers: [] };
  const recorded = await db
    .prepare('SELECT refunded_cents FROM payment_reversals WHERE payment_intent = ?')
    .bind(paymentKey)
    .first<{ refunded_cents: number | null }>();
  const seen = recorded ? (recorded.refunded_cents ?? -1) : -1;
  const statements = [
    prepareFailIfFound(db, {
      sql: 'SELECT kind AS found FROM payment_reversals WHERE payment_intent = ? AND refunded_cents IS NOT NULL AND refunded_cents != ?',
      bindings: [paymentKey, seen],
    }),
  ];
  if (seen <= 0) return { statements, subscribers: [] };
  const step = await prepareRefundStep(db, {
    payment: { ...early.payment, refunded_cents: 0 },
    order: early.order,
    toCents: seen,
    full: null,
    creditedBits: early.creditedBits,
    now: early.now,
  });
  return { statements: [...statements, ...step.statements], subscribers: step.subscribers };
}
