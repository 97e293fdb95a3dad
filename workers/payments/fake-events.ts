// Stripe-shaped events for the fake provider and the tests: the same envelope and the fields of
// the objects the platform reads (stripe-events.ts), so the webhook and consumer cannot tell them
// from Stripe's. Ids follow Stripe's prefixes (evt_, cs_, pi_, in_, sub_, ch_, dp_).

export interface FakeEvent {
  id: string;
  object: 'event';
  type: string;
  created: number;
  livemode: false;
  api_version: string;
  data: { object: Record<string, unknown> };
}

export const FAKE_API_VERSION = '2026-10-28.endive';

export function newStripeId(prefix: string): string {
  return `${prefix}_fake${crypto.randomUUID().replaceAll('-', '')}`;
}

function envelope(type: string, created: number, object: Record<string, unknown>): FakeEvent {
  return {
    id: newStripeId('evt'),
    object: 'event',
    type,
    created,
    livemode: false,
    api_version: FAKE_API_VERSION,
    data: { object },
  };
}

export function buildCheckoutCompleted(options: {
  sessionId: string;
  orderId: string;
  mode: 'payment' | 'subscription';
  amount: number;
  currency: string;
  paymentIntent: string | null;
  subscription: string | null;
  created: number;
}): FakeEvent {
  return envelope('checkout.session.completed', options.created, {
    id: options.sessionId,
    object: 'checkout.session',
    mode: options.mode,
    amount_total: options.amount,
    currency: options.currency,
    payment_status: 'paid',
    status: 'complete',
    client_reference_id: options.orderId,
    metadata: { order_id: options.orderId },
    payment_intent: options.paymentIntent,
    subscription: options.subscription,
  });
}

export function buildSubscriptionEvent(options: {
  type: 'created' | 'updated' | 'deleted';
  subscriptionId: string;
  orderId: string;
  status: 'active' | 'past_due' | 'canceled' | 'unpaid';
  cancelAtPeriodEnd: boolean;
  periodEnd: number;
  endedAt?: number;
  created: number;
}): FakeEvent {
  return envelope(`customer.subscription.${options.type}`, options.created, {
    id: options.subscriptionId,
    object: 'subscription',
    status: options.status,
    cancel_at_period_end: options.cancelAtPeriodEnd,
    ended_at: options.endedAt ?? null,
    metadata: { order_id: options.orderId },
    items: { object: 'list', data: [{ object: 'subscription_item', current_period_end: options.periodEnd }] },
  });
}

export function buildInvoiceEvent(options: {
  type: 'paid' | 'payment_failed';
  invoiceId: string;
  subscriptionId: string;
  orderId: string;
  amount: number;
  currency: string;
  billingReason: 'subscription_create' | 'subscription_cycle';
  periodEnd: number;
  paymentIntent: string;
  created: number;
}): FakeEvent {
  const paid = options.type === 'paid';
  return envelope(`invoice.${options.type}`, options.created, {
    id: options.invoiceId,
    object: 'invoice',
    amount_due: options.amount,
    amount_paid: paid ? options.amount : 0,
    currency: options.currency,
    billing_reason: options.billingReason,
    status: paid ? 'paid' : 'open',
    parent: {
      type: 'subscription_details',
      subscription_details: { subscription: options.subscriptionId, metadata: { order_id: options.orderId } },
    },
    lines: { object: 'list', data: [{ object: 'line_item', period: { end: options.periodEnd } }] },
    payments: {
      object: 'list',
      data: [{ payment: { type: 'payment_intent', payment_intent: options.paymentIntent } }],
    },
  });
}

export function buildChargeRefunded(options: {
  paymentIntent: string;
  amount: number;
  /** Stripe's amount_refunded: the total refunded so far (a partial refund is less than amount). */
  refunded?: number;
  created: number;
}): FakeEvent {
  const refunded = options.refunded ?? options.amount;
  return envelope('charge.refunded', options.created, {
    id: newStripeId('ch'),
    object: 'charge',
    payment_intent: options.paymentIntent,
    amount: options.amount,
    amount_refunded: refunded,
    refunded: refunded >= options.amount,
  });
}

export function buildDisputeCreated(options: {
  paymentIntent: string;
  amount: number;
  created: number;
}): FakeEvent {
  return envelope('charge.dispute.created', options.created, {
    id: newStripeId('dp'),
    object: 'dispute',
    charge: newStripeId('ch'),
    payment_intent: options.paymentIntent,
    amount: options.amount,
    status: 'needs_response',
  });
}
